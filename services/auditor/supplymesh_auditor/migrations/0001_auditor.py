"""Auditor reports and the tree heads it has seen.

Revision ID: 0001_auditor
Branch: auditor
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_auditor"
down_revision: str | None = None
branch_labels = ("auditor",)
depends_on: str | None = "0001_common"

# Tables this revision creates: a database made before migrations is adopted at this
# revision when it holds exactly these (see supplymesh.storage.migrate).
CREATES = ("audit_reports", "seen_heads")


def upgrade() -> None:
    """Create this revision's tables."""
    op.create_table(
        "audit_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("started", sa.String(length=32), nullable=False),
        sa.Column("finished", sa.String(length=32), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_reports")),
    )
    op.create_table(
        "seen_heads",
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("ledger", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("tree_head", sa.Text(), nullable=False),
        sa.Column("seen", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("holder", "ledger", "size", name=op.f("pk_seen_heads")),
    )


def downgrade() -> None:
    """Drop this revision's tables."""
    op.drop_table("seen_heads")
    op.drop_table("audit_reports")
