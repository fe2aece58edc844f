"""Which party actions the network state admits: one rule set for the PDU and the fold.

The PDU calls :func:`admit` before it sequences an action and answers the party with the
reason; every partner's fold (:func:`supplymesh.core.contracts.network.apply`) calls it
again on the sequenced entry, so an action a faulty PDU sequenced anyway changes nothing
on any replica and is recorded as refused with the same reason. The auditor replays the
same fold.

Each refusal names whose fault it is by its :class:`Refusal` kind: the message itself
(``invalid``), something it names that does not exist (``not_found``), or a state that no
longer allows it (``conflict``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Literal

from supplymesh.core.contracts.ids import acceptance_escrow_id
from supplymesh.core.contracts.sampling import SamplingError, check_sample_size
from supplymesh.core.numbers import MAX_SAFE_INTEGER
from supplymesh.core.vocabulary.bodies import (
    DemandTerms,
    Deposit,
    OfferAcceptance,
    ProductionReport,
    parse_action_body,
)
from supplymesh.core.vocabulary.values import Message, MessageError

if TYPE_CHECKING:
    from supplymesh.core.contracts.records import EscrowRecord, NetworkState


class Refusal(Exception):
    """A party action the network does not admit: ``kind`` says whose fault, ``reason`` why."""

    def __init__(self, kind: Literal["invalid", "not_found", "conflict"], reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def typed_body(kind: str, body: object) -> Message:
    """The action's body, typed.

    Raises:
        Refusal: ``invalid``, naming every field that breaks a rule.
    """
    try:
        return parse_action_body(kind, body)
    except MessageError as exc:
        raise Refusal("invalid", f"{kind}: {exc}") from exc


def admit(
    state: NetworkState,
    *,
    kind: str,
    party: str,
    action_id: str,
    body: object,
    suppliers: Collection[str] | None,
) -> Message:
    """Check an action against the vocabulary and the network state; return its typed body.

    Args:
        state: the network state the action would be applied to.
        kind: the action kind.
        party: the member that signed it.
        action_id: the party's id of the action.
        body: the action body as signed.
        suppliers: the supplier members of the network (None: not checked; a split skips
            a priority supplier that is not one anyway, so the fold need not know them).

    Raises:
        Refusal: naming the rule.
    """
    typed = typed_body(kind, body)
    if isinstance(typed, DemandTerms):
        unknown = [s for s in typed.priority_suppliers if suppliers is not None and s not in suppliers]
        if unknown:
            raise Refusal("invalid", f"not suppliers of this network: {', '.join(unknown)}")
        if state.demand_by_id(party, action_id) is not None:
            raise Refusal("conflict", f"demand {action_id} of {party} is already on the network ledger")
    elif isinstance(typed, Deposit):
        _deposit(state, party, typed)
    elif isinstance(typed, ProductionReport):
        _production(state, party, typed)
    elif isinstance(typed, OfferAcceptance):
        _acceptance(state, party, typed)
    return typed


def _deposit(state: NetworkState, party: str, body: Deposit) -> None:
    escrow = state.escrows.get(body.escrow)
    if escrow is None or escrow.buyer != party:
        raise Refusal("not_found", f"no escrow {body.escrow} of {party}")
    if escrow.state != "awaiting_deposit":
        raise Refusal("conflict", f"escrow {escrow.id} is {escrow.state}; it does not await a deposit")
    if body.amount != escrow.amount or body.currency != escrow.currency:
        raise Refusal("invalid", f"deposit the full amount: {escrow.amount} {escrow.currency}")


def _production(state: NetworkState, party: str, body: ProductionReport) -> None:
    escrow = state.escrows.get(body.escrow)
    if escrow is None or escrow.supplier != party:
        raise Refusal("not_found", f"no order {body.escrow} of {party}")
    if escrow.state != "funded" or escrow.lot is not None:
        raise Refusal(
            "conflict", f"order {escrow.id} is {escrow.state}; production can be reported only once funded"
        )
    refused = sample_size_error(state, escrow, body.produced_quantity, body.sample_size)
    if refused is not None:
        raise Refusal("invalid", refused)


def sample_size_error(
    state: NetworkState, escrow: EscrowRecord, produced_quantity: int, sample_size: int | None
) -> str | None:
    """Why a reported ``sample_size`` does not fit the lot and the buyer's AQLs (None: it fits or is absent).

    The sample must be the one the buyer's ISO 2859-1 plans require for the produced lot
    (:func:`supplymesh.core.contracts.sampling.required_sample_size`).
    """
    if sample_size is None:
        return None
    demand = state.demands.get(str(escrow.demand))
    if demand is None:
        return "only an allocation's lot may be reported as a sample inspection"
    try:
        check_sample_size(produced_quantity, sample_size, demand.terms.aql.as_text())
    except SamplingError as exc:
        return str(exc)
    return None


def _acceptance(state: NetworkState, party: str, body: OfferAcceptance) -> None:
    offer = state.offers.get(body.offer)
    if offer is None or offer.buyer != party:
        raise Refusal("not_found", f"no offer {body.offer} for {party}")
    if offer.state != "open":
        raise Refusal("conflict", f"offer {offer.id} is {offer.state}")
    demand = state.demands.get(offer.demand)
    if demand is not None and demand.status == "failed":
        raise Refusal("conflict", f"the demand of offer {offer.id} failed")
    if body.escrow != acceptance_escrow_id(offer.id):
        raise Refusal(
            "invalid", f"the escrow of accepting offer {offer.id} is {acceptance_escrow_id(offer.id)}"
        )
    if body.unit_price != offer.unit_price:
        raise Refusal("invalid", f"offer {offer.id} is at unit price {offer.unit_price}")
    if offer.unit_price * offer.quantity > MAX_SAFE_INTEGER:
        raise Refusal("invalid", f"the escrow of offer {offer.id} would not be an exact JSON integer")
