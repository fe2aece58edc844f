"""The total fold: a sequenced entry is applied whole or refused with its reason, never raised.

These entries are what a faulty PDU (or a faulty quorum) could sequence: the fold must
leave the state exactly as it was, record why, and keep folding what follows.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplymesh.core.contracts.network import (
    NetworkState,
    apply,
    decide_quality,
    decide_split,
)
from supplymesh.core.contracts.split import AttestedCapacity
from supplymesh.core.entry import Entry, next_entry
from supplymesh.core.numbers import MAX_SAFE_INTEGER
from tests.unit.test_network_state import Ledger, demand_terms

Json = dict[str, Any]
T0 = "2026-11-23T00:00:00.000000Z"
CAPACITY = {"supplier-a": AttestedCapacity("supplier-a", Decimal(512), Decimal(0), ("P-100",))}


def meaning(state: NetworkState) -> Json:
    """What the state says, without the ledger position and the refusal log."""
    value = copy.deepcopy(state.__dict__)
    for key in ("size", "head", "time", "refused", "refused_actions"):
        value.pop(key)
    return value


def refused_without_effect(ledger: Ledger, kind: str, body: Json) -> str:
    before = meaning(ledger.state)
    entry = ledger.append(kind, body)
    assert meaning(ledger.state) == before
    assert ledger.state.size == entry.seq and ledger.state.head == entry.hash
    return ledger.state.refused[entry.seq]


def one_allocation(ledger: Ledger) -> str:
    """oem-a's demand allocated to supplier-a; returns the escrow id."""
    terms = demand_terms(100, 40, "2.5", 1250)
    first = ledger.action("demand.submitted", "oem-a", "d-1", terms)
    ledger.decide("decision.split", {}, decide_split(ledger.state, first.hash, CAPACITY, {}))
    assert first.seq not in ledger.state.refused and ledger.state.size not in ledger.state.refused
    [escrow] = ledger.state.escrows
    return escrow


BAD_TERMS: dict[str, Json] = {
    "negative hours": {"required_machine_hours": "-400"},
    "zero hours": {"required_machine_hours": "0"},
    "negative quantity": {"quantity": -5},
    "supplier twice": {"priority_suppliers": ["supplier-a", "supplier-a"]},
    "escrow past exact integers": {
        "quantity": 1000,
        "unit_price": {"amount": MAX_SAFE_INTEGER, "currency": "EUR"},
    },
}


@pytest.mark.parametrize("case", list(BAD_TERMS))
def test_a_sequenced_inadmissible_demand_changes_nothing_and_is_recorded(case: str) -> None:
    ledger = Ledger()
    terms = {**demand_terms(1000, 400, "2.5", 1250), **BAD_TERMS[case]}
    statement_body = {"action": _statement("demand.submitted", "oem-a", "bad", terms), "signature": "x"}
    reason = refused_without_effect(ledger, "demand.submitted", statement_body)
    assert "demand.submitted" in reason
    assert ledger.state.refused_actions[("demand.submitted", "oem-a", "bad")] == reason
    one_allocation(ledger)  # an honest demand after it is still decided


def test_a_body_without_quantity_is_refused_not_raised() -> None:
    terms = demand_terms(1000, 400, "2.5", 1250)
    del terms["quantity"]
    reason = refused_without_effect(
        Ledger(),
        "demand.submitted",
        {"action": _statement("demand.submitted", "oem-a", "q", terms), "signature": ""},
    )
    assert "quantity: Field required" in reason


def _statement(kind: str, party: str, action_id: str, body: object) -> Json:
    return {
        "type": "supplymesh.action.v1",
        "kind": kind,
        "party": party,
        "id": action_id,
        "time": T0,
        "body": body,
    }


def _decision(ledger: Ledger, kind: str, result: Json, base: Json | None = None) -> Json:
    return {
        "decision": kind,
        "base": base or {"seq": ledger.state.size, "hash": ledger.state.head},
        "inputs": {},
        "result": result,
    }


def test_certified_splits_breaking_a_rule_change_nothing() -> None:
    ledger = Ledger()
    first = ledger.action("demand.submitted", "oem-a", "d-1", demand_terms(100, 40, "2.5", 1250))
    honest = decide_split(ledger.state, first.hash, CAPACITY, {})
    allocation = honest["allocations"][0]
    cases = {
        "negative": {**honest, "allocations": [{**allocation, "quantity": -100}], "allocated": -100},
        "amount": {**honest, "allocations": [{**allocation, "escrow_amount": 1}]},
        "escrow id": {**honest, "allocations": [{**allocation, "escrow_id": "f" * 32}]},
        "off the list": {**honest, "allocations": [{**allocation, "supplier": "supplier-z"}]},
        "sum": {**honest, "unallocated": 5},
        "unknown demand": {**honest, "demand": "e" * 64},
    }
    for case, result in cases.items():
        reason = refused_without_effect(ledger, "decision.split", _decision(ledger, "decision.split", result))
        assert reason, case
    stale = _decision(ledger, "decision.split", honest, base={"seq": 1, "hash": first.hash})
    assert "base + 1" in refused_without_effect(ledger, "decision.split", stale)
    ledger.decide("decision.split", {}, honest)
    assert ledger.state.demands[first.hash].status == "allocated"
    again = _decision(ledger, "decision.split", honest)
    assert "is allocated" in refused_without_effect(ledger, "decision.split", again)


