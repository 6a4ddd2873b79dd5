"""model registry and rollouts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:35:20.462496
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cloud.db.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column(
            "features",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("train_sha256", sa.String(length=64), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=False),
        sa.Column("published_at", cloud.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_model_artifacts_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_artifacts")),
        sa.UniqueConstraint(
            "tenant_id", "name", "version", name=op.f("uq_model_artifacts_tenant_id_name_version")
        ),
    )
    with op.batch_alter_table("model_artifacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_artifacts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("group", sa.String(length=200), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("canary_percent", sa.Integer(), nullable=False),
        sa.Column("probation_samples", sa.Integer(), nullable=False),
        sa.Column("max_alert_factor", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", cloud.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("promoted_at", cloud.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", cloud.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["model_artifacts.id"], name=op.f("fk_rollouts_artifact_id_model_artifacts")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_rollouts_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    with op.batch_alter_table("rollouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rollouts_artifact_id"), ["artifact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rollouts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "agent_rollouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("canary", sa.Boolean(), nullable=False),
        sa.Column(
            "devices",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("alerts_new", sa.Integer(), nullable=False),
        sa.Column("alerts_old", sa.Integer(), nullable=False),
        sa.Column("sent_at", cloud.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", cloud.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_agent_rollouts_agent_id_agents")),
        sa.ForeignKeyConstraint(
            ["rollout_id"], ["rollouts.id"], name=op.f("fk_agent_rollouts_rollout_id_rollouts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_rollouts")),
        sa.UniqueConstraint("rollout_id", "agent_id", name=op.f("uq_agent_rollouts_rollout_id_agent_id")),
    )
    with op.batch_alter_table("agent_rollouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_rollouts_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agent_rollouts_rollout_id"), ["rollout_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agent_rollouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_rollouts_rollout_id"))
        batch_op.drop_index(batch_op.f("ix_agent_rollouts_agent_id"))

    op.drop_table("agent_rollouts")
    with op.batch_alter_table("rollouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rollouts_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_rollouts_artifact_id"))

    op.drop_table("rollouts")
    with op.batch_alter_table("model_artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_artifacts_tenant_id"))

    op.drop_table("model_artifacts")
