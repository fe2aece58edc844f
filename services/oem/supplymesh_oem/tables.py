"""The OEM node's tables: its demands as submitted.

Escrows and offers are not kept here: they are read from the node's replica of the
network ledger, which is the one record of them.
"""

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