def test_certified_escrow_decisions_that_do_not_fit_change_nothing() -> None:
    ledger = Ledger()
    escrow = one_allocation(ledger)
    release = {"escrow": escrow, "amount": 125000, "to": "supplier-a", "reason": "quality passed"}
    assert "without a decided lot" in refused_without_effect(
        ledger, "decision.release", _decision(ledger, "decision.release", release)
    )
    ledger.action(
        "escrow.deposited",
        "oem-a",
        "pay",
        {"escrow": escrow, "amount": 125000, "currency": "EUR", "payment_reference_commitment": "c" * 64},
    )
    cancel = {"escrow": escrow, "amount": 0, "reason": "late", "freed_machine_hours": "40"}
    assert "not an allocation awaiting" in refused_without_effect(
        ledger, "decision.cancel", _decision(ledger, "decision.cancel", cancel)
    )
    report = {
        "escrow": escrow,
        "order": escrow,
        "produced_quantity": 100,
        "defects": {"critical": 0, "major": 0, "minor": 0},
        "source": "declared",
    }
    ledger.action("production.completed", "supplier-a", "done", report)
    assert ledger.state.escrows[escrow].lot is not None
    wrong_party = {**release, "to": "oem-a"}
    refused_without_effect(ledger, "decision.release", _decision(ledger, "decision.release", wrong_party))
    wrong_amount = {**release, "amount": 999}
    refused_without_effect(ledger, "decision.release", _decision(ledger, "decision.release", wrong_amount))
    ledger.decide("decision.release", {}, release)
    assert ledger.state.escrows[escrow].state == "released"


def test_actions_for_someone_elses_escrow_change_nothing() -> None:
    ledger = Ledger()
    escrow = one_allocation(ledger)
    deposit = {
        "escrow": escrow,
        "amount": 125000,
        "currency": "EUR",
        "payment_reference_commitment": "c" * 64,
    }
    body = {"action": _statement("escrow.deposited", "oem-b", "p", deposit), "signature": ""}
    assert "no escrow" in refused_without_effect(ledger, "escrow.deposited", body)
    wrong = {**deposit, "amount": 1}
    body = {"action": _statement("escrow.deposited", "oem-a", "p", wrong), "signature": ""}
    assert "full amount" in refused_without_effect(ledger, "escrow.deposited", body)


def test_an_entry_dated_before_the_one_it_follows_is_refused() -> None:
    ledger = Ledger()
    first = ledger.append("network.genesis", {"network": "n"})
    late = next_entry(
        ledger="network",
        head=(ledger.state.size, ledger.state.head),
        time="2026-11-22T23:59:59Z",
        kind="demand.submitted",
        author="pdu",
        body={
            "action": _statement("demand.submitted", "oem-a", "d", demand_terms(10, 4, "1", 1)),
            "signature": "",
        },
    )
    assert apply(ledger.state, late) is not None
    assert "before the entry it follows" in ledger.state.refused[late.seq]
    assert ledger.state.demands == {} and ledger.state.time == first.time


def test_a_failed_demand_gets_no_reoffer() -> None:
    ledger = Ledger()
    escrow = one_allocation(ledger)
    other = ledger.action("demand.submitted", "oem-b", "d-b", demand_terms(600, 240, "4", 1300))
    ledger.append("demand.failed", {"demand": other.hash, "reason": "no quorum"})
    assert ledger.state.demands[other.hash].status == "failed"
    ledger.action(
        "escrow.deposited",
        "oem-a",
        "pay",
        {"escrow": escrow, "amount": 125000, "currency": "EUR", "payment_reference_commitment": "c" * 64},
    )
    bad_lot = {"critical": 0, "major": 50, "minor": 0}
    report = {
        "escrow": escrow,
        "order": escrow,
        "produced_quantity": 100,
        "defects": bad_lot,
        "source": "declared",
    }
    ledger.action("production.completed", "supplier-a", "done", report)
    kind, result = decide_quality(ledger.state, escrow)
    assert kind == "decision.refund"
    assert result["offers"] == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
KINDS = [
    "demand.submitted",
    "escrow.deposited",
    "production.completed",
    "offer.accepted",
    "decision.split",
    "decision.release",
    "decision.refund",
    "decision.cancel",
    "demand.failed",
    "something.else",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KINDS), json_values, st.booleans()), max_size=8))
def test_folding_arbitrary_entries_never_raises_and_keeps_every_invariant(
    items: list[tuple[str, Any, bool]],
) -> None:
    ledger = Ledger()
    escrow = one_allocation(ledger)
    for kind, body, as_action in items:
        if as_action:
            payload: Any = {"action": _statement(kind, "oem-a", "x", body), "signature": ""}
        elif kind.startswith("decision."):
            payload = _decision(ledger, kind, body if isinstance(body, dict) else {"escrow": escrow})
        else:
            payload = body if isinstance(body, dict) else {"value": body}
        entry = Entry(
            ledger="network",
            seq=ledger.state.size + 1,
            prev=ledger.state.head,
            time=T0,
            kind=kind,
            author="pdu",
            body=payload,
        )
        apply(ledger.state, entry)
        assert ledger.state.size == entry.seq
    for record in ledger.state.escrows.values():
        assert 0 < record.quantity <= MAX_SAFE_INTEGER and 0 <= record.amount <= MAX_SAFE_INTEGER
        assert record.machine_hours >= 0
    for demand in ledger.state.demands.values():
        assert 0 <= demand.unallocated <= demand.terms.quantity


def test_a_withdrawn_proposal_changes_nothing_and_a_malformed_withdrawal_is_refused() -> None:
    ledger = Ledger()
    one_allocation(ledger)
    before = meaning(ledger.state)
    entry = ledger.append("proposal.withdrawn", {"proposal": "a" * 64, "reason": "not certified in time"})
    assert meaning(ledger.state) == before and entry.seq not in ledger.state.refused
    assert "proposal.withdrawn" in refused_without_effect(ledger, "proposal.withdrawn", {"proposal": "short"})
