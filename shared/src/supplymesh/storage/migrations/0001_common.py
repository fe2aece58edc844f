"""Common node schema: ledgers, entries, idempotency, channel and outbox state.

Revision ID: 0001_common
Branch: common
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from supplymesh.storage.schema import drop_trigger_statements, trigger_statements

revision = "0001_common"
down_revision: str | None = None
branch_labels = ("common",)
depends_on: str | None = None

# Tables this revision creates: a database made before migrations is adopted at this
# revision when it holds exactly these (see supplymesh.storage.migrate).
# The tables made append-only by triggers, as of this revision.
APPEND_ONLY = ("ledger_entries", "late_signatures", "countersigned", "events")

CREATES = (
    "countersigned",
    "events",
    "idempotency_records",
    "late_signatures",
    "ledger_entries",
    "ledgers",
    "outbox",
    "pending_entries",
)


# size: the whole initial schema as Alembic generated it, one table after another
def upgrade() -> None:
    """Create this revision's tables."""
    op.create_table(
        "countersigned",
        sa.Column("ledger", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("sig", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("ledger", "seq", name=op.f("pk_countersigned")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_table(
        "idempotency_records",
        sa.Column("client", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("client", "key", name=op.f("pk_idempotency_records")),
    )
    op.create_table(
        "late_signatures",
        sa.Column("ledger", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("signer", sa.String(length=128), nullable=False),
        sa.Column("sig", sa.String(length=128), nullable=False),
        sa.Column("received", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("ledger", "seq", "signer", name=op.f("pk_late_signatures")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("ledger", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("prev", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=128), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("time", sa.String(length=32), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("signatures", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("ledger", "seq", name=op.f("pk_ledger_entries")),
    )
    op.create_index("ix_ledger_entries_kind", "ledger_entries", ["ledger", "kind"], unique=False)
    op.create_table(
        "ledgers",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ledgers")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_due", "outbox", ["done", "next_attempt"], unique=False)
    op.create_index("uq_outbox_task_key", "outbox", ["task", "key"], unique=True)
    op.create_table(
        "pending_entries",
        sa.Column("ledger", sa.String(length=128), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("ledger", name=op.f("pk_pending_entries")),
    )
    for statement in trigger_statements(op.get_bind().dialect.name, APPEND_ONLY):
        op.get_bind().exec_driver_sql(statement)


def downgrade() -> None:
    """Drop this revision's tables."""
    for statement in drop_trigger_statements(op.get_bind().dialect.name, APPEND_ONLY):
        op.get_bind().exec_driver_sql(statement)
    op.drop_table("pending_entries")
    op.drop_index("uq_outbox_task_key", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("ledgers")
    op.drop_index("ix_ledger_entries_kind", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("late_signatures")
    op.drop_table("idempotency_records")
    op.drop_table("events")
    op.drop_table("countersigned")
