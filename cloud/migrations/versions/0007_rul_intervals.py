"""RUL intervals: alerts and work orders keep the latest safe time (the lower bound of the
RUL model's 90 % interval) and the call in cycles with the device's pace; telemetry
summaries keep the call at each window's end, for the device page's RUL chart

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("alerts", "work_orders"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("latest_safe_at", cloud.db.base.UtcDateTime(timezone=True), nullable=True)
            )
            batch.add_column(sa.Column("rul", cloud.db.base.JsonDoc, nullable=True))
    with op.batch_alter_table("telemetry_summaries") as batch:
        batch.add_column(sa.Column("rul_cycles", cloud.db.base.JsonDoc, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("telemetry_summaries") as batch:
        batch.drop_column("rul_cycles")
    for table in ("work_orders", "alerts"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("rul")
            batch.drop_column("latest_safe_at")
