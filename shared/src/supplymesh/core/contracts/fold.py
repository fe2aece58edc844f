"""The total fold: every sequenced network entry is applied whole or refused with its reason.

:func:`apply` never raises. It first *plans* an entry — parses it with the typed
vocabulary, checks it against the state (:mod:`supplymesh.core.contracts.admission` for
party actions; base, demand, escrow and amounts for decisions) — and only then runs the
planned change, which consists of assignments that cannot fail. A change never mutates
a record: it puts a changed copy in its place (see
:mod:`supplymesh.core.contracts.records`), reading the record from the state when it
runs, so two changes of one entry to the same record compose. An entry that does not
fit changes nothing but the ledger's size and head, and its reason is recorded in
``state.refused`` (and, for a party action, ``state.refused_actions``), the same way on
every peer, so a party that got a bad action sequenced gains nothing from it.

Times never go backwards along the ledger: an entry dated before the last one is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from supplymesh.core.contracts.admission import Refusal, admit
from supplymesh.core.contracts.fold_decisions import Change, plan_decision
from supplymesh.core.contracts.ids import DemandHash, acceptance_escrow_id
from supplymesh.core.contracts.records import DemandRecord, EscrowRecord, NetworkState
from supplymesh.core.entry import Entry, parse_time
from supplymesh.core.vocabulary.bodies import (
    DemandTerms,
    Deposit,
    OfferAcceptance,
    ProductionReport,
    parse_body,
)
from supplymesh.core.vocabulary.decisions import (
    DECISION_KINDS,
    DEMAND_FAILED,
    PROPOSAL_WITHDRAWN,
    DemandFailed,
    ProposalWithdrawn,
)
from supplymesh.core.vocabulary.values import MessageError

GENESIS_KIND = "network.genesis"
ZERO = Decimal(0)


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
    if state.time and parse_time(entry.time) < parse_time(state.time):
        raise Refusal("invalid", f"dated {entry.time}, before the entry it follows ({state.time})")
    if entry.kind in DECISION_KINDS:
        return plan_decision(state, entry)
    pdu_entry = _PDU_ENTRIES.get(entry.kind)
    if pdu_entry is not None:
        return pdu_entry(state, entry)
    return _plan_action(state, entry)


def _plan_genesis(_state: NetworkState, entry: Entry) -> Change:
    if entry.seq != 1:
        raise Refusal("invalid", "only the first entry is the genesis")
    return _nothing


def _plan_withdrawn(_state: NetworkState, entry: Entry) -> Change:
    try:
        parse_body(ProposalWithdrawn, entry.body)
    except MessageError as exc:
        raise Refusal("invalid", f"{PROPOSAL_WITHDRAWN}: {exc}") from exc
    return _nothing


def _plan_action(state: NetworkState, entry: Entry) -> Change:
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
        hash=DemandHash(entry.hash),
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
    escrow_id = body.escrow

    def change() -> None:
        state.escrows[escrow_id] = replace(
            state.escrows[escrow_id],
            state="funded",
            payment_reference_commitment=body.payment_reference_commitment,
        )

    return change


def _production(state: NetworkState, body: ProductionReport) -> Change:
    escrow_id = body.escrow
    lot = body.lot()

    def change() -> None:
        state.escrows[escrow_id] = replace(state.escrows[escrow_id], completed=True, lot=lot)

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
        o.id for o in state.offers.values() if o.lot == offer.lot and o.id != offer.id and o.state == "open"
    ]

    def change() -> None:
        offers = state.offers
        offers[offer.id] = replace(offers[offer.id], state="accepted")
        for other in others:
            offers[other] = replace(offers[other], state="withdrawn")
        state.escrows[new_id] = escrow
        demand = state.demands.get(offer.demand)
        if demand is not None:
            unallocated = max(0, demand.unallocated - offer.quantity)
            state.demands[offer.demand] = replace(demand, unallocated=unallocated)

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
        state.demands[body.demand] = replace(state.demands[body.demand], status="failed", detail=body.reason)

    return change


_PDU_ENTRIES: dict[str, Callable[[NetworkState, Entry], Change]] = {
    GENESIS_KIND: _plan_genesis,
    DEMAND_FAILED: _plan_failed,
    PROPOSAL_WITHDRAWN: _plan_withdrawn,
}
"""Entries the PDU writes alone (no party, no certificate)."""
