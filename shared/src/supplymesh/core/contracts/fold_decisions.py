"""The fold's half for PDU decisions: a certified result applied whole, or refused.

A decision entry carries a quorum certificate, but a faulty quorum could certify
anything; before a result changes the state it must parse
(:func:`supplymesh.core.vocabulary.decisions.parse_decision_result`), commit at base + 1,
and fit the state it is applied to: the demand still pending, allocations only to
priority suppliers with the derived escrow ids and amounts of quantity × unit price, a
release to the escrow's supplier and a refund to its buyer of exactly what it holds, offers
only to other buyers' demands. Changes replace records, never mutate them (see
:mod:`supplymesh.core.contracts.fold`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from supplymesh.core.contracts.admission import Refusal
from supplymesh.core.contracts.ids import escrow_id, offer_id
from supplymesh.core.contracts.records import DemandRecord, EscrowRecord, NetworkState, OfferRecord
from supplymesh.core.entry import Entry
from supplymesh.core.vocabulary.decisions import (
    CANCEL,
    REFUND,
    RELEASE,
    SPLIT,
    AllocationResult,
    CancelResult,
    RefundResult,
    ReleaseResult,
    SplitResult,
    parse_decision_result,
)
from supplymesh.core.vocabulary.values import MessageError

Change = Callable[[], None]


def plan_decision(state: NetworkState, entry: Entry) -> Change:
    """The change a certified decision entry makes.

    Raises:
        Refusal: if it does not parse or does not fit the state.
    """
    try:
        decision, result = parse_decision_result(entry.kind, entry.body)
    except MessageError as exc:
        raise Refusal("invalid", f"{entry.kind}: {exc}") from exc
    if (decision.base.seq, decision.base.hash) != (entry.seq - 1, state.head) or entry.seq != state.size + 1:
        raise Refusal("invalid", "a decision commits only at base + 1")
    if isinstance(result, SplitResult):
        return _plan_split(state, entry, result)
    if not isinstance(
        result, ReleaseResult | RefundResult | CancelResult
    ):  # pragma: no cover - parse_decision_result
        raise Refusal("invalid", f"{entry.kind}: unexpected result")
    escrow = state.escrows.get(result.escrow)
    if escrow is None:
        raise Refusal("not_found", f"{entry.kind}: no escrow {result.escrow}")
    if isinstance(result, CancelResult):
        return _plan_cancel(state, escrow)
    return _plan_quality(state, entry, escrow, result)


def _plan_quality(
    state: NetworkState, entry: Entry, escrow: EscrowRecord, result: ReleaseResult | RefundResult
) -> Change:
    """A release to the escrow's supplier or a refund to its buyer, of exactly what it holds."""
    if escrow.state != "funded" or escrow.lot is None:
        raise Refusal("conflict", f"{entry.kind}: escrow {escrow.id} is {escrow.state} without a decided lot")
    if result.amount != escrow.amount:
        raise Refusal("invalid", f"{entry.kind}: the escrow holds {escrow.amount}, not {result.amount}")
    if isinstance(result, ReleaseResult):
        if entry.kind != RELEASE or result.to != escrow.supplier:
            raise Refusal("invalid", f"{entry.kind}: a release pays the supplier of the escrow")
        return _set_state(state, escrow, "released")
    if entry.kind != REFUND or result.to != escrow.buyer:
        raise Refusal("invalid", f"{entry.kind}: a refund pays back the buyer of the escrow")
    return _plan_refund(state, escrow, result)


def _set_state(state: NetworkState, escrow: EscrowRecord, new_state: str) -> Change:
    escrow_id = escrow.id

    def change() -> None:
        state.escrows[escrow_id] = replace(state.escrows[escrow_id], state=new_state)

    return change


def _plan_cancel(state: NetworkState, escrow: EscrowRecord) -> Change:
    if escrow.state != "awaiting_deposit" or escrow.demand is None:
        raise Refusal("conflict", f"{CANCEL}: escrow {escrow.id} is not an allocation awaiting its deposit")
    return _set_state(state, escrow, "cancelled")


def _plan_refund(state: NetworkState, escrow: EscrowRecord, result: RefundResult) -> Change:
    offers = []
    for offer in result.offers:
        demand = state.demands.get(offer.demand)
        if demand is None or demand.buyer != offer.buyer or offer.buyer == escrow.buyer:
            raise Refusal("invalid", f"{REFUND}: offer {offer.id} is not for another buyer's open demand")
        expected = offer_id(escrow.id, offer.buyer)
        if offer.id != expected or offer.id in state.offers:
            raise Refusal("invalid", f"{REFUND}: offer id {offer.id} is not the lot's offer to {offer.buyer}")
        offers.append(
            OfferRecord(
                id=expected,
                lot=escrow.id,
                buyer=offer.buyer,
                supplier=escrow.supplier,
                product=escrow.product,
                quantity=offer.quantity,
                defects=offer.defects.as_counts(),
                unit_price=offer.unit_price,
                currency=offer.currency,
                demand=demand.hash,
            )
        )

    refunded = _set_state(state, escrow, "refunded")

    def change() -> None:
        refunded()
        for record in offers:
            state.offers[record.id] = record
        if not offers:
            state.surplus.append(escrow.id)

    return change


def _plan_split(state: NetworkState, entry: Entry, result: SplitResult) -> Change:
    demand = state.demands.get(result.demand)
    if demand is None:
        raise Refusal("not_found", f"{SPLIT}: no demand {result.demand}")
    if demand.status != "pending":
        raise Refusal("conflict", f"{SPLIT}: demand {demand.id} is {demand.status}")
    if result.allocated + result.unallocated != demand.terms.quantity:
        raise Refusal("invalid", f"{SPLIT}: allocated and unallocated must add up to {demand.terms.quantity}")
    escrows = [_allocation_escrow(state, entry, demand, a) for a in result.allocations]
    allocations = list(result.allocations)

    def change() -> None:
        state.demands[result.demand] = replace(
            state.demands[result.demand],
            allocations=allocations,
            unallocated=result.unallocated,
            status=result.status,
            decision=entry.hash,
        )
        for escrow in escrows:
            state.escrows[escrow.id] = escrow

    return change


def _allocation_escrow(
    state: NetworkState, entry: Entry, demand: DemandRecord, allocation: AllocationResult
) -> EscrowRecord:
    """The escrow a split's allocation opens, if the allocation fits the demand's terms."""
    terms = demand.terms
    if allocation.supplier not in terms.priority_suppliers:
        raise Refusal("invalid", f"{SPLIT}: {allocation.supplier} is not on the priority list")
    expected_id = escrow_id(demand.hash, allocation.supplier)
    if allocation.escrow_id != expected_id or expected_id in state.escrows:
        raise Refusal("invalid", f"{SPLIT}: the escrow of {allocation.supplier} is {expected_id}")
    if allocation.escrow_amount != terms.escrow_amount(allocation.quantity):
        raise Refusal("invalid", f"{SPLIT}: escrow of {allocation.supplier} is not quantity × unit price")
    return EscrowRecord(
        id=expected_id,
        buyer=demand.buyer,
        supplier=allocation.supplier,
        product=terms.product,
        quantity=allocation.quantity,
        machine_hours=Decimal(allocation.machine_hours),
        amount=allocation.escrow_amount,
        currency=terms.unit_price.currency,
        created_seq=entry.seq,
        created_time=entry.time,
        demand=demand.hash,
    )
