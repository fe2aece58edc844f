"""The OEM node's tables: its demands, escrows and offers."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text

from supplymesh.storage.tables import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

demands = Table(
    "demands",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("terms", Text, nullable=False),
    Column("status", String(24), nullable=False),
    Column("detail", Text, nullable=True),
    Column("network_seq", BigInteger, nullable=True),
    Column("network_hash", String(64), nullable=True),
    Column("decision_id", String(64), nullable=True),
    Column("created", String(32), nullable=False),
)

escrows = Table(
    "escrows",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("demand_id", String(64), nullable=True),
    Column("offer_id", String(64), nullable=True),
    Column("supplier", String(128), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("state", String(20), nullable=False),
    Column("payment_reference", String(255), nullable=True),
    Column("created", String(32), nullable=False),
)

offers = Table(
    "offers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("product", String(128), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("defects", Text, nullable=False),
    Column("unit_price", Text, nullable=False),
    Column("state", String(20), nullable=False),
    Column("created", String(32), nullable=False),
)
