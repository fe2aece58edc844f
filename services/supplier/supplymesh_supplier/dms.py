"""The supplier's DMS service: profile, sensors, batch ingestion (Algorithm 1), capacity.

Ingestion is the hot path: a batch is evaluated in memory with the pure Algorithm 1 and
written with one multi-row insert in one transaction.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from supplymesh.core.contracts.capacity import WINDOW, Capacity, PlantProfile, capacity
from supplymesh.core.contracts.dms import DefectClass, Reading, SensorSpec, defective_units, evaluate
from supplymesh.errors import Conflict
from supplymesh.network.replica import NetworkReplica
from supplymesh.node.context import Node
from supplymesh.storage.engine import read_transaction, write_transaction
from supplymesh.storage.idempotency import respond_in
from supplymesh_supplier.models import (
    ProfileIn,
    ProfileOut,
    ReadingsIn,
    ReadingsOut,
    RejectedReading,
    SensorIn,
    SensorsIn,
    SensorsOut,
)
from supplymesh_supplier.tables import dms_profile, dms_readings, dms_sensors

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICRO = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """Exact microseconds since the epoch."""
    return (moment - EPOCH) // MICRO


class Dms:
    """DMS operations of one supplier node."""

    def __init__(self, node: Node, replica: NetworkReplica) -> None:
        self.node = node
        self.replica = replica
        self._sensors: dict[str, SensorSpec] | None = None
        self._sensor_lock = threading.Lock()
        self.dirty = threading.Event()

    # -- profile -------------------------------------------------------------------------

    def profile(self) -> ProfileOut | None:
        """The stored plant profile, if set."""
        with read_transaction(self.node.engine) as conn:
            row = conn.execute(select(dms_profile).where(dms_profile.c.id == 1)).one_or_none()
        if row is None:
            return None
        return ProfileOut(
            machines=row.machines,
            hours_per_day=row.hours_per_day,
            baseline_efficiency=row.baseline_efficiency,
            queued_machine_hours=row.queued_machine_hours,
            products=json.loads(row.products),
            updated=row.updated,
        )

    def put_profile(self, profile: ProfileIn) -> ProfileOut:
        """Replace the plant profile."""
        values = {
            **profile.model_dump(),
            "products": json.dumps(profile.products),
            "updated": self.node.now_text(),
        }
        with write_transaction(self.node.engine) as conn:
            if conn.execute(select(dms_profile.c.id).where(dms_profile.c.id == 1)).first() is None:
                conn.execute(insert(dms_profile).values(id=1, **values))
            else:
                conn.execute(dms_profile.update().where(dms_profile.c.id == 1).values(**values))
        self.dirty.set()
        result = self.profile()
        assert result is not None
        return result

    # -- sensors -------------------------------------------------------------------------

    def sensors(self) -> dict[str, SensorSpec]:
        """Registered sensors by id (cached; the cache is rebuilt on registration)."""
        with self._sensor_lock:
            if self._sensors is None:
                with read_transaction(self.node.engine) as conn:
                    rows = conn.execute(select(dms_sensors)).all()
                self._sensors = {r.sensor_id: _spec(r) for r in rows}
            return self._sensors

    def register(self, batch: SensorsIn) -> SensorsOut:
        """Register sensors; re-registering one with the same specification is a no-op.

        Raises:
            Conflict: if a sensor id is registered with a different specification, or
                repeated in the batch with different specifications.
        """
        fresh, unchanged = self._unregistered(batch)
        out = SensorsOut(registered=len(fresh), unchanged=unchanged)
        if fresh:
            self._store_sensors(fresh, out)
        return out

    def _unregistered(self, batch: SensorsIn) -> tuple[list[SensorIn], int]:
        """The batch's sensors not registered yet, and how many are registered unchanged."""
        known = self.sensors()
        fresh: dict[str, SensorIn] = {}
        unchanged = 0
        for sensor in batch.sensors:
            spec = _spec_in(sensor)
            if sensor.id in fresh and fresh[sensor.id] != sensor:
                raise Conflict(f"sensor {sensor.id!r} appears twice with different specifications")
            if sensor.id in known:
                if known[sensor.id] != spec:
                    raise Conflict(f"sensor {sensor.id!r} is registered with a different specification")
                unchanged += 1
                continue
            fresh[sensor.id] = sensor
        return list(fresh.values()), unchanged

    def _store_sensors(self, sensors: Sequence[SensorIn], out: SensorsOut) -> None:
        """Insert ``sensors`` with the route's answer ``out``, then drop the sensor cache."""
        now = self.node.now_text()
        with write_transaction(self.node.engine) as conn:
            conn.execute(
                insert(dms_sensors),
                [
                    {
                        "sensor_id": s.id,
                        "process": s.process,
                        "target": s.target,
                        "tolerance": s.tolerance,
                        "defect_class": s.defect_class,
                        "standard_seconds": s.standard_seconds,
                        "registered": now,
                    }
                    for s in sensors
                ],
            )
            respond_in(conn, out)  # a keyed retry after a crash gets this very answer
        with self._sensor_lock:
            self._sensors = None

    # -- readings (Algorithm 1) ------------------------------------------------------------

    def _standard_micros(self) -> dict[str, int]:
        return {sid: int(spec.standard_seconds * 1_000_000) for sid, spec in self.sensors().items()}

    def ingest(self, batch: ReadingsIn) -> ReadingsOut:
        """Evaluate a batch and record every reading from a registered sensor."""
        readings = [
            Reading(r.sensor_id, r.unit_id, r.order_id, r.value, r.start, r.end) for r in batch.readings
        ]
        accepted, rejected = evaluate(readings, self.sensors())
        standard = self._standard_micros()
        rows = []
        for ev in accepted:
            reading = ev.reading
            start_us, end_us = micros(reading.start), micros(reading.end)
            rows.append(
                (
                    reading.sensor_id,
                    reading.unit_id,
                    reading.order_id,
                    format(reading.value, "f"),
                    start_us,
                    end_us,
                    standard[reading.sensor_id],
                    end_us - start_us,
                    1 if ev.approved else 0,
                    None if ev.approved else str(ev.spec.defect_class),
                )
            )
        approved = sum(1 for ev in accepted if ev.approved)
        out = ReadingsOut(
            accepted=len(accepted),
            approved=approved,
            issues=len(accepted) - approved,
            rejected=[
                RejectedReading(index=r.index, sensor_id=r.sensor_id, reason=r.reason) for r in rejected
            ],
        )
        if rows:
            with write_transaction(self.node.engine) as conn:
                _insert_readings(conn, rows)
                respond_in(conn, out)  # a keyed retry after a crash gets this very answer
            self.dirty.set()
        return out

    # -- capacity and quality (Algorithm 2 inputs) ---------------------------------------------

    def capacity(self) -> Capacity | None:
        """Current capacity from the profile and the runs of the last 30 days."""
        profile = self.profile()
        if profile is None:
            return None
        since = micros(self.node.clock() - WINDOW)
        with read_transaction(self.node.engine) as conn:
            standard, actual = conn.execute(
                select(
                    func.coalesce(func.sum(dms_readings.c.standard_us), 0),
                    func.coalesce(func.sum(dms_readings.c.actual_us), 0),
                ).where(dms_readings.c.ended_us >= since)
            ).one()
        plant = PlantProfile(
            machines=profile.machines,
            hours_per_day=Decimal(profile.hours_per_day),
            baseline_efficiency=Decimal(profile.baseline_efficiency),
            queued_machine_hours=Decimal(profile.queued_machine_hours),
            products=tuple(profile.products),
        )
        return capacity(plant, totals=(Decimal(int(standard)), Decimal(int(actual))))

    def open_network_hours(self) -> Decimal:
        """Machine-hours of this supplier's allocations that are open on the network ledger."""
        return self.replica.state.open_hours().get(self.node.id, Decimal(0))

    def lot_quality(self, order_id: str) -> tuple[int, dict[str, int]]:
        """(distinct units measured, defective units per class) from the order's readings."""
        with read_transaction(self.node.engine) as conn:
            units = conn.execute(
                select(func.count(func.distinct(dms_readings.c.unit_id))).where(
                    dms_readings.c.order_id == order_id
                )
            ).scalar_one()
            issues = conn.execute(
                select(dms_readings.c.unit_id, dms_readings.c.defect_class)
                .where(dms_readings.c.order_id == order_id, dms_readings.c.approved == 0)
                .distinct()
            ).all()
        return int(units), defective_units((r.unit_id, DefectClass(r.defect_class)) for r in issues)


