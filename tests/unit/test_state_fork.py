"""A fork of the folded network state: folded further, the original stays exactly as it was.

A block of proposed entries is evaluated against a fork (entry k against the state after
entries 1..k-1 of the block); the block may be refused, so the committed state must not
see any of it. The fold is copy-on-write, so a fork shares the records and copies only
the containers.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from supplymesh.core.contracts.network import (
    CANCEL,
    SPLIT,
    NetworkState,
    acceptance_escrow_id,
    apply,
    decide_cancel,
    decide_quality,
    decide_split,
)
from supplymesh.core.contracts.split import AttestedCapacity
from supplymesh.core.entry import Entry
from tests.unit.test_epcis_export import RecordingLedger
from tests.unit.test_network_state import demand_terms

SPEC_CAPACITIES = {
    "supplier-a": AttestedCapacity("supplier-a", Decimal("51.2"), Decimal(100), ("P-100",)),
    "supplier-b": AttestedCapacity("supplier-b", Decimal(36), Decimal(20), ("P-100",)),
}
PLENTY = {"supplier-a": AttestedCapacity("supplier-a", Decimal(10000), Decimal(0), ("P-100",))}
NO_CAPACITY = {"supplier-a": "no capacity", "supplier-b": "no capacity", "supplier-c": "no capacity"}


def deposit(ledger: RecordingLedger, escrow_id: str, action_id: str, party: str | None = None) -> Entry:
    escrow = ledger.state.escrows[escrow_id]
    body = {
        "escrow": escrow_id,
        "amount": escrow.amount,
        "currency": escrow.currency,
        "payment_reference_commitment": "c" * 64,
    }
    return ledger.action("escrow.deposited", party or escrow.buyer, action_id, body)


def produce(ledger: RecordingLedger, escrow_id: str, produced: int, defects: dict[str, int]) -> None:
    escrow = ledger.state.escrows[escrow_id]
    body = {
        "escrow": escrow_id,
        "order": escrow_id,
        "produced_quantity": produced,
        "defects": {"critical": 0, "major": 0, "minor": 0, **defects},
        "source": "declared",
    }
    ledger.action("production.completed", escrow.supplier, f"done-{escrow_id}", body)


def split(ledger: RecordingLedger, buyer: str, action_id: str, terms: dict[str, Any], capacities: Any) -> str:
    """A demand and its split; returns the demand's hash."""
    demand = ledger.action("demand.submitted", buyer, action_id, terms)
    unavailable = {} if capacities else NO_CAPACITY
    ledger.decide(SPLIT, {}, decide_split(ledger.state, demand.hash, capacities, unavailable))
    return demand.hash


def decide(ledger: RecordingLedger, escrow_id: str) -> None:
    kind, result = decide_quality(ledger.state, escrow_id)
    ledger.decide(kind, {}, result)


def story() -> RecordingLedger:
    """Every kind of change the fold makes, and refusals, in one honest network ledger."""
    ledger = RecordingLedger()
    ledger.append("network.genesis", {"network": "n"})
    terms = {**demand_terms(1000, 400, "2.5", 1250), "priority_suppliers": ["supplier-a", "supplier-b"]}
    first = split(ledger, "oem-a", "d-1", terms, SPEC_CAPACITIES)  # 390 + 400 of 1000
    for buyer in ("oem-b", "oem-c"):  # open demands the refused lot is re-offered to
        split(ledger, buyer, f"d-{buyer}", demand_terms(600, 240, "4", 1300), {})
    good, bad = (a.escrow_id for a in ledger.state.demands[first].allocations)
    deposit(ledger, good, "pay-good")
    deposit(ledger, bad, "pay-bad", party="oem-b")  # refused: not oem-b's escrow
    deposit(ledger, bad, "pay-bad")
    produce(ledger, good, 390, {"major": 5, "minor": 10})
    produce(ledger, bad, 400, {"major": 14})
    decide(ledger, good)  # release
    ledger.decide("decision.release", {}, {"escrow": bad, "amount": 1, "to": "supplier-b", "reason": "x"})
    decide(ledger, bad)  # refund, re-offered to oem-b and oem-c
    offer = next(o for o in ledger.state.offers.values() if o.buyer == "oem-b")
    acceptance = {"offer": offer.id, "escrow": acceptance_escrow_id(offer.id), "unit_price": offer.unit_price}
    ledger.action("offer.accepted", "oem-b", "accept", acceptance)  # withdraws oem-c's offer
    deposit(ledger, acceptance_escrow_id(offer.id), "pay-accepted")
    ledger.append("proposal.withdrawn", {"proposal": "a" * 64, "reason": "not certified in time"})
    unpaid = split(ledger, "oem-d", "d-unpaid", demand_terms(100, 40, "2.5", 1250), PLENTY)
    [unpaid_escrow] = (a.escrow_id for a in ledger.state.demands[unpaid].allocations)
    ledger.decide(CANCEL, {}, decide_cancel(ledger.state, unpaid_escrow))
    scrap = split(ledger, "oem-a", "d-scrap", demand_terms(100, 40, "2.5", 1250), PLENTY)
    [scrap_escrow] = (a.escrow_id for a in ledger.state.demands[scrap].allocations)
    deposit(ledger, scrap_escrow, "pay-scrap")
    produce(ledger, scrap_escrow, 100, {"critical": 1})  # nobody's AQL accepts it: surplus
    decide(ledger, scrap_escrow)
    late = ledger.action("demand.submitted", "oem-e", "d-late", demand_terms(50, 20, "2.5", 1250))
    ledger.append("demand.failed", {"demand": late.hash, "reason": "no quorum"})
    ledger.append("demand.failed", {"demand": late.hash, "reason": "twice"})  # refused
    return ledger


