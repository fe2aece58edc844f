"""Algorithm 2 of the paper: the supplier's capacity attestation (SPEC §4).

Process efficiency E = Σ standard times / Σ actual times over the completed process
runs of the last 30 days, clamped to at most 1 and written to 6 decimal places
(half-even); the baseline efficiency before any run. Machine-hour capacity per day
MHCp = E × machines × working hours per day, computed from the written E.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from supplymesh.core.numbers import EXACT, format_decimal, quantize6

WINDOW = timedelta(days=30)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class PlantProfile:
    """What the supplier declares about its plant."""

    machines: int
    hours_per_day: Decimal
    baseline_efficiency: Decimal
    queued_machine_hours: Decimal
    products: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Capacity:
    """The attested figures (network-visible by design, SPEC §2)."""

    efficiency: Decimal
    mhc_per_day: Decimal
    queued_machine_hours: Decimal
    products: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        """Wire form: decimals as canonical strings."""
        return {
            "efficiency": format_decimal(self.efficiency),
            "mhc_per_day": format_decimal(self.mhc_per_day),
            "queued_machine_hours": format_decimal(self.queued_machine_hours),
            "products": list(self.products),
        }


def efficiency(standard_total: Decimal, actual_total: Decimal, baseline: Decimal) -> Decimal:
    """E written to 6 places: Σ standard / Σ actual clamped to ≤ 1, or the baseline."""
    if actual_total <= 0:
        return quantize6(min(baseline, ONE))
    return quantize6(min(EXACT.divide(standard_total, actual_total), ONE))


def capacity(
    profile: PlantProfile,
    runs: Sequence[tuple[Decimal, Decimal]] | None = None,
    *,
    totals: tuple[Decimal, Decimal] | None = None,
) -> Capacity:
    """Capacity from the profile and the (standard, actual) seconds of recent runs."""
    if totals is None:
        standard = sum((s for s, _ in runs or ()), Decimal(0))
        actual = sum((a for _, a in runs or ()), Decimal(0))
    else:
        standard, actual = totals
    e = efficiency(standard, actual, profile.baseline_efficiency)
    mhc = EXACT.multiply(EXACT.multiply(e, Decimal(profile.machines)), profile.hours_per_day)
    return Capacity(
        efficiency=e,
        mhc_per_day=mhc,
        queued_machine_hours=profile.queued_machine_hours,
        products=tuple(sorted(profile.products)),
    )


def made_for(body: Mapping[str, Any], demand: str) -> bool:
    """True if a capacity attestation body answers the challenge of ``demand``.

    One attestation answers one demand (``demand``) or every demand of a round that
    names the supplier (``demands``); capacity is never counted twice for them, since
    each split subtracts the network hours the earlier ones took.
    """
    if body.get("demand") == demand:
        return True
    demands = body.get("demands")
    return isinstance(demands, list | tuple) and demand in demands
