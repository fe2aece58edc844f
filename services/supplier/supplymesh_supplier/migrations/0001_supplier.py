"""Supplier data-management system (DMS) tables.

Revision ID: 0001_supplier
Branch: supplier
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_supplier"
down_revision: str | None = None
branch_labels = ("supplier",)
depends_on: str | None = "0001_common"

# Tables this revision creates: a database made before migrations is adopted at this
# revision when it holds exactly these (see supplymesh.storage.migrate).
CREATES = ("dms_profile", "dms_readings", "dms_sensors")


# size: a generated schema, one create_table per table; split it reads worse
def upgrade() -> None:
    """Create this revision's tables."""
    op.create_table(
        "dms_profile",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("machines", sa.Integer(), nullable=False),
        sa.Column("hours_per_day", sa.String(length=40), nullable=False),
        sa.Column("baseline_efficiency", sa.String(length=40), nullable=False),
        sa.Column("queued_machine_hours", sa.String(length=40), nullable=False),
        sa.Column("products", sa.Text(), nullable=False),
        sa.Column("updated", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dms_profile")),
    )
    op.create_table(
        "dms_readings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sensor_id", sa.String(length=128), nullable=False),
        sa.Column("unit_id", sa.String(length=128), nullable=False),
        sa.Column("order_id", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=40), nullable=False),
        sa.Column("started_us", sa.BigInteger(), nullable=False),
        sa.Column("ended_us", sa.BigInteger(), nullable=False),
        sa.Column("standard_us", sa.BigInteger(), nullable=False),
        sa.Column("actual_us", sa.BigInteger(), nullable=False),
        sa.Column("approved", sa.Integer(), nullable=False),
        sa.Column("defect_class", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dms_readings")),
    )
    op.create_index("ix_dms_readings_ended", "dms_readings", ["ended_us"], unique=False)
    op.create_index("ix_dms_readings_order", "dms_readings", ["order_id"], unique=False)
    op.create_table(
        "dms_sensors",
        sa.Column("sensor_id", sa.String(length=128), nullable=False),
        sa.Column("process", sa.String(length=128), nullable=False),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("tolerance", sa.String(length=40), nullable=False),
        sa.Column("defect_class", sa.String(length=16), nullable=False),
        sa.Column("standard_seconds", sa.String(length=40), nullable=False),
        sa.Column("registered", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("sensor_id", name=op.f("pk_dms_sensors")),
    )


def downgrade() -> None:
    """Drop this revision's tables."""
    op.drop_table("dms_sensors")
    op.drop_index("ix_dms_readings_order", table_name="dms_readings")
    op.drop_index("ix_dms_readings_ended", table_name="dms_readings")
    op.drop_table("dms_readings")
    op.drop_table("dms_profile")
