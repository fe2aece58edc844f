"""The total fold: every sequenced network entry is applied whole or refused with its reason.

:func:`apply` never raises. It first *plans* an entry — parses it with the typed
vocabulary, checks it against the state (:mod:`supplymesh.core.contracts.admission` for
party actions; base, demand, escrow and amounts for decisions) — and only then runs the
planned change, which consists of assignments that cannot fail. An entry that does not
fit changes nothing but the ledger's size and head, and its reason is recorded in
``state.refused`` (and, for a party action, ``state.refused_actions``), the same way on
every peer, so a party that got a bad action sequenced gains nothing from it.

Times never go backwards along the ledger: an entry dated before the last one is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from supplymesh.core.contracts.admission import Refusal, admit
from supplymesh.core.contracts.ids import acceptance_escrow_id, escrow_id, offer_id
from supplymesh.core.contracts.records import DemandRecord, EscrowRecord, NetworkState, OfferRecord
from supplymesh.core.entry import Entry
from supplymesh.core.vocabulary.bodies import (
    DemandTerms,
    Deposit,
    OfferAcceptance,
    ProductionReport,
    parse_body,
)
from supplymesh.core.vocabulary.decisions import (
    CANCEL,
    DECISION_KINDS,
    DEMAND_FAILED,
    PROPOSAL_WITHDRAWN,
    REFUND,
    RELEASE,
    SPLIT,
    CancelResult,
    DemandFailed,
    ProposalWithdrawn,
    RefundResult,
    ReleaseResult,
    SplitResult,
    parse_decision_result,
)
from supplymesh.core.vocabulary.values import MessageError

GENESIS_KIND = "network.genesis"
Change = Callable[[], None]
ZERO = Decimal(0)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def apply(state: NetworkState, entry: Entry) -> str | None:
    """Fold one entry into ``state`` (entries in seq order); return why it was refused, if it was."""
    try:
        change = _plan(state, entry)
    except Refusal as refusal:
        reason: str | None = refusal.reason
    except Exception as exc:
        reason = f"unreadable {entry.kind} entry: {type(exc).__name__}"
    else:
        change()
        reason = None
    if reason is not None:
        state.refused[entry.seq] = reason
        statement = entry.body.get("action") if isinstance(entry.body, dict) else None
        if isinstance(statement, dict):
            key = (str(statement.get("kind")), str(statement.get("party")), str(statement.get("id")))
            state.refused_actions.setdefault(key, reason)
    else:
        state.time = entry.time
    state.size = entry.seq
    state.head = entry.hash
    return reason


def _plan(state: NetworkState, entry: Entry) -> Change:
    if state.time and _instant(entry.time) < _instant(state.time):
        raise Refusal("invalid", f"dated {entry.time}, before the entry it follows ({state.time})")
    if entry.kind == GENESIS_KIND:
        if entry.seq != 1:
            raise Refusal("invalid", "only the first entry is the genesis")
        return _nothing
    if entry.kind in DECISION_KINDS:
        return _plan_decision(state, entry)
    if entry.kind == DEMAND_FAILED:
        return _plan_failed(state, entry)
    if entry.kind == PROPOSAL_WITHDRAWN:
        try:
            parse_body(ProposalWithdrawn, entry.body)
        except MessageError as exc:
            raise Refusal("invalid", f"{PROPOSAL_WITHDRAWN}: {exc}") from exc
        return _nothing
    statement = entry.body.get("action")
    if not isinstance(statement, dict):
        raise Refusal("invalid", f"{entry.kind} is neither a decision nor a party action")
    kind, party, action_id = statement.get("kind"), statement.get("party"), statement.get("id")
    if kind != entry.kind or not isinstance(party, str) or not isinstance(action_id, str):
        raise Refusal("invalid", "the action statement does not match its entry")
    typed = admit(
        state, kind=kind, party=party, action_id=action_id, body=statement.get("body"), suppliers=None
    )
    if isinstance(typed, DemandTerms):
        return _demand(state, entry, party, action_id, typed)
    if isinstance(typed, Deposit):
        return _deposit(state, typed)
    if isinstance(typed, ProductionReport):
        return _production(state, typed)
    if isinstance(typed, OfferAcceptance):
        return _accept(state, entry, party, typed)
    raise Refusal("invalid", f"unknown action kind {kind!r}")  # pragma: no cover - admit knows every kind


def _nothing() -> None:
    return None


def _demand(state: NetworkState, entry: Entry, party: str, action_id: str, terms: DemandTerms) -> Change:
    record = DemandRecord(
        hash=entry.hash,
        seq=entry.seq,
        buyer=party,
        id=action_id,
        terms=terms,
        time=entry.time,
        unallocated=terms.quantity,
    )

    def change() -> None:
        state.demands[entry.hash] = record

    return change


def _deposit(state: NetworkState, body: Deposit) -> Change:
    escrow = state.escrows[body.escrow]

    def change() -> None:
        escrow.state = "funded"
        escrow.payment_reference_commitment = body.payment_reference_commitment

    return change


def _production(state: NetworkState, body: ProductionReport) -> Change:
    escrow = state.escrows[body.escrow]
    lot = body.lot()

    def change() -> None:
        escrow.completed = True
        escrow.lot = lot

    return change


def _accept(state: NetworkState, entry: Entry, party: str, body: OfferAcceptance) -> Change:
    offer = state.offers[body.offer]
    new_id = acceptance_escrow_id(offer.id)
    if new_id in state.escrows:
        raise Refusal("conflict", f"escrow {new_id} exists already")
    lot = state.escrows.get(offer.lot)
    escrow = EscrowRecord(
        id=new_id,
        buyer=party,
        supplier=offer.supplier,
        product=offer.product,
        quantity=offer.quantity,
        machine_hours=ZERO,
        amount=offer.unit_price * offer.quantity,
        currency=offer.currency,
        created_seq=entry.seq,
        created_time=entry.time,
        offer=offer.id,
        completed=True,
        lot=lot.lot if lot is not None else None,
    )
    others = [
        o for o in state.offers.values() if o.lot == offer.lot and o.id != offer.id and o.state == "open"
    ]
    demand = state.demands.get(offer.demand)

    def change() -> None:
        offer.state = "accepted"
        for other in others:
            other.state = "withdrawn"
        state.escrows[new_id] = escrow
        if demand is not None:
            demand.unallocated = max(0, demand.unallocated - offer.quantity)

    return change


def _plan_failed(state: NetworkState, entry: Entry) -> Change:
    try:
        body = parse_body(DemandFailed, entry.body)
    except MessageError as exc:
        raise Refusal("invalid", f"demand.failed: {exc}") from exc
    demand = state.demands.get(body.demand)
    if demand is None or demand.status != "pending":
        raise Refusal("conflict", "no undecided demand with that hash")

    def change() -> None:
        demand.status = "failed"
        demand.detail = body.reason

    return change


def _plan_decision(state: NetworkState, entry: Entry) -> Change:
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
        return _plan_cancel(escrow)
    if escrow.state != "funded" or escrow.lot is None:
        raise Refusal("conflict", f"{entry.kind}: escrow {escrow.id} is {escrow.state} without a decided lot")
    if result.amount != escrow.amount:
        raise Refusal("invalid", f"{entry.kind}: the escrow holds {escrow.amount}, not {result.amount}")
    if isinstance(result, ReleaseResult):
        if entry.kind != RELEASE or result.to != escrow.supplier:
            raise Refusal("invalid", f"{entry.kind}: a release pays the supplier of the escrow")
        return _set_state(escrow, "released")
    if entry.kind != REFUND or result.to != escrow.buyer:
        raise Refusal("invalid", f"{entry.kind}: a refund pays back the buyer of the escrow")
    return _plan_refund(state, escrow, result)


def _set_state(escrow: EscrowRecord, new_state: str) -> Change:
    def change() -> None:
        escrow.state = new_state

    return change


def _plan_cancel(escrow: EscrowRecord) -> Change:
    if escrow.state != "awaiting_deposit" or escrow.demand is None:
        raise Refusal("conflict", f"{CANCEL}: escrow {escrow.id} is not an allocation awaiting its deposit")
    return _set_state(escrow, "cancelled")


def _plan_refund(state: NetworkState, escrow: EscrowRecord, result: RefundResult) -> Change:
    offers = []
    for offer in result.offers:
        demand = state.demands.get(offer.demand)
        if demand is None or demand.buyer != offer.buyer or offer.buyer == escrow.buyer:
            raise Refusal("invalid", f"{REFUND}: offer {offer.id} is not for another buyer's open demand")
        if offer.id != offer_id(escrow.id, offer.buyer) or offer.id in state.offers:
            raise Refusal("invalid", f"{REFUND}: offer id {offer.id} is not the lot's offer to {offer.buyer}")
        offers.append(
            OfferRecord(
                id=offer.id,
                lot=escrow.id,
                buyer=offer.buyer,
                supplier=escrow.supplier,
                product=escrow.product,
                quantity=offer.quantity,
                defects=offer.defects.as_counts(),
                unit_price=offer.unit_price,
                currency=offer.currency,
                demand=offer.demand,
            )
        )

    def change() -> None:
        escrow.state = "refunded"
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
    terms = demand.terms
    if result.allocated + result.unallocated != terms.quantity:
        raise Refusal("invalid", f"{SPLIT}: allocated and unallocated must add up to {terms.quantity}")
    escrows = []
    for allocation in result.allocations:
        if allocation.supplier not in terms.priority_suppliers:
            raise Refusal("invalid", f"{SPLIT}: {allocation.supplier} is not on the priority list")
        expected_id = escrow_id(demand.hash, allocation.supplier)
        if allocation.escrow_id != expected_id or expected_id in state.escrows:
            raise Refusal("invalid", f"{SPLIT}: the escrow of {allocation.supplier} is {expected_id}")
        if allocation.escrow_amount != terms.escrow_amount(allocation.quantity):
            raise Refusal("invalid", f"{SPLIT}: escrow of {allocation.supplier} is not quantity × unit price")
        escrows.append(
            EscrowRecord(
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
        )
    allocations = list(result.allocations)

    def change() -> None:
        demand.allocations = allocations
        demand.unallocated = result.unallocated
        demand.status = result.status
        demand.decision = entry.hash
        for escrow in escrows:
            state.escrows[escrow.id] = escrow

    return change
