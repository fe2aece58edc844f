"""The exact AQL test of SPEC §6: defective × 100 ≤ AQL × produced, for every class.

Shared by Algorithm 4 (a fully counted lot, :mod:`supplymesh.core.contracts.quality`) and
by ISO 2859-1 sampling when the sample is the whole lot
(:mod:`supplymesh.core.contracts.sampling`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from supplymesh.core.contracts.dms import DEFECT_CLASSES
from supplymesh.core.numbers import EXACT


def lot_passes(produced: int, defects: Mapping[str, int], aql: Mapping[str, Decimal]) -> bool:
    """Every class within its AQL: defective × 100 ≤ AQL × produced."""
    for defect_class in DEFECT_CLASSES:
        name = str(defect_class)
        if Decimal(defects.get(name, 0)) * 100 > EXACT.multiply(aql[name], Decimal(produced)):
            return False
    return True