def _insert_readings(conn: Connection, rows: Sequence[tuple[object, ...]]) -> None:
    columns = (
        "sensor_id",
        "unit_id",
        "order_id",
        "value",
        "started_us",
        "ended_us",
        "standard_us",
        "actual_us",
        "approved",
        "defect_class",
    )
    if conn.dialect.name == "sqlite":
        # Same transaction, DBAPI executemany: the hot path of ingestion (benchmarks/README.md).
        sql = f"INSERT INTO dms_readings ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
        conn.connection.dbapi_connection.executemany(sql, rows)  # type: ignore[union-attr]
        return
    conn.execute(insert(dms_readings), [dict(zip(columns, row, strict=True)) for row in rows])


def _spec(row: Row[Any]) -> SensorSpec:
    return SensorSpec(
        sensor_id=row.sensor_id,
        process=row.process,
        target=Decimal(row.target),
        tolerance=Decimal(row.tolerance),
        defect_class=DefectClass(row.defect_class),
        standard_seconds=Decimal(row.standard_seconds),
    )


def _spec_in(sensor: SensorIn) -> SensorSpec:
    return SensorSpec(
        sensor_id=sensor.id,
        process=sensor.process,
        target=Decimal(sensor.target),
        tolerance=Decimal(sensor.tolerance),
        defect_class=DefectClass(sensor.defect_class),
        standard_seconds=Decimal(sensor.standard_seconds),
    )
