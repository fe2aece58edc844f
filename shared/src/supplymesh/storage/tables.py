"""Tables common to every node: ledgers, entries, idempotency records, channel state.

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

late_signatures = Table(
    "late_signatures",
    metadata,
    Column("ledger", String(128), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("signer", String(128), primary_key=True),
    Column("sig", String(128), nullable=False),
    Column("received", String(32), nullable=False),
)
"""Countersignatures that arrived after their entry was appended (SPEC §2: the entry
is completed when the counterpart returns). Append-only; not part of the Merkle leaf."""

countersigned = Table(
    "countersigned",
    metadata,
    Column("ledger", String(128), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("sig", String(128), nullable=False),
)
"""What this member countersigned, so it never countersigns two entries for one seq."""

pending_entries = Table(
    "pending_entries",
    metadata,
    Column("ledger", String(128), primary_key=True),
    Column("entry", Text, nullable=False),
    Column("signature", String(128), nullable=False),
)
"""This member's own signed entry awaiting its counterpart, kept across restarts so the
same entry (never a different one for that seq) is offered again."""

pending_blocks = Table(
    "pending_blocks",
    metadata,
    Column("ledger", String(128), primary_key=True),
    Column("entries", Text, nullable=False),
    Column("signatures", Text, nullable=False),
)
"""The PDU's block of decisions offered for a quorum and not yet committed (JSON lists of
canonical entries and of its own signatures), kept across restarts so the same block, never
a different one for those seqs, is offered again."""

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created", String(32), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", BigInteger, nullable=False),
    Column("done", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
)
Index("ix_outbox_due", outbox.c.done, outbox.c.next_attempt)
Index("uq_outbox_task_key", outbox.c.task, outbox.c.key, unique=True)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type", String(64), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("data", Text, nullable=False),
    Column("created", String(32), nullable=False),
)

APPEND_ONLY_TABLES = ("ledger_entries", "late_signatures", "countersigned", "events")
