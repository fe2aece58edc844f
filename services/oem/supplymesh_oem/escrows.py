"""The OEM's escrows and offers, read from its replica of the network ledger.

Deposits and offer acceptances are party actions: signed here, sequenced by the PDU,
and visible in the replica before the call returns (so an id it returns is readable at
once).

A deposit's payment reference stays off the network ledger: the action carries a
salted commitment to it, and the reference with its salt is recorded (encrypted) on
the channel with the escrow's supplier, where the supplier and the auditor can open
the commitment. The salt is derived from this node's private key and the escrow id, so
a retried deposit commits to the same hash.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from supplymesh.channels.service import ChannelService
from supplymesh.config import channel_ledger
from supplymesh.core.actions import ESCROW_DEPOSITED, OFFER_ACCEPTED
from supplymesh.core.commitment import commitment
from supplymesh.core.contracts.network import EscrowRecord, NetworkState, OfferRecord, acceptance_escrow_id
from supplymesh.core.encoding import b64url_encode
from supplymesh.core.entry import format_time, parse_time
from supplymesh.errors import Conflict, NotFound, PeerError, Unprocessable
from supplymesh.network.actions import submit_action
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.serial import PerKey
from supplymesh_oem import reasons
from supplymesh_oem.history import LedgerHistory
from supplymesh_oem.models import DepositIn, EscrowLinks, EscrowOut, Money, OfferOut

log = logging.getLogger("supplymesh.oem")
ESCROW_EVENT = "escrow.event"


class Escrows:
    """This buyer's escrows and the offers made to it, on the node's network replica."""

    def __init__(self, replica: NetworkReplica, channels: ChannelService, history: LedgerHistory) -> None:
        self.replica = replica
        self.channels = channels
        self.history = history
        self._paying = PerKey()  # deposits raced on one escrow: the second finds it funded (409)

    def _escrow(self, escrow_id: str) -> EscrowRecord:
        escrow = self.replica.state.escrows.get(escrow_id)
        if escrow is None or escrow.buyer != self.replica.node.id:
            raise NotFound(f"no escrow {escrow_id!r}")
        return escrow

    async def get(self, escrow_id: str) -> EscrowOut:
        """One escrow of this buyer (the replica is brought up to date first)."""
        await self.replica.sync_if_reachable()
        return await self._out(self._escrow(escrow_id))

    async def _out(self, escrow: EscrowRecord) -> EscrowOut:
        history = await asyncio.to_thread(self.history.caught_up)
        window = self.replica.node.config.deposit_window_seconds
        return escrow_out(escrow, self.replica.state, history, window)

    def check_deposit(self, escrow_id: str, deposit: DepositIn) -> EscrowRecord:
        """Validate a deposit against its escrow.

        Raises:
            NotFound: unknown escrow.
            Conflict: the escrow does not await a deposit.
            Unprocessable: wrong amount or currency.
        """
        escrow = self._escrow(escrow_id)
        if escrow.state != "awaiting_deposit":
            raise Conflict(f"escrow {escrow_id} is {escrow.state}; it does not await a deposit")
        if deposit.currency != escrow.currency or deposit.amount != escrow.amount:
            raise Unprocessable(
                f"deposit the full amount: {escrow.amount} {escrow.currency} "
                f"(got {deposit.amount} {deposit.currency})"
            )
        return escrow

    async def deposit(self, escrow_id: str, body: DepositIn, *, rerun: bool = False) -> EscrowOut:
        """Deposit the full amount: sequenced on the network ledger, then the escrow is funded.

        ``rerun``: the same keyed request is run again after a crash lost its answer; if this
        very deposit (same amount, same committed reference) already stands, it is the answer.
        Deposits on one escrow run one at a time, so parallel ones cannot all pass the check.
        """
        async with self._paying(escrow_id):
            return await self._deposit(escrow_id, body, rerun=rerun)

    async def _deposit(self, escrow_id: str, body: DepositIn, *, rerun: bool) -> EscrowOut:
        await self.replica.sync_if_reachable()
        salt = self.replica.node.recipient.derive_secret(f"payment-reference:{escrow_id}".encode())
        committed = commitment(body.payment_reference, salt)
        if rerun:
            done = self._escrow(escrow_id)
            if done.payment_reference_commitment == committed and done.amount == body.amount:
                return await self._out(done)
        escrow = self.check_deposit(escrow_id, body)
        if not rerun:  # a rerun's first run recorded it before it sent the action
            await self.record_opening(escrow, body, salt, committed)
        await submit_action(
            self.replica,
            ESCROW_DEPOSITED,
            f"deposit-{escrow_id}",
            {
                "escrow": escrow_id,
                "amount": body.amount,
                "currency": body.currency,
                "payment_reference_commitment": committed,
            },
        )
        return await self._out(self._escrow(escrow_id))

    async def record_opening(
        self, escrow: EscrowRecord, body: DepositIn, salt: bytes, committed: str
    ) -> None:
        """Record the payment reference and its salt on the channel with the supplier (sealed).

        The deposit does not wait on the supplier: if it is down the entry is queued.
        """
        ledger = channel_ledger(escrow.buyer, escrow.supplier)
        if ledger not in self.channels.ledgers():
            return
        opening = {
            "event": "deposit",
            "escrow": escrow.id,
            "amount": body.amount,
            "currency": body.currency,
            "payment_reference": body.payment_reference,
            "salt": b64url_encode(salt),
            "commitment": committed,
        }
        try:
            await self.channels.append(ledger, ESCROW_EVENT, opening)
        except (Conflict, PeerError) as exc:  # the network deposit must not depend on the channel
            log.warning(
                "deposit %s: could not record the payment reference on %s: %s", escrow.id, ledger, exc
            )

    async def offers(self, *, after: str, limit: int) -> list[OfferOut]:
        """Offers made to this buyer, by id (the replica is brought up to date first)."""
        await self.replica.sync_if_reachable()
        state = self.replica.state
        mine = sorted(
            (o for o in state.offers.values() if o.buyer == self.replica.node.id), key=lambda o: o.id
        )
        return [offer_out(o, state) for o in mine if o.id > after][:limit]

    async def offer(self, offer_id: str) -> OfferOut:
        """One offer made to this buyer.

        Raises:
            NotFound: unknown offer.
        """
        await self.replica.sync_if_reachable()
        state = self.replica.state
        offer = state.offers.get(offer_id)
        if offer is None or offer.buyer != self.replica.node.id:
            raise NotFound(f"no offer {offer_id!r}")
        return offer_out(offer, state)

    async def accept(self, offer_id: str, *, rerun: bool = False) -> str:
        """Accept an open offer; return the new escrow's id.

        ``rerun``: the same keyed request is run again after a crash lost its answer; if this
        buyer's acceptance already stands, its escrow is the answer.

        Raises:
            NotFound: unknown offer.
            Conflict: the offer is no longer open (another buyer was first).
        """
        await self.replica.sync_if_reachable()
        offer = self.replica.state.offers.get(offer_id)
        if offer is None or offer.buyer != self.replica.node.id:
            raise NotFound(f"no offer {offer_id!r}")
        if rerun and offer.state == "accepted":
            return acceptance_escrow_id(offer.id)
        if offer.state != "open":
            raise Conflict(f"offer {offer_id} is {offer.state}")
        await submit_action(
            self.replica,
            OFFER_ACCEPTED,
            f"accept-{offer_id}",
            {
                "offer": offer_id,
                "escrow": acceptance_escrow_id(offer.id),
                "unit_price": offer.unit_price,
            },
        )
        return acceptance_escrow_id(offer.id)


def escrow_out(escrow: EscrowRecord, state: NetworkState, history: LedgerHistory, window: int) -> EscrowOut:
    """Wire form of an escrow: its state, deadline, links, history and, once settled, why."""
    moments = history.escrows.get(escrow.id, [])
    deposited = next((m for m in moments if m.event == "deposited"), None)
    settled = next((m for m in moments if m.event in ("released", "refunded", "cancelled")), None)
    deadline = None
    if escrow.demand is not None:  # an allocation: cancelled if not funded within the window
        deadline = format_time(parse_time(escrow.created_time) + timedelta(seconds=window))
    return EscrowOut(
        id=escrow.id,
        state=escrow.state,
        amount=escrow.amount,
        currency=escrow.currency,
        buyer=escrow.buyer,
        supplier=escrow.supplier,
        product=escrow.product,
        quantity=escrow.quantity,
        created_at=escrow.created_time,
        deposit_deadline=deadline,
        deposited_at=deposited.time if deposited else None,
        reason=reasons.settled(escrow, settled) if settled else None,
        links=escrow_links(escrow, state),
        history=[reasons.step(m) for m in moments],
    )


def escrow_links(escrow: EscrowRecord, state: NetworkState) -> EscrowLinks:
    """What an escrow belongs to: its demand (the allocation's, or the one a re-offer was for)."""
    offer = state.offers.get(escrow.offer) if escrow.offer is not None else None
    demand_hash = escrow.demand if escrow.demand is not None else (offer.demand if offer else None)
    demand = state.demands.get(demand_hash) if demand_hash is not None else None
    return EscrowLinks(
        escrow_url=f"/v1/escrows/{escrow.id}",
        order_id=escrow.id,
        demand_id=demand.id if demand else None,
        demand_hash=demand_hash,
        demand_url=f"/v1/demands/{demand.id}" if demand else None,
        offer_id=escrow.offer,
        offer_url=f"/v1/offers/{escrow.offer}" if escrow.offer else None,
        lot_escrow_id=offer.lot if offer else None,
    )


def offer_out(offer: OfferRecord, state: NetworkState) -> OfferOut:
    """Wire form of an offer."""
    demand = state.demands.get(offer.demand)
    return OfferOut(
        id=offer.id,
        product=offer.product,
        quantity=offer.quantity,
        defects=offer.defects,
        unit_price=Money(amount=offer.unit_price, currency=offer.currency),
        state=offer.state,
        demand_id=demand.id if demand else None,
        escrow_id=acceptance_escrow_id(offer.id) if offer.state == "accepted" else None,
    )
