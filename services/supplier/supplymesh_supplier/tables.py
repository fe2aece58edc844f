"""The supplier's data-management system (DMS) tables.

Times of readings are kept as integer microseconds since the epoch (UTC) and process
times as integer microseconds, so that efficiency sums are exact in SQL.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from supplymesh.storage.tables import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

dms_profile = Table(
    "dms_profile",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("machines", Integer, nullable=False),
    Column("hours_per_day", String(40), nullable=False),
    Column("baseline_efficiency", String(40), nullable=False),
    Column("queued_machine_hours", String(40), nullable=False),
    Column("products", Text, nullable=False),
    Column("updated", String(32), nullable=False),
)

dms_sensors = Table(
    "dms_sensors",
    metadata,
    Column("sensor_id", String(128), primary_key=True),
    Column("process", String(128), nullable=False),
    Column("target", String(40), nullable=False),
    Column("tolerance", String(40), nullable=False),
    Column("defect_class", String(16), nullable=False),
    Column("standard_seconds", String(40), nullable=False),
    Column("registered", String(32), nullable=False),
)

dms_readings = Table(
    "dms_readings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sensor_id", String(128), nullable=False),
    Column("unit_id", String(128), nullable=False),
    Column("order_id", String(128), nullable=False),
    Column("value", String(40), nullable=False),
    Column("started_us", BigInteger, nullable=False),
    Column("ended_us", BigInteger, nullable=False),
    Column("standard_us", BigInteger, nullable=False),
    Column("actual_us", BigInteger, nullable=False),
    Column("approved", Integer, nullable=False),
    Column("defect_class", String(16), nullable=True),
)
Index("ix_dms_readings_order", dms_readings.c.order_id)
Index("ix_dms_readings_ended", dms_readings.c.ended_us)
