"""broker identity: MQTT credentials per device, agent, bridge and cloud worker (hashed in
mosquitto's format), the agent each device reports through, and what agents report they
dropped and devices lost

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mqtt_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", cloud.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", cloud.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_mqtt_credentials_tenant_id"), "mqtt_credentials", ["tenant_id"])
    op.create_index(op.f("ix_mqtt_credentials_username"), "mqtt_credentials", ["username"])
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("agent_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("messages_lost", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("dropped", cloud.db.base.JsonDoc, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("dropped")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("messages_lost")
        batch.drop_column("agent_key")
    op.drop_index(op.f("ix_mqtt_credentials_username"), table_name="mqtt_credentials")
    op.drop_index(op.f("ix_mqtt_credentials_tenant_id"), table_name="mqtt_credentials")
    op.drop_table("mqtt_credentials")
