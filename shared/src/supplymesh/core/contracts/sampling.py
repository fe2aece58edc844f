"""ISO 2859-1 single sampling plans, normal inspection (SPEC §6, beyond the paper).

Pure and exact: lot size and inspection level give a sample-size code letter
(Table I); the letter gives the sample size n; n and the AQL give the acceptance
number Ac and the rejection number Re = Ac + 1 (Table II-A). An arrow in Table II-A
sends the lookup to the first plan below (↓) or above (↑) it, and the sample size is
then that row's n. When n ≥ lot size the plan is 100 % inspection.

Several defect classes, one sample. Each class with a table AQL resolves its own plan;
the supplier must draw the **largest n** among those plans (the *required sample
size*). Each class is then judged with the Table II-A plan in its AQL column at the row
of that n when that cell is a plan; when the cell is an arrow, by the class's own
resolved plan (a plan for a smaller sample applied to counts in the larger one: never
looser). AQL "0" (critical) is not a column: Ac 0 / Re 1 on the sample drawn for the
other classes (the lot's code-letter n when no class has a table AQL). When the
required sample size is ≥ the lot size, the whole lot is inspected: the required
sample size is the lot size and the full-count rule of
:mod:`supplymesh.core.contracts.quality` decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from supplymesh.core.contracts.aql import lot_passes
from supplymesh.core.contracts.dms import DEFECT_CLASSES
from supplymesh.core.contracts.sampling_tables import (
    AQL_COLUMNS,
    CODE_LETTERS,
    DOWN,
    SAMPLE_SIZES,
    TABLE_I,
    TABLE_II_A,
    UP,
)

NORMAL_LEVEL = "II"
LEVELS = ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")


class SamplingError(ValueError):
    """No single sampling plan fits (an AQL off the table, a lot size below 1, a wrong sample size)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """A single sampling plan: draw n, accept with ≤ Ac defects, reject with ≥ Re."""

    n: int
    ac: int
    re: int
    full_inspection: bool = False

    def accepts(self, defects: int) -> bool:
        """True if ``defects`` in the sample accept the lot."""
        return defects <= self.ac


def code_letter(lot_size: int, level: str = NORMAL_LEVEL) -> str:
    """Table I: the sample-size code letter of a lot size at an inspection level.

    Raises:
        SamplingError: lot size below 1 or an unknown level.
    """
    if level not in LEVELS:
        raise SamplingError(f"unknown inspection level {level!r}")
    if isinstance(lot_size, bool) or not isinstance(lot_size, int) or lot_size < 1:
        raise SamplingError(f"lot size must be a positive integer, not {lot_size!r}")
    column = LEVELS.index(level)
    letters = TABLE_I[0][1]
    for smallest, row in TABLE_I:
        if lot_size < smallest:
            break
        letters = row
    return letters[column]


def aql_column(aql: str | Decimal) -> int:
    """Index of a table AQL column (compared by value: "4" is "4.0").

    Raises:
        SamplingError: not one of the table's AQL values.
    """
    try:
        value = Decimal(aql)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise SamplingError(f"AQL {aql!r} is not a decimal") from exc
    for index, column in enumerate(AQL_COLUMNS):
        if value == Decimal(column):
            return index
    raise SamplingError(f"AQL {aql} is not a column of ISO 2859-1 Table II-A ({', '.join(AQL_COLUMNS)})")


def _resolve(letter: str, column: int) -> tuple[str, int]:
    """Follow the arrows from (letter, column) to a plan: (its letter, Ac)."""
    row = CODE_LETTERS.index(letter)
    while True:
        cell = TABLE_II_A[CODE_LETTERS[row]][column]
        if cell == DOWN:
            row += 1
        elif cell == UP:
            row -= 1
        else:
            assert isinstance(cell, int)
            return CODE_LETTERS[row], cell


def single_plan(lot_size: int, aql: str | Decimal, level: str = NORMAL_LEVEL) -> Plan:
    """The single sampling plan, normal inspection, for one AQL (arrows followed).

    Raises:
        SamplingError: lot size below 1 or an AQL off the table.
    """
    letter, ac = _resolve(code_letter(lot_size, level), aql_column(aql))
    n = SAMPLE_SIZES[letter]
    return Plan(n=n, ac=ac, re=ac + 1, full_inspection=n >= lot_size)


