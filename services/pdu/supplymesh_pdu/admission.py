"""Which party actions the network state admits (the PDU checks before sequencing).

Partners fold the same rules (an action that does not fit changes nothing), so a PDU
that sequences an inadmissible action gains nothing; refusing it here tells the party
why at once.
"""

from __future__ import annotations

from supplymesh.config import NetworkConfig, Role
from supplymesh.core.actions import (
    DEMAND_SUBMITTED,
    ESCROW_DEPOSITED,
    OFFER_ACCEPTED,
    PRODUCTION_COMPLETED,
    Action,
)
from supplymesh.core.contracts.network import NetworkState, sample_size_error
from supplymesh.errors import Conflict, NotFound, Unprocessable


def admit(config: NetworkConfig, state: NetworkState, action: Action) -> None:
    """Raise if ``action`` does not fit the network state.

    Raises:
        NotFound: the escrow or offer it names does not exist.
        Conflict: it exists but is not in a state that allows the action.
        Unprocessable: the action's figures do not match.
    """
    body = action.body
    if action.kind == DEMAND_SUBMITTED:
        suppliers = {m.id for m in config.by_role(Role.SUPPLIER)}
        unknown = [s for s in body.get("priority_suppliers", []) if s not in suppliers]
        if unknown:
            raise Unprocessable(f"not suppliers of this network: {', '.join(unknown)}")
        return
    if action.kind == OFFER_ACCEPTED:
        offer = state.offers.get(str(body.get("offer")))
        if offer is None or offer.buyer != action.party:
            raise NotFound(f"no offer {body.get('offer')} for {action.party}")
        if offer.state != "open":
            raise Conflict(f"offer {offer.id} is {offer.state}")
        return
    escrow = state.escrows.get(str(body.get("escrow")))
    if action.kind == ESCROW_DEPOSITED:
        if escrow is None or escrow.buyer != action.party:
            raise NotFound(f"no escrow {body.get('escrow')} of {action.party}")
        if escrow.state != "awaiting_deposit":
            raise Conflict(f"escrow {escrow.id} is {escrow.state}; it does not await a deposit")
        if body.get("amount") != escrow.amount or body.get("currency") != escrow.currency:
            raise Unprocessable(f"deposit the full amount: {escrow.amount} {escrow.currency}")
        return
    if action.kind == PRODUCTION_COMPLETED:
        if escrow is None or escrow.supplier != action.party:
            raise NotFound(f"no order {body.get('escrow')} of {action.party}")
        if escrow.state != "funded" or escrow.lot is not None:
            raise Conflict(
                f"order {escrow.id} is {escrow.state}; production can be reported only once funded"
            )
        refused = sample_size_error(state, escrow, body)
        if refused is not None:
            raise Unprocessable(refused)
