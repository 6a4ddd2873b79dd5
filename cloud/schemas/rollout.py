"""The model registry, rollouts and which agent runs what."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .common import Public, Strict

__all__ = ["AgentModelPublic", "AgentRolloutPublic", "ModelPublic", "RolloutCreate", "RolloutPublic"]


class ModelPublic(Public):
    id: int
    name: str
    version: str
    kind: str
    sha256: str
    size: int
    features: list[str]
    metrics: dict[str, Any]
    train_sha256: str
    published_by: str
    published_at: datetime


class RolloutCreate(Strict):
    group: str = Field(
        "all", min_length=1, max_length=200, description="all, model:<product model> or site:<id>"
    )
    canary_percent: int = Field(
        10, ge=0, le=100, description="share of agents that get it first (0 or 100: all at once)"
    )
    mode: Literal["replace", "ensemble"] = "replace"
    probation_samples: int = Field(
        500, ge=10, le=10_000_000, description="per device, with the old model in shadow"
    )
    max_alert_factor: float = Field(
        3.0, ge=1.0, le=1000.0, description="roll back above this many times the old model's alerts"
    )


class AgentRolloutPublic(Public):
    agent: str
    canary: bool
    devices: list[str]
    state: str
    reason: str
    samples: int
    alerts_new: int
    alerts_old: int
    sent_at: datetime | None
    updated_at: datetime | None


class RolloutPublic(Public):
    id: int
    model: ModelPublic
    group: str
    mode: str
    canary_percent: int
    probation_samples: int
    max_alert_factor: float
    state: str
    reason: str
    created_by: str
    created_at: datetime
    promoted_at: datetime | None
    finished_at: datetime | None
    agents: list[AgentRolloutPublic]


class AgentModelPublic(Public):
    """An agent, its connection state, and the model version each of its rollouts left it on."""

    agent: str
    state: str
    last_seen_at: datetime | None
    models: list[dict[str, Any]]  # {rollout_id, name, version, state, devices}
