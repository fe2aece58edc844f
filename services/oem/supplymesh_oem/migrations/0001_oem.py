"""OEM tables.

Revision ID: 0001_oem
Branch: oem
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_oem"
down_revision: str | None = None
branch_labels = ("oem",)
depends_on: str | None = "0001_common"

# Tables this revision creates: a database made before migrations is adopted at this
# revision when it holds exactly these (see supplymesh.storage.migrate).
CREATES = ("demands",)


def upgrade() -> None:
    """Create this revision's tables."""
    op.create_table(
        "demands",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("network_seq", sa.BigInteger(), nullable=True),
        sa.Column("network_hash", sa.String(length=64), nullable=True),
        sa.Column("decision_id", sa.String(length=64), nullable=True),
        sa.Column("created", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demands")),
        sa.UniqueConstraint("seq", name=op.f("uq_demands_seq")),
    )


def downgrade() -> None:
    """Drop this revision's tables."""
    op.drop_table("demands")