def folded(entries: list[Entry], state: NetworkState | None = None) -> NetworkState:
    state = state if state is not None else NetworkState()
    for entry in entries:
        apply(state, entry)
    return state


STORY = story()
ENTRIES = STORY.entries


def test_the_story_makes_every_kind_of_change() -> None:
    state = STORY.state
    kinds = {e.kind for e in ENTRIES}
    assert {"decision.split", "decision.release", "decision.refund", CANCEL} <= kinds
    assert {"escrow.deposited", "production.completed", "offer.accepted"} <= kinds
    assert {"demand.failed", "proposal.withdrawn", "network.genesis"} <= kinds
    assert {e.state for e in state.escrows.values()} >= {"released", "refunded", "cancelled", "funded"}
    assert sorted(o.state for o in state.offers.values()) == ["accepted", "withdrawn"]
    assert {d.status for d in state.demands.values()} >= {"allocated", "unallocated", "failed"}
    oem_b = state.demand_by_id("oem-b", "d-oem-b")
    assert oem_b is not None and 0 < oem_b.unallocated < oem_b.terms.quantity
    assert len(state.surplus) == 1 and len(state.refused) == 3
    assert [key[0] for key in state.refused_actions] == ["escrow.deposited"]


def test_folding_into_a_fork_leaves_the_original_as_it_was_from_every_cut() -> None:
    whole = folded(ENTRIES)
    for cut in range(len(ENTRIES) + 1):
        original = folded(ENTRIES[:cut])
        snapshot = copy.deepcopy(original)
        text = repr(original)
        fork = original.fork()
        folded(ENTRIES[cut:], fork)
        assert original == snapshot, cut
        assert repr(original) == text, cut
        assert original == folded(ENTRIES[:cut]), cut
        assert fork == whole, cut
        assert repr(fork) == repr(whole), cut
        folded(ENTRIES[cut:], original)  # the original goes on to the same result
        assert original == whole, cut


def test_a_fork_shares_the_records_and_owns_its_containers() -> None:
    state = folded(ENTRIES)
    fork = state.fork()
    assert fork == state and fork is not state
    for name in ("demands", "escrows", "offers", "surplus", "refused", "refused_actions"):
        assert getattr(fork, name) is not getattr(state, name), name
    assert all(fork.escrows[k] is v for k, v in state.escrows.items())
    assert all(fork.demands[k] is v for k, v in state.demands.items())


def test_a_record_read_before_an_entry_keeps_what_it_said() -> None:
    for cut in range(len(ENTRIES)):
        state = folded(ENTRIES[:cut])
        records = [*state.demands.values(), *state.escrows.values(), *state.offers.values()]
        before = copy.deepcopy(records)
        apply(state, ENTRIES[cut])
        assert records == before, ENTRIES[cut].kind


def test_demand_by_id_on_a_fork_sees_the_forks_demands_only() -> None:
    prefix = next(i for i, e in enumerate(ENTRIES) if e.kind == "demand.submitted" and e.seq > 2)
    original = folded(ENTRIES[:prefix])
    assert original.demand_by_id("oem-a", "d-1") is not None  # the index is built before the fork
    fork = original.fork()
    folded(ENTRIES[prefix:], fork)
    assert fork.demand_by_id("oem-b", "d-oem-b") is not None
    assert original.demand_by_id("oem-b", "d-oem-b") is None
    assert original.demand_by_id("oem-e", "d-late") is None
    late = fork.demand_by_id("oem-e", "d-late")
    assert late is not None and late.status == "failed"
    other = original.fork()
    apply(original, ENTRIES[prefix])  # the original moves on: its forks do not see it
    assert original.demand_by_id("oem-b", "d-oem-b") is not None
    assert other.demand_by_id("oem-b", "d-oem-b") is None