def _is_zero(aql: str | Decimal) -> bool:
    try:
        return Decimal(aql) == 0
    except (InvalidOperation, TypeError, ValueError):
        return False


def class_plans(
    lot_size: int, aql: Mapping[str, str | Decimal], level: str = NORMAL_LEVEL
) -> dict[str, Plan]:
    """The plan each defect class is judged by, all on the one required sample.

    All plans share the same n: the required sample size (see the module docstring);
    when it is ≥ the lot size every plan is 100 % inspection with n = the lot size.

    Raises:
        SamplingError: an AQL off the table (AQL 0 is allowed for critical only).
    """
    own: dict[str, Plan] = {}
    for defect_class in DEFECT_CLASSES:
        name = str(defect_class)
        value = aql[name]
        if _is_zero(value):
            if name != "critical":
                raise SamplingError(f"AQL 0 is a critical class setting, not a {name} one")
            continue
        own[name] = single_plan(lot_size, value, level)
    n = max((p.n for p in own.values()), default=SAMPLE_SIZES[code_letter(lot_size, level)])
    full = n >= lot_size
    row = next(letter for letter, size in SAMPLE_SIZES.items() if size == n)
    plans: dict[str, Plan] = {}
    for defect_class in DEFECT_CLASSES:
        name = str(defect_class)
        if name not in own:
            ac = 0
        else:
            cell = TABLE_II_A[row][aql_column(aql[name])]
            ac = cell if isinstance(cell, int) else own[name].ac
        plans[name] = Plan(n=lot_size if full else n, ac=ac, re=ac + 1, full_inspection=full)
    return plans


def required_sample_size(lot_size: int, aql: Mapping[str, str | Decimal], level: str = NORMAL_LEVEL) -> int:
    """The sample the supplier must inspect: the largest n of the classes' plans, capped at the lot size.

    Raises:
        SamplingError: an AQL off the table or a lot size below 1.
    """
    return next(iter(class_plans(lot_size, aql, level).values())).n


def check_sample_size(lot_size: object, sample_size: object, aql: Mapping[str, str | Decimal]) -> int:
    """The reported sample size, if it is the one the buyer's AQLs require for the lot.

    Raises:
        SamplingError: not a positive integer, or not the required sample size.
    """
    for name, value in (("lot size", lot_size), ("sample_size", sample_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SamplingError(f"{name} must be a positive integer, not {value!r}")
    assert isinstance(lot_size, int) and isinstance(sample_size, int)
    required = required_sample_size(lot_size, aql)
    if sample_size != required:
        raise SamplingError(
            f"a lot of {lot_size} at AQL {_aql_text(aql)} needs a sample of {required}, not {sample_size}"
        )
    return sample_size


def _aql_text(aql: Mapping[str, str | Decimal]) -> str:
    return ", ".join(f"{c} {aql[str(c)]}" for c in DEFECT_CLASSES)


def sample_accepts(
    lot_size: int,
    sample_size: int,
    defects: Mapping[str, int],
    aql: Mapping[str, str | Decimal],
    level: str = NORMAL_LEVEL,
) -> bool:
    """Judge a sample inspection: every class's defects in the sample ≤ its Ac.

    When the plan is 100 % inspection (required sample = lot size), the full-count rule
    decides: defective × 100 ≤ AQL × lot size.

    Raises:
        SamplingError: the sample size is not the required one, or no plan fits.
    """
    plans = class_plans(lot_size, aql, level)
    required = next(iter(plans.values())).n
    if sample_size != required:
        raise SamplingError(
            f"a lot of {lot_size} at AQL {_aql_text(aql)} needs a sample of {required}, not {sample_size}"
        )
    if required >= lot_size:
        return lot_passes(lot_size, defects, {k: Decimal(v) for k, v in aql.items()})
    return all(plans[str(c)].accepts(int(defects.get(str(c), 0))) for c in DEFECT_CLASSES)


def sample_release_allowed(
    ordered: int,
    produced: int,
    sample_size: int,
    defects: Mapping[str, int],
    aql: Mapping[str, str | Decimal],
) -> bool:
    """The release rule for a sampled lot: enough units, and the sample accepts the lot.

    Raises:
        SamplingError: the sample size is not the required one, or no plan fits.
    """
    accepted = sample_accepts(produced, sample_size, defects, aql)
    return produced >= ordered and accepted
