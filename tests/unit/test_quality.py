"""Tests for supplymesh.core.contracts.quality: Algorithm 4's release rule (SPEC §6, §10)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from supplymesh.core.contracts.quality import lot_passes, release_allowed


def aql_of(critical: str, major: str, minor: str) -> dict[str, Decimal]:
    return {"critical": Decimal(critical), "major": Decimal(major), "minor": Decimal(minor)}


OEM_A_AQL = aql_of("0", "2.5", "4.0")
OEM_B_AQL = aql_of("0", "4.0", "6.5")


# --- SPEC §6 worked example -----------------------------------------------------------------


def test_spec_example_supplier_a_lot_within_aql_is_released() -> None:
    # major 5 × 100 = 500 ≤ 2.5 × 390 = 975; minor 1000 ≤ 4.0 × 390 = 1560.
    defects = {"critical": 0, "major": 5, "minor": 10}

    assert lot_passes(390, defects, OEM_A_AQL)
    assert release_allowed(390, 390, defects, OEM_A_AQL)


def test_spec_example_supplier_b_lot_over_major_aql_is_refused() -> None:
    # major 14 × 100 = 1400 > 2.5 × 400 = 1000.
    defects = {"critical": 0, "major": 14, "minor": 0}

    assert not lot_passes(400, defects, OEM_A_AQL)
    assert not release_allowed(400, 400, defects, OEM_A_AQL)


def test_spec_example_refused_lot_passes_the_looser_aql_of_another_buyer() -> None:
    # Re-offer test: 1400 ≤ 4.0 × 400 = 1600.
    defects = {"critical": 0, "major": 14, "minor": 0}

    assert lot_passes(400, defects, OEM_B_AQL)
    assert release_allowed(400, 400, defects, OEM_B_AQL)


# --- the rule --------------------------------------------------------------------------------


def test_too_few_units_produced_is_never_released_even_without_defects() -> None:
    no_defects = {"critical": 0, "major": 0, "minor": 0}

    assert lot_passes(389, no_defects, OEM_A_AQL)
    assert not release_allowed(390, 389, no_defects, OEM_A_AQL)


def test_more_units_than_ordered_are_released_when_within_aql() -> None:
    assert release_allowed(390, 400, {"critical": 0, "major": 10, "minor": 16}, OEM_A_AQL)


def test_zero_units_produced_against_an_order_is_not_released() -> None:
    assert not release_allowed(390, 0, {}, OEM_A_AQL)


@pytest.mark.parametrize(
    ("defect_class", "aql", "produced", "at_limit"),
    [
        ("major", "2.5", 400, 10),  # 10 × 100 = 1000 = 2.5 × 400
        ("minor", "4.0", 390, 15),  # 1500 ≤ 1560 < 1600
        ("major", "0.65", 200, 1),  # 100 ≤ 130 < 200
        ("minor", "1", 100, 1),  # 100 = 100
    ],
)
def test_boundary_at_the_aql_passes_and_one_more_defect_fails(
    defect_class: str, aql: str, produced: int, at_limit: int
) -> None:
    aqls = aql_of("0", "0", "0") | {defect_class: Decimal(aql)}

    assert lot_passes(produced, {defect_class: at_limit}, aqls)
    assert release_allowed(produced, produced, {defect_class: at_limit}, aqls)
    assert not lot_passes(produced, {defect_class: at_limit + 1}, aqls)
    assert not release_allowed(produced, produced, {defect_class: at_limit + 1}, aqls)


def test_exact_equality_defective_times_100_equals_aql_times_produced_passes() -> None:
    # 25 × 100 = 2500 = 2.5 × 1000.
    assert lot_passes(1000, {"critical": 0, "major": 25, "minor": 0}, OEM_A_AQL)
    assert not lot_passes(1000, {"critical": 0, "major": 26, "minor": 0}, OEM_A_AQL)


def test_critical_aql_zero_fails_on_a_single_critical_defect() -> None:
    defects = {"critical": 1, "major": 0, "minor": 0}

    assert not lot_passes(10_000, defects, OEM_A_AQL)
    assert not release_allowed(10_000, 10_000, defects, OEM_A_AQL)


def test_critical_aql_zero_passes_with_no_critical_defect() -> None:
    assert lot_passes(10_000, {"critical": 0, "major": 0, "minor": 0}, OEM_A_AQL)


def test_aql_three_and_a_half_with_14_defects_in_400_passes_exactly() -> None:
    # 14 / 400 × 100 = 3.5 exactly; in binary floats it is 3.5000000000000004 > 3.5.
    assert 14 / 400 * 100 > 3.5
    aql = aql_of("0", "3.5", "4.0")
    defects = {"critical": 0, "major": 14, "minor": 0}

    assert lot_passes(400, defects, aql)
    assert release_allowed(400, 400, defects, aql)
    assert not lot_passes(400, {"critical": 0, "major": 15, "minor": 0}, aql)


def test_missing_defect_class_counts_as_zero() -> None:
    assert lot_passes(390, {}, OEM_A_AQL)
    assert lot_passes(390, {"major": 5}, OEM_A_AQL)
    assert release_allowed(390, 390, {"minor": 10}, OEM_A_AQL)
    assert not release_allowed(400, 400, {"major": 14}, OEM_A_AQL)


def test_every_class_is_checked_not_only_the_first() -> None:
    # Critical and major fine, minor 17 × 100 = 1700 > 4.0 × 400 = 1600.
    assert not lot_passes(400, {"critical": 0, "major": 0, "minor": 17}, OEM_A_AQL)
    assert not release_allowed(400, 400, {"critical": 0, "major": 0, "minor": 17}, OEM_A_AQL)


def test_aql_with_many_decimals_is_compared_exactly() -> None:
    # 1 × 100 = 100 vs 0.1 × 1000 = 100 (passes) and 0.099999 × 1000 = 99.999 (fails).
    assert lot_passes(1000, {"minor": 1}, aql_of("0", "0", "0.1"))
    assert not lot_passes(1000, {"minor": 1}, aql_of("0", "0", "0.099999"))
