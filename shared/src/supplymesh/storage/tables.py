"""Tables common to every node: ledgers, entries, idempotency records, peer nonces.

``ledger_entries`` is the append-only table: one row per entry, holding the entry's
canonical JSON and the canonical JSON of the signatures it was appended with. The
``ledgers`` table names the ledgers held (and carries the per-ledger lock on
PostgreSQL); its ``size`` and ``head_hash`` columns record the empty state at creation
and are not kept current: heads come from the entries themselves.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ledgers = Table(
    "ledgers",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("ledger", String(128), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("prev", String(64), nullable=False),
    Column("kind", String(128), nullable=False),
    Column("author", String(128), nullable=False),
    Column("time", String(32), nullable=False),
    Column("entry", Text, nullable=False),
    Column("signatures", Text, nullable=False),
    Column("leaf_hash", String(64), nullable=False),
)
Index("ix_ledger_entries_kind", ledger_entries.c.ledger, ledger_entries.c.kind)

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("client", String(128), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("method", String(8), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created", String(32), nullable=False),
)

peer_nonces = Table(
    "peer_nonces",
    metadata,
    Column("sender", String(128), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("created_epoch", BigInteger, nullable=False, index=True),
)

APPEND_ONLY_TABLES = ("ledger_entries",)
