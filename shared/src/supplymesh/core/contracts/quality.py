"""Algorithm 4 of the paper: release or refund on the lot's quality (SPEC §6).

Release if produced quantity ≥ ordered quantity and, for every defect class,
defective × 100 ≤ AQL × produced; otherwise refund the buyer in full and re-offer the
lot. The same exact test decides whether another buyer's AQL accepts a re-offered lot.
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


def release_allowed(
    ordered: int, produced: int, defects: Mapping[str, int], aql: Mapping[str, Decimal]
) -> bool:
    """The release rule: enough units, and the lot passes the buyer's AQL."""
    return produced >= ordered and lot_passes(produced, defects, aql)
