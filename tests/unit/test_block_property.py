"""Hypothesis: a block of splits composed on a fork decides exactly what the same splits
decided and committed one at a time would, never overbooks a supplier, and leaves the
committed state untouched until the block is appended."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from supplymesh.core.contracts.network import apply, decide_split
from supplymesh.core.contracts.split import AttestedCapacity, limit
from supplymesh.core.entry import Entry, next_entry
from tests.unit.test_network_state import SUPPLIERS, Ledger, capacity, demand_terms

TIME = "2026-11-23T00:00:00.000000Z"


def decision(state: Any, demand_hash: str, attested: dict[str, AttestedCapacity]) -> Entry:
    result = decide_split(state, demand_hash, attested, {})
    body = {
        "decision": "decision.split",
        "base": {"seq": state.size, "hash": state.head},
        "inputs": {"demand": demand_hash},
        "result": result,
    }
    return next_entry(
        ledger="network",
        head=(state.size, state.head),
        time=TIME,
        kind="decision.split",
        author="pdu",
        body=body,
    )


demand = st.tuples(st.sampled_from(["oem-a", "oem-b"]), st.integers(1, 2000), st.integers(1, 800))


@settings(max_examples=150, deadline=None)
@given(st.lists(capacity, min_size=3, max_size=3), st.lists(demand, min_size=1, max_size=12))
def test_a_block_decides_what_one_at_a_time_would_and_never_overbooks(
    capacities: list[tuple[Decimal, Decimal]], demands: list[tuple[str, int, int]]
) -> None:
    attested = {
        s: AttestedCapacity(s, mhc, queue, ("P-100",))
        for s, (mhc, queue) in zip(SUPPLIERS, capacities, strict=True)
    }
    ledger = Ledger()
    for n, (buyer, quantity, hours) in enumerate(demands):
        ledger.action("demand.submitted", buyer, f"d{n}", demand_terms(quantity, hours, "2.5", 100))
    committed = ledger.state
    snapshot = copy.deepcopy(committed)
    pending = [d.hash for d in committed.undecided_demands()]

    fork = committed.fork()
    block = []
    for demand_hash in pending:
        entry = decision(fork, demand_hash, attested)
        assert apply(fork, entry) is None
        block.append(entry)
    assert committed == snapshot  # nothing of the block reached the committed state

    one_by_one = copy.deepcopy(snapshot)
    for demand_hash, proposed in zip(pending, block, strict=True):
        entry = decision(one_by_one, demand_hash, attested)
        assert entry.hash == proposed.hash  # identical bytes: partners re-execute to the same
        apply(one_by_one, entry)
    assert fork == one_by_one

    for supplier, booked in fork.open_hours().items():
        assert booked <= limit(attested[supplier], 5), "overbooked"
    for entry in block:
        apply(committed, entry)
    assert committed == fork
