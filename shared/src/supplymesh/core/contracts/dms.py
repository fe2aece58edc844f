"""Algorithm 1 of the paper: the supplier's data-management system (DMS).

For each reading: reject it if its sensor is not registered; otherwise compare the value
with target ± tolerance and record a quality approval, or a quality issue of the sensor's
defect class, for the product unit, together with the process start and end times.
Lot quality per order counts, per defect class, the distinct product units with at least
one issue of that class (ISO 2859-1's "defective unit" of a class).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from supplymesh.core.numbers import EXACT


class DefectClass(StrEnum):
    """ISO 2859-1 style classes; each has its own AQL."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


DEFECT_CLASSES: tuple[DefectClass, ...] = (DefectClass.CRITICAL, DefectClass.MAJOR, DefectClass.MINOR)


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """A registered sensor: the process it watches and that process's specification."""

    sensor_id: str
    process: str
    target: Decimal
    tolerance: Decimal
    defect_class: DefectClass
    standard_seconds: Decimal


@dataclass(frozen=True, slots=True)
class Reading:
    """One measurement of one product unit in one process run."""

    sensor_id: str
    unit_id: str
    order_id: str
    value: Decimal
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Outcome of Algorithm 1 for a reading from a registered sensor."""

    reading: Reading
    spec: SensorSpec
    approved: bool

    @property
    def actual_seconds(self) -> Decimal:
        """Process time of the run, exact to the microsecond."""
        delta = self.reading.end - self.reading.start
        return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A reading refused, with the reason."""

    index: int
    sensor_id: str
    reason: str


def within_spec(value: Decimal, spec: SensorSpec) -> bool:
    """True if ``value`` lies in [target − tolerance, target + tolerance]."""
    low = EXACT.subtract(spec.target, spec.tolerance)
    high = EXACT.add(spec.target, spec.tolerance)
    return low <= value <= high


def evaluate(
    readings: Iterable[Reading], sensors: Mapping[str, SensorSpec]
) -> tuple[list[Evaluation], list[Rejection]]:
    """Algorithm 1 over a batch: evaluations for known sensors, rejections for the rest."""
    accepted: list[Evaluation] = []
    rejected: list[Rejection] = []
    for index, reading in enumerate(readings):
        spec = sensors.get(reading.sensor_id)
        if spec is None:
            rejected.append(
                Rejection(index, reading.sensor_id, f"sensor {reading.sensor_id!r} is not registered")
            )
            continue
        if reading.end < reading.start:
            rejected.append(Rejection(index, reading.sensor_id, "process end is before its start"))
            continue
        accepted.append(Evaluation(reading, spec, within_spec(reading.value, spec)))
    return accepted, rejected


def defective_units(issues: Iterable[tuple[str, DefectClass]]) -> dict[str, int]:
    """Per defect class, the number of distinct units with an issue of that class."""
    units: dict[DefectClass, set[str]] = {c: set() for c in DEFECT_CLASSES}
    for unit_id, defect_class in issues:
        units[defect_class].add(unit_id)
    return {str(c): len(units[c]) for c in DEFECT_CLASSES}
