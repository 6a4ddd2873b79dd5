"""The model registry and rollouts: artifacts, rollouts to device groups, and each agent's part."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from .base import Base, JsonDoc, UtcDateTime

__all__ = ["AgentRollout", "ModelArtifact", "Rollout"]


class ModelArtifact(Base):
    """One published model file. The bytes live in the database, so a backup of it is a backup
    of the registry, and the sha256 is what every agent checks its download against."""

    __tablename__ = "model_artifacts"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    features: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    train_sha256: Mapped[str] = mapped_column(String(64), default="")
    published_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime] = mapped_column(UtcDateTime)
    content: Mapped[bytes] = deferred(
        mapped_column(LargeBinary, nullable=False)
    )  # loaded only when downloaded


class Rollout(Base):
    """A model sent to a group of devices: to a canary share of their agents first, then the rest.

    state: canary -> rolling (promoted) -> complete, or halted (a canary failed or rolled
    back) or reverted (by hand)."""

    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("model_artifacts.id"), index=True)
    group: Mapped[str] = mapped_column(String(200))  # all | model:<product model> | site:<id>
    mode: Mapped[str] = mapped_column(String(16), default="replace")
    canary_percent: Mapped[int] = mapped_column(Integer)
    probation_samples: Mapped[int] = mapped_column(Integer)
    max_alert_factor: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    promoted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AgentRollout(Base):
    """One agent's part in a rollout: its devices in the group, and the last state it reported."""

    __tablename__ = "agent_rollouts"
    __table_args__ = (UniqueConstraint("rollout_id", "agent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollouts.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    canary: Mapped[bool] = mapped_column(default=False)
    devices: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    # pending (not sent yet) | sent | downloading | warming | probation | active | failed |
    # rolled_back | reverted
    state: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    samples: Mapped[int] = mapped_column(Integer, default=0)
    alerts_new: Mapped[int] = mapped_column(Integer, default=0)
    alerts_old: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
