"""health from summaries: every summary carries the edge's health index, and the device
keeps the device time of the reading it shows, so an old message replayed late never
overwrites a newer one

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("health_at", cloud.db.base.UtcDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("telemetry_summaries") as batch:
        batch.add_column(sa.Column("health", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("telemetry_summaries") as batch:
        batch.drop_column("health")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("health_at")
