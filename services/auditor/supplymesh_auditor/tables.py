"""The auditor's tables: reports, every signed tree head it has seen, verified copies."""

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

# What incremental audits build on. Each (holder, ledger) copy that verified is kept:
# its entries as canonical Merkle leaves, and the holder's signed tree head they give,
# so a stored copy proves itself against the holder's signature and the auditor's own
# database is never trusted blindly. Rows not covered by a holder's signature carry the
# auditor's signature (``signature``), checked before use.
audit_copies = Table(
    "audit_copies",
    metadata,
    Column("holder", String(128), primary_key=True),
    Column("ledger", String(128), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", String(64), nullable=False),
    Column("tree_head", Text, nullable=False),
    Column("missing_countersignatures", Text, nullable=False),
    Column("verified", String(32), nullable=False),
    Column("signature", Text, nullable=False),
)

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("holder", String(128), primary_key=True),
    Column("ledger", String(128), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf", Text, nullable=False),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("ledger", String(128), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", String(64), nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("findings", Text, nullable=False),
    Column("signature", Text, nullable=False),
)
