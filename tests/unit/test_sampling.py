"""Tests for supplymesh.core.contracts.sampling: ISO 2859-1 single sampling, normal inspection, level II.

The figures are copied from the published tables (Table I, Table II-A and the plans
they resolve to at level II); they are constants here so the tests stand alone.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from supplymesh.core.contracts.sampling import (
    Plan,
    SamplingError,
    class_plans,
    code_letter,
    required_sample_size,
    sample_accepts,
    sample_release_allowed,
    single_plan,
)
from supplymesh.core.contracts.sampling_tables import AQL_COLUMNS

COLUMNS = ("0.065", "0.10", "0.15", "0.25", "0.40", "0.65", "1.0", "1.5", "2.5", "4.0", "6.5")

# Resolved plans, level II, normal inspection: (smallest lot, largest lot, code letter,
# "n: Ac/Re" per AQL column; "*" = 100 % inspection for the lots of the range with
# n ≥ lot size, i.e. n ≥ the range's smallest lot).
RESOLVED_LEVEL_II = (
    (
        2,
        8,
        "A",
        (
            "200: 0/1*",
            "125: 0/1*",
            "80: 0/1*",
            "50: 0/1*",
            "32: 0/1*",
            "20: 0/1*",
            "13: 0/1*",
            "8: 0/1*",
            "5: 0/1*",
            "3: 0/1*",
            "2: 0/1*",
        ),
    ),
    (
        9,
        15,
        "B",
        (
            "200: 0/1*",
            "125: 0/1*",
            "80: 0/1*",
            "50: 0/1*",
            "32: 0/1*",
            "20: 0/1*",
            "13: 0/1*",
            "8: 0/1",
            "5: 0/1",
            "3: 0/1",
            "2: 0/1",
        ),
    ),
    (
        16,
        25,
        "C",
        (
            "200: 0/1*",
            "125: 0/1*",
            "80: 0/1*",
            "50: 0/1*",
            "32: 0/1*",
            "20: 0/1*",
            "13: 0/1",
            "8: 0/1",
            "5: 0/1",
            "3: 0/1",
            "8: 1/2",
        ),
    ),
    (
        26,
        50,
        "D",
        (
            "200: 0/1*",
            "125: 0/1*",
            "80: 0/1*",
            "50: 0/1*",
            "32: 0/1*",
            "20: 0/1",
            "13: 0/1",
            "8: 0/1",
            "5: 0/1",
            "13: 1/2",
            "8: 1/2",
        ),
    ),
    (
        51,
        90,
        "E",
        (
            "200: 0/1*",
            "125: 0/1*",
            "80: 0/1*",
            "50: 0/1",
            "32: 0/1",
            "20: 0/1",
            "13: 0/1",
            "8: 0/1",
            "20: 1/2",
            "13: 1/2",
            "13: 2/3",
        ),
    ),
    (
        91,
        150,
        "F",
        (
            "200: 0/1*",
            "125: 0/1*",
            "80: 0/1",
            "50: 0/1",
            "32: 0/1",
            "20: 0/1",
            "13: 0/1",
            "32: 1/2",
            "20: 1/2",
            "20: 2/3",
            "20: 3/4",
        ),
    ),
    (
        151,
        280,
        "G",
        (
            "200: 0/1*",
            "125: 0/1",
            "80: 0/1",
            "50: 0/1",
            "32: 0/1",
            "20: 0/1",
            "50: 1/2",
            "32: 1/2",
            "32: 2/3",
            "32: 3/4",
            "32: 5/6",
        ),
    ),
    (
        281,
        500,
        "H",
        (
            "200: 0/1",
            "125: 0/1",
            "80: 0/1",
            "50: 0/1",
            "32: 0/1",
            "80: 1/2",
            "50: 1/2",
            "50: 2/3",
            "50: 3/4",
            "50: 5/6",
            "50: 7/8",
        ),
    ),
    (
        501,
        1200,
        "J",
        (
            "200: 0/1",
            "125: 0/1",
            "80: 0/1",
            "50: 0/1",
            "125: 1/2",
            "80: 1/2",
            "80: 2/3",
            "80: 3/4",
            "80: 5/6",
            "80: 7/8",
            "80: 10/11",
        ),
    ),
    (
        1201,
        3200,
        "K",
        (
            "200: 0/1",
            "125: 0/1",
            "80: 0/1",
            "200: 1/2",
            "125: 1/2",
            "125: 2/3",
            "125: 3/4",
            "125: 5/6",
            "125: 7/8",
            "125: 10/11",
            "125: 14/15",
        ),
    ),
    (
        3201,
        10000,
        "L",
        (
            "200: 0/1",
            "125: 0/1",
            "315: 1/2",
            "200: 1/2",
            "200: 2/3",
            "200: 3/4",
            "200: 5/6",
            "200: 7/8",
            "200: 10/11",
            "200: 14/15",
            "200: 21/22",
        ),
    ),
    (
        10001,
        35000,
        "M",
        (
            "200: 0/1",
            "500: 1/2",
            "315: 1/2",
            "315: 2/3",
            "315: 3/4",
            "315: 5/6",
            "315: 7/8",
            "315: 10/11",
            "315: 14/15",
            "315: 21/22",
            "200: 21/22",
        ),
    ),
    (
        35001,
        150000,
        "N",
        (
            "800: 1/2",
            "500: 1/2",
            "500: 2/3",
            "500: 3/4",
            "500: 5/6",
            "500: 7/8",
            "500: 10/11",
            "500: 14/15",
            "500: 21/22",
            "315: 21/22",
            "200: 21/22",
        ),
    ),
    (
        150001,
        500000,
        "P",
        (
            "800: 1/2",
            "800: 2/3",
            "800: 3/4",
            "800: 5/6",
            "800: 7/8",
            "800: 10/11",
            "800: 14/15",
            "800: 21/22",
            "500: 21/22",
            "315: 21/22",
            "200: 21/22",
        ),
    ),
    (
        500001,
        None,
        "Q",
        (
            "1250: 2/3",
            "1250: 3/4",
            "1250: 5/6",
            "1250: 7/8",
            "1250: 10/11",
            "1250: 14/15",
            "1250: 21/22",
            "800: 21/22",
            "500: 21/22",
            "315: 21/22",
            "200: 21/22",
        ),
    ),
)


def _cell(text: str) -> tuple[int, int, int, bool]:
    n, plan = text.strip().split(":")
    full = plan.endswith("*")
    ac, re = plan.strip().rstrip("*").split("/")
    return int(n), int(ac), int(re), full


RESOLVED_CASES = [
    pytest.param(low, lot, COLUMNS[i], _cell(cell), id=f"{lot}-{COLUMNS[i]}")
    for low, high, _letter, cells in RESOLVED_LEVEL_II
    for lot in ((low, high) if high is not None else (low, 10_000_000))
    for i, cell in enumerate(cells)
]


def test_the_columns_are_the_tables() -> None:
    assert COLUMNS == AQL_COLUMNS


# --- smoke test and Table I ------------------------------------------------------------------


def test_smoke_lot_281_to_500_level_ii_is_h_with_50_and_aql_2_5_is_3_4() -> None:
    assert code_letter(281) == "H"
    assert code_letter(500) == "H"
    assert single_plan(400, "2.5") == Plan(n=50, ac=3, re=4)


@pytest.mark.parametrize(("low", "high", "letter"), [(r[0], r[1], r[2]) for r in RESOLVED_LEVEL_II])
def test_table_i_level_ii_code_letters(low: int, high: int | None, letter: str) -> None:
    assert code_letter(low) == letter
    if high is not None:
        assert code_letter(high) == letter


@pytest.mark.parametrize(
    ("lot", "letter"), [(280, "G"), (281, "H"), (500, "H"), (501, "J"), (1, "A"), (2, "A")]
)
def test_boundary_lot_sizes(lot: int, letter: str) -> None:
    assert code_letter(lot) == letter


def test_boundary_plans_at_280_281_and_500_501() -> None:
    assert single_plan(280, "2.5") == Plan(n=32, ac=2, re=3)
    assert single_plan(281, "2.5") == Plan(n=50, ac=3, re=4)
    assert single_plan(500, "2.5") == Plan(n=50, ac=3, re=4)
    assert single_plan(501, "2.5") == Plan(n=80, ac=5, re=6)


def test_other_inspection_levels_use_their_column() -> None:
    assert code_letter(400, "I") == "F"
    assert code_letter(400, "III") == "J"
    assert code_letter(400, "S-1") == "B"
    with pytest.raises(SamplingError):
        code_letter(400, "IV")


# --- arrows --------------------------------------------------------------------------------------


def test_down_arrow_lot_2_to_8_at_2_5_is_5_0_1_and_100_percent() -> None:
    assert single_plan(2, "2.5") == Plan(n=5, ac=0, re=1, full_inspection=True)
    assert single_plan(5, "2.5") == Plan(n=5, ac=0, re=1, full_inspection=True)
    assert single_plan(8, "2.5") == Plan(n=5, ac=0, re=1, full_inspection=False)


def test_down_arrow_lot_16_to_25_at_6_5_is_8_1_2() -> None:
    assert single_plan(20, "6.5") == Plan(n=8, ac=1, re=2)


def test_down_arrow_lot_35001_to_150000_at_0_065_is_800_1_2() -> None:
    assert single_plan(35_001, "0.065") == Plan(n=800, ac=1, re=2)


def test_up_arrow_lot_10001_to_35000_at_6_5_is_200_21_22() -> None:
    assert single_plan(10_001, "6.5") == Plan(n=200, ac=21, re=22)


def test_up_arrows_chain_lot_500001_and_over_at_4_0_is_315_21_22() -> None:
    assert single_plan(1_000_000, "4.0") == Plan(n=315, ac=21, re=22)


@pytest.mark.parametrize(("low", "lot", "aql", "expected"), RESOLVED_CASES)
def test_resolved_plans_level_ii_whole_table(
    low: int, lot: int, aql: str, expected: tuple[int, int, int, bool]
) -> None:
    plan = single_plan(lot, aql)
    n, ac, re, star = expected
    assert (plan.n, plan.ac, plan.re) == (n, ac, re)
    assert plan.full_inspection == (n >= lot)
    assert star == (n >= low) == single_plan(low, aql).full_inspection


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("aql", ["0.5", "10", "0.01", "x", "-1"])
def test_aql_off_the_table_is_refused(aql: str) -> None:
    with pytest.raises(SamplingError, match="AQL"):
        single_plan(400, aql)


def test_aql_compares_by_value() -> None:
    assert single_plan(400, "4") == single_plan(400, "4.0") == single_plan(400, Decimal("4.00"))


def test_aql_zero_is_for_critical_only() -> None:
    with pytest.raises(SamplingError, match="critical"):
        class_plans(400, {"critical": "0", "major": "0", "minor": "4.0"})


def test_sampling_error_is_a_value_error() -> None:
    assert issubclass(SamplingError, ValueError)
    with pytest.raises(ValueError, match="lot size"):
        code_letter(0)


# --- several classes on one sample ---------------------------------------------------------------

OEM_AQL = {"critical": "0", "major": "2.5", "minor": "4.0"}


def test_default_aqls_lot_400_share_n_50() -> None:
    plans = class_plans(400, OEM_AQL)
    assert plans == {
        "critical": Plan(n=50, ac=0, re=1),
        "major": Plan(n=50, ac=3, re=4),
        "minor": Plan(n=50, ac=5, re=6),
    }
    assert required_sample_size(400, OEM_AQL) == 50


def test_largest_n_wins_and_each_class_uses_the_plan_of_that_row() -> None:
    # Lot 400 (H): 0.65 → 80: 1/2 (J), 2.5 → 50: 3/4; the sample is 80 and 2.5 at J is 5/6.
    plans = class_plans(400, {"critical": "0", "major": "0.65", "minor": "2.5"})
    assert plans["major"] == Plan(n=80, ac=1, re=2)
    assert plans["minor"] == Plan(n=80, ac=5, re=6)
    assert plans["critical"] == Plan(n=80, ac=0, re=1)


def test_an_arrow_at_the_larger_row_keeps_the_class_own_plan() -> None:
    # Lot 40 (D): 2.5 → 5: 0/1 (C), 4.0 → 13: 1/2 (E); at E the 2.5 cell is ↓: major keeps 0/1.
    plans = class_plans(40, OEM_AQL)
    assert plans["major"] == Plan(n=13, ac=0, re=1)
    assert plans["minor"] == Plan(n=13, ac=1, re=2)


def test_all_critical_zero_uses_the_code_letter_n() -> None:
    assert required_sample_size(400, {"critical": "0", "major": "0.065", "minor": "0.065"}) == 200


def test_accept_at_ac_and_reject_at_re() -> None:
    at_ac = {"critical": 0, "major": 3, "minor": 5}
    assert sample_accepts(400, 50, at_ac, OEM_AQL)
    assert not sample_accepts(400, 50, {**at_ac, "major": 4}, OEM_AQL)
    assert not sample_accepts(400, 50, {**at_ac, "minor": 6}, OEM_AQL)
    assert not sample_accepts(400, 50, {**at_ac, "critical": 1}, OEM_AQL)


def test_wrong_sample_size_is_refused() -> None:
    with pytest.raises(SamplingError, match="needs a sample of 50"):
        sample_accepts(400, 80, {"critical": 0, "major": 0, "minor": 0}, OEM_AQL)


def test_100_percent_inspection_uses_the_full_count_rule() -> None:
    # Lot 5 (A): major 2.5 → 5: 0/1, minor 4.0 → 3: 0/1; the largest n 5 ≥ 5: the whole lot.
    assert required_sample_size(5, OEM_AQL) == 5
    assert sample_accepts(5, 5, {"critical": 0, "major": 0, "minor": 0}, OEM_AQL)
    # full count: 1 × 100 > 2.5 × 5
    assert not sample_accepts(5, 5, {"critical": 0, "major": 1, "minor": 0}, OEM_AQL)
    with pytest.raises(SamplingError):
        sample_accepts(5, 3, {"critical": 0, "major": 0, "minor": 0}, OEM_AQL)


def test_sampled_release_needs_the_quantity_too() -> None:
    clean = {"critical": 0, "major": 3, "minor": 5}
    assert sample_release_allowed(390, 390, 50, clean, OEM_AQL)
    assert not sample_release_allowed(400, 390, 50, clean, OEM_AQL)
