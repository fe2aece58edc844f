"""Sampled lots on the network ledger: the fold, the quality decision and re-offers.

A lot of 390 (ISO 2859-1 level II: 281–500 → H) at AQL {critical 0, major 2.5, minor 4.0}
needs a sample of 50; major Ac 3 / Re 4, minor Ac 5 / Re 6, critical Ac 0 / Re 1.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from supplymesh.core.contracts.network import REFUND, RELEASE, decide_quality, decide_split
from supplymesh.core.contracts.sampling import SamplingError
from supplymesh.core.contracts.split import AttestedCapacity
from tests.unit.test_network_state import Ledger

LOT = 390
SAMPLE = 50
OEM_A_AQL = {"critical": "0", "major": "2.5", "minor": "4"}


def terms(quantity: int, aql: dict[str, str], price: int = 1250) -> dict[str, Any]:
    return {
        "product": "P-100",
        "quantity": quantity,
        "lead_time_days": 5,
        "required_machine_hours": "156",
        "priority_suppliers": ["supplier-a"],
        "aql": aql,
        "unit_price": {"amount": price, "currency": "EUR"},
    }


def funded_order(ledger: Ledger, other_buyers: dict[str, dict[str, str]] | None = None) -> str:
    """An allocation of oem-a to supplier-a, funded; other buyers' demands stay open (no capacity left)."""
    capacity = {"supplier-a": AttestedCapacity("supplier-a", Decimal(512), Decimal(0), ("P-100",))}
    ledger.action("demand.submitted", "oem-a", "d-a", terms(LOT, OEM_A_AQL))
    [demand] = ledger.state.undecided_demands()
    ledger.decide(
        "decision.split", {"demand": demand.hash}, decide_split(ledger.state, demand.hash, capacity, {})
    )
    for buyer, aql in (other_buyers or {}).items():
        ledger.action("demand.submitted", buyer, f"d-{buyer}", terms(600, aql, 1300))
        [pending] = ledger.state.undecided_demands()
        ledger.decide(
            "decision.split", {"demand": pending.hash}, decide_split(ledger.state, pending.hash, {}, {})
        )
    [escrow] = [e for e in ledger.state.escrows.values() if e.buyer == "oem-a"]
    ledger.action(
        "escrow.deposited",
        "oem-a",
        "p-a",
        {
            "escrow": escrow.id,
            "amount": escrow.amount,
            "currency": "EUR",
            "payment_reference_commitment": "c" * 64,
        },
    )
    assert ledger.state.escrows[escrow.id].state == "funded"
    return escrow.id


def produce(ledger: Ledger, escrow_id: str, major: int, minor: int = 0, **extra: Any) -> None:
    ledger.action(
        "production.completed",
        "supplier-a",
        "q-a",
        {
            "escrow": escrow_id,
            "order": escrow_id,
            "produced_quantity": LOT,
            "defects": {"critical": 0, "major": major, "minor": minor},
            "source": "declared",
            **extra,
        },
    )


def test_a_sample_at_ac_is_released_and_says_so() -> None:
    ledger = Ledger()
    escrow_id = funded_order(ledger)
    produce(ledger, escrow_id, major=3, minor=5, sample_size=SAMPLE)

    kind, result = decide_quality(ledger.state, escrow_id)

    assert kind == RELEASE
    assert result["sample_size"] == SAMPLE


@pytest.mark.parametrize(("major", "minor"), [(4, 0), (0, 6)])
def test_a_sample_at_re_is_refunded(major: int, minor: int) -> None:
    ledger = Ledger()
    escrow_id = funded_order(ledger)
    produce(ledger, escrow_id, major=major, minor=minor, sample_size=SAMPLE)

    kind, result = decide_quality(ledger.state, escrow_id)

    assert (kind, result["sample_size"], result["offers"]) == (REFUND, SAMPLE, [])


@pytest.mark.parametrize("sample_size", [32, 80, LOT, 0, True, "50"])
def test_a_report_with_another_sample_size_changes_nothing(sample_size: Any) -> None:
    ledger = Ledger()
    escrow_id = funded_order(ledger)
    produce(ledger, escrow_id, major=0, sample_size=sample_size)

    escrow = ledger.state.escrows[escrow_id]
    assert escrow.lot is None
    assert not escrow.completed
    assert ledger.state.awaiting_quality_decision() == []


def test_a_lot_stored_with_a_wrong_sample_size_cannot_be_decided() -> None:
    ledger = Ledger()
    escrow_id = funded_order(ledger)
    produce(ledger, escrow_id, major=0, sample_size=SAMPLE)
    escrow = ledger.state.escrows[escrow_id]
    assert escrow.lot is not None
    # a replica that folded differently: partners refuse (RuleViolation)
    escrow.lot = escrow.lot.model_copy(update={"sample_size": 80})

    with pytest.raises(SamplingError, match="needs a sample of 50"):
        decide_quality(ledger.state, escrow_id)


def test_a_sampled_lot_is_offered_only_to_buyers_whose_plan_needs_that_sample_and_accepts() -> None:
    ledger = Ledger()
    escrow_id = funded_order(
        ledger,
        {
            "oem-b": {"critical": "0", "major": "4", "minor": "6.5"},  # n 50, major Ac 5: offered
            "oem-c": {"critical": "0", "major": "0.65", "minor": "6.5"},  # n 80: another sample
            "oem-d": {"critical": "0", "major": "2.5", "minor": "6.5"},  # n 50, major Ac 3 < 4
            "oem-e": {"critical": "0", "major": "3", "minor": "6.5"},  # off the table
        },
    )
    produce(ledger, escrow_id, major=4, sample_size=SAMPLE)

    kind, result = decide_quality(ledger.state, escrow_id)

    assert kind == REFUND
    assert [o["buyer"] for o in result["offers"]] == ["oem-b"]


def test_a_full_count_lot_keeps_the_full_count_reoffer_test() -> None:
    ledger = Ledger()
    escrow_id = funded_order(ledger, {"oem-b": {"critical": "0", "major": "4", "minor": "6.5"}})
    produce(ledger, escrow_id, major=14)  # 1400 > 975; ≤ 1560 for oem-b

    kind, result = decide_quality(ledger.state, escrow_id)

    assert kind == REFUND
    assert "sample_size" not in result
    assert [o["buyer"] for o in result["offers"]] == ["oem-b"]
    lot = ledger.state.escrows[escrow_id].lot
    assert lot is not None and lot.sample_size is None
