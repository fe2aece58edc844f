"""Hypothesis: for random capacities, demands and interleavings of deposits, production
reports, decisions and offer acceptances, no supplier is overbooked and money is
conserved (deposits = released + refunded + held, never released twice)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from supplymesh.core.contracts.network import (
    NetworkState,
    apply,
    decide_quality,
    decide_split,
)
from supplymesh.core.contracts.split import AttestedCapacity, limit
from supplymesh.core.entry import Entry, next_entry

SUPPLIERS = ("supplier-a", "supplier-b", "supplier-c")
BUYERS = ("oem-a", "oem-b")


class Ledger:
    """Appends synthetic network entries and folds them, as every replica does."""

    def __init__(self) -> None:
        self.state = NetworkState()
        self.deposited = 0

    def append(self, kind: str, body: dict[str, Any]) -> Entry:
        entry = next_entry(
            ledger="network",
            head=(self.state.size, self.state.head),
            time="2026-11-23T00:00:00.000000Z",
            kind=kind,
            author="pdu",
            body=body,
        )
        apply(self.state, entry)
        return entry

    def action(self, kind: str, party: str, action_id: str, body: dict[str, Any]) -> Entry:
        statement = {
            "type": "supplymesh.action.v1",
            "kind": kind,
            "party": party,
            "id": action_id,
            "time": "2026-11-23T00:00:00.000000Z",
            "body": body,
        }
        return self.append(kind, {"action": statement, "signature": "x"})

    def decide(self, kind: str, inputs: dict[str, Any], result: dict[str, Any]) -> None:
        self.append(
            kind,
            {
                "decision": kind,
                "base": {"seq": self.state.size, "hash": self.state.head},
                "inputs": inputs,
                "result": result,
            },
        )


def demand_terms(quantity: int, rmhd: int, aql_major: str, price: int) -> dict[str, Any]:
    return {
        "product": "P-100",
        "quantity": quantity,
        "lead_time_days": 5,
        "required_machine_hours": str(rmhd),
        "priority_suppliers": list(SUPPLIERS),
        "aql": {"critical": "0", "major": aql_major, "minor": "4"},
        "unit_price": {"amount": price, "currency": "EUR"},
    }


capacity = st.builds(
    lambda mhc, queue: (Decimal(mhc) / 10, Decimal(queue)),
    st.integers(0, 1000),
    st.integers(0, 200),
)
step = st.one_of(
    st.tuples(
        st.just("demand"),
        st.sampled_from(BUYERS),
        st.integers(1, 2000),
        st.integers(1, 800),
        st.sampled_from(["0", "1", "2.5", "4", "6.5"]),
        st.integers(0, 5000),
    ),
    st.tuples(st.just("deposit"), st.integers(0, 50)),
    st.tuples(st.just("produce"), st.integers(0, 50), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("accept"), st.integers(0, 50)),
    st.tuples(st.just("decide")),
)


@settings(max_examples=120, deadline=None)
@given(st.lists(capacity, min_size=3, max_size=3), st.lists(step, min_size=1, max_size=40))
def test_random_interleavings_never_overbook_and_conserve_money(
    capacities: list[tuple[Decimal, Decimal]], steps: list[tuple[Any, ...]]
) -> None:
    ledger = Ledger()
    attested = {
        s: AttestedCapacity(s, mhc, queue, ("P-100",))
        for s, (mhc, queue) in zip(SUPPLIERS, capacities, strict=True)
    }
    for counter, item in enumerate(steps):
        state = ledger.state
        if item[0] == "demand":
            _, buyer, quantity, rmhd, aql, price = item
            ledger.action("demand.submitted", buyer, f"d{counter}", demand_terms(quantity, rmhd, aql, price))
        elif item[0] == "deposit":
            awaiting = sorted(
                (e for e in state.escrows.values() if e.state == "awaiting_deposit"), key=lambda e: e.id
            )
            if awaiting:
                escrow = awaiting[item[1] % len(awaiting)]
                paid = escrow.amount  # what the buyer pays, fixed before the fold sees it
                ledger.action(
                    "escrow.deposited",
                    escrow.buyer,
                    f"p{counter}",
                    {
                        "escrow": escrow.id,
                        "amount": escrow.amount,
                        "currency": escrow.currency,
                        "payment_reference_commitment": "c" * 64,
                    },
                )
                ledger.deposited += paid
        elif item[0] == "produce":
            funded = sorted(
                (
                    e
                    for e in state.escrows.values()
                    if e.state == "funded" and e.lot is None and e.demand is not None
                ),
                key=lambda e: e.id,
            )
            if funded:
                escrow = funded[item[1] % len(funded)]
                produced = escrow.quantity if item[3] else max(0, escrow.quantity - 1)
                ledger.action(
                    "production.completed",
                    escrow.supplier,
                    f"q{counter}",
                    {
                        "escrow": escrow.id,
                        "order": escrow.id,
                        "produced_quantity": produced,
                        "defects": {"critical": 0, "major": item[2], "minor": 0},
                        "source": "declared",
                    },
                )
        elif item[0] == "accept":
            open_offers = sorted((o for o in state.offers.values() if o.state == "open"), key=lambda o: o.id)
            if open_offers:
                offer = open_offers[item[1] % len(open_offers)]
                ledger.action("offer.accepted", offer.buyer, f"a{counter}", {"offer": offer.id})
        else:
            for demand in state.undecided_demands():
                before = state.open_hours()
                result = decide_split(state, demand.hash, attested, {})
                for allocation in result["allocations"]:
                    supplier = allocation["supplier"]
                    new = before.get(supplier, Decimal(0)) + Decimal(allocation["machine_hours"])
                    assert new <= limit(attested[supplier], 5), "overbooked"
                ledger.decide("decision.split", {"demand": demand.hash}, result)
            for escrow in list(state.awaiting_quality_decision()):
                kind, result = decide_quality(state, escrow.id)
                ledger.decide(kind, {"escrow": escrow.id}, result)
        check_money(ledger)


def check_money(ledger: Ledger) -> None:
    escrows = ledger.state.escrows.values()
    released = sum(e.amount for e in escrows if e.state == "released")
    refunded = sum(e.amount for e in escrows if e.state == "refunded")
    held = sum(e.amount for e in escrows if e.state == "funded")
    assert ledger.deposited == released + refunded + held
    assert all(e.amount >= 0 for e in escrows)
    for demand in ledger.state.demands.values():
        assert demand.unallocated >= 0