# -- random stories ------------------------------------------------------------------------------

BUYERS = ("oem-a", "oem-b", "oem-c")
AQL_MAJOR = {"oem-a": "1", "oem-b": "6.5", "oem-c": "6.5"}
CAPACITIES = {
    s: AttestedCapacity(s, Decimal(8), Decimal(0), ("P-100",))
    for s in ("supplier-a", "supplier-b", "supplier-c")
}
ROUNDS = ("demand", "split", "pay", "produce", "decide", "accept")
DEFECT_PERCENT = (0, 3, 3, 20)  # passes every AQL; refunded to oem-a, re-offered; no one's (surplus)


def _round(ledger: RecordingLedger, kind: str, number: int, name: str) -> None:
    """One round of ``kind``: every record it applies to moves on (``number`` varies how)."""
    state = ledger.state
    escrows = sorted(state.escrows.values(), key=lambda e: e.created_seq)
    if kind == "demand":
        for i, buyer in enumerate(BUYERS):
            quantity, hours = 50 + 37 * ((number + i) % 20), 20 + 7 * ((3 * number + i) % 30)
            terms = demand_terms(quantity, hours, AQL_MAJOR[buyer], 1200 + number)
            ledger.action("demand.submitted", buyer, f"{name}-{i}", terms)
    for i, record in enumerate(state.undecided_demands() if kind == "split" else []):
        if (number + i) % 5 == 4:
            ledger.append("demand.failed", {"demand": record.hash, "reason": "no quorum"})
            continue
        # a third find no capacity: open demands, which refused lots are re-offered to
        capacities, unavailable = (CAPACITIES, {}) if (number + i) % 3 else ({}, NO_CAPACITY)
        ledger.decide(SPLIT, {}, decide_split(state, record.hash, capacities, unavailable))
    for i, escrow in enumerate(e for e in escrows if kind == "pay" and e.state == "awaiting_deposit"):
        if (number + i) % 6 == 5:
            ledger.decide(CANCEL, {}, decide_cancel(state, escrow.id))
        else:  # and now and then by someone else: refused
            deposit(ledger, escrow.id, f"{name}-{i}", party="oem-c" if (number + i) % 6 == 4 else None)
    for i, escrow in enumerate(e for e in escrows if kind == "produce" and e.state == "funded" and not e.lot):
        produce(
            ledger,
            escrow.id,
            escrow.quantity,
            {"major": escrow.quantity * DEFECT_PERCENT[(number + i) % 4] // 100},
        )
    for escrow in state.awaiting_quality_decision() if kind == "decide" else []:
        decide(ledger, escrow.id)
    for i, offer in enumerate(
        o for o in list(state.offers.values()) if kind == "accept" and o.state == "open"
    ):
        if (number + i) % 3:  # an offer already withdrawn by another acceptance is refused
            ledger.action("offer.accepted", offer.buyer, f"{name}-{i}", {"offer": offer.id})


def random_story(rounds: list[tuple[int, int]]) -> list[Entry]:
    """A network ledger driven by ``rounds``: each runs the kinds its mask names, last stage first.

    Last stage first, so a record moves on at most one stage a round.
    """
    ledger = RecordingLedger()
    for counter, (mask, number) in enumerate(rounds):
        for bit, kind in reversed(list(enumerate(ROUNDS))):
            if mask >> bit & 1:
                _round(ledger, kind, number, f"x{counter}")
    return ledger.entries


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2 ** len(ROUNDS) - 1), st.integers(0, 59)), max_size=12), st.data())
def test_a_fork_at_any_point_of_a_random_story_leaves_the_original_and_ends_the_same(
    rounds: list[tuple[int, int]], data: st.DataObject
) -> None:
    entries = random_story(rounds)
    cut = data.draw(st.integers(0, len(entries)), label="cut")
    again = data.draw(st.integers(cut, len(entries)), label="second cut")
    original = folded(entries[:cut])
    snapshot = copy.deepcopy(original)
    fork = original.fork()
    folded(entries[cut:again], fork)
    forked = copy.deepcopy(fork)
    fork_of_fork = fork.fork()  # a block evaluated on a fork of a fork
    folded(entries[again:], fork_of_fork)
    assert fork == forked
    assert original == snapshot
    folded(entries[again:], fork)
    folded(entries[cut:], original)
    assert original == fork == fork_of_fork == folded(entries)
