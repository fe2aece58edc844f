"""Blocks of decisions: the PDU's pending block, kept across restarts.

Revision ID: 0002_common_blocks
Branch: common
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_common_blocks"
down_revision: str | None = "0001_common"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create this revision's table."""
    op.create_table(
        "pending_blocks",
        sa.Column("ledger", sa.String(length=128), nullable=False),
        sa.Column("entries", sa.Text(), nullable=False),
        sa.Column("signatures", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("ledger", name=op.f("pk_pending_blocks")),
    )


def downgrade() -> None:
    """Drop this revision's table."""
    op.drop_table("pending_blocks")
