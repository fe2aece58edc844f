"""Auditor state for incremental audits: verified copies, their leaves, checkpoints.

Revision ID: 0002_auditor_incremental
Branch: auditor
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_auditor_incremental"
down_revision: str | None = "0001_auditor"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create this revision's tables."""
    op.create_table(
        "audit_checkpoints",
        sa.Column("ledger", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("ledger", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_copies",
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("ledger", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("tree_head", sa.Text(), nullable=False),
        sa.Column("missing_countersignatures", sa.Text(), nullable=False),
        sa.Column("verified", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("holder", "ledger", name=op.f("pk_audit_copies")),
    )
    op.create_table(
        "audit_entries",
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("ledger", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("holder", "ledger", "seq", name=op.f("pk_audit_entries")),
    )


def downgrade() -> None:
    """Drop this revision's tables."""
    op.drop_table("audit_entries")
    op.drop_table("audit_copies")
    op.drop_table("audit_checkpoints")
