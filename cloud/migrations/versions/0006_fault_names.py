"""fault names: alerts and work orders carry a fault name people recognise and how it was
named; a resolved order carries the engineer's finding; a consumable keeps the 90 % interval
of its depletion forecast

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("fault_name", sa.String(64), nullable=True))
        batch.add_column(sa.Column("fault_source", sa.String(32), nullable=True))
        batch.create_index("ix_alerts_fault_name", ["fault_name"])
    with op.batch_alter_table("work_orders") as batch:
        batch.add_column(sa.Column("fault_name", sa.String(64), nullable=True))
        batch.add_column(sa.Column("fault_source", sa.String(32), nullable=True))
        batch.add_column(sa.Column("finding", sa.String(64), nullable=True))
    with op.batch_alter_table("consumables") as batch:
        batch.add_column(sa.Column("depletion_lo", cloud.db.base.UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("depletion_hi", cloud.db.base.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consumables") as batch:
        batch.drop_column("depletion_hi")
        batch.drop_column("depletion_lo")
    with op.batch_alter_table("work_orders") as batch:
        batch.drop_column("finding")
        batch.drop_column("fault_source")
        batch.drop_column("fault_name")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_fault_name")
        batch.drop_column("fault_source")
        batch.drop_column("fault_name")
