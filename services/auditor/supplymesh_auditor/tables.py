"""The auditor's tables: reports, and every signed tree head it has seen."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text

from supplymesh.storage.tables import NAMING_CONVENTION

metadata = MetaData(naming_convention=NAMING_CONVENTION)

audit_reports = Table(
    "audit_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mode", String(16), nullable=False),
    Column("ok", Integer, nullable=False),
    Column("started", String(32), nullable=False),
    Column("finished", String(32), nullable=False),
    Column("report", Text, nullable=False),
)

seen_heads = Table(
    "seen_heads",
    metadata,
    Column("holder", String(128), primary_key=True),
    Column("ledger", String(128), primary_key=True),
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("tree_head", Text, nullable=False),
    Column("seen", String(32), nullable=False),
)
