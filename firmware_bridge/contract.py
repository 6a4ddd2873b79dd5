"""The edge <-> cloud wire contract: versioned messages both sides import, and nothing else.

Edge and cloud never import each other. What crosses between them is defined here, as
pydantic models with a ``schema_version`` and a stable ``message_id`` (the cloud drops a
message whose id it has already stored, which makes the edge's at-least-once delivery
exactly-once in effect).

Topics (all QoS 1)::

    prognos/v1/{tenant}/edge/{agent_id}/{kind}     edge -> cloud, kind = alert | consumable |
                                                   fault | summary
    prognos/v1/{tenant}/edge/{agent_id}/status     retained "online"/"offline" (last will)
    prognos/v1/{tenant}/edge/{agent_id}/cmd/model  cloud -> edge, retained: the model this
                                                   agent should run (see ModelCommand)

The downlink topic has one level more than the uplink ones, so the cloud's ingest filter
``prognos/v1/+/edge/+/+`` never hears its own commands.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

__all__ = [
    "SCHEMA_VERSION",
    "AgentStatus",
    "AlertMessage",
    "ChannelStats",
    "ConsumableStatusMessage",
    "ContractError",
    "EdgeMessage",
    "EvidencePoint",
    "FaultEventMessage",
    "ModelCommand",
    "ModelRef",
    "ModelStatusMessage",
    "TelemetrySummaryMessage",
    "edge_topic",
    "message_id",
    "model_command_topic",
    "parse_edge_message",
    "parse_edge_topic",
]

SCHEMA_VERSION: Literal[1] = 1

#: A point in time, epoch seconds: from 1970 up to the last second a datetime can hold
#: (9999-12-31). Anything else (negative, NaN, infinite, the year 13164) is refused as
#: invalid rather than failing later where it is turned into a date.
Epoch = Annotated[float, Field(ge=0.0, lt=253_402_300_800.0, allow_inf_nan=False)]


class ContractError(ValueError):
    """A payload is not a valid edge message (bad JSON, wrong fields, unknown version)."""


def message_id(*parts: object) -> str:
    """A deterministic id from what makes a message unique: the same event, the same id."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def edge_topic(tenant: str, agent_id: str, kind: str) -> str:
    return f"prognos/v1/{tenant}/edge/{agent_id}/{kind}"


def parse_edge_topic(topic: str) -> tuple[str, str, str]:
    """(tenant, agent_id, kind) of an edge topic; raise :class:`ContractError` if it is not one."""
    parts = topic.split("/")
    if len(parts) != 6 or parts[:2] != ["prognos", "v1"] or parts[3] != "edge" or not all(parts):
        raise ContractError(f"not an edge topic: {topic!r}")
    return parts[2], parts[4], parts[5]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    message_id: str = Field(min_length=8, max_length=64)
    tenant: str
    agent_id: str
    device_id: str
    created_at: Epoch  # edge wall clock


class EvidencePoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    t: Epoch
    values: dict[str, float | None]
    score: float


class AlertMessage(_Message):
    kind: Literal["alert"] = "alert"
    alert_id: str  # the same for the raise, its updates and its clear
    transition: Literal["raise", "update", "clear"]
    fault_key: str  # which channels drove it, e.g. "vibration_rms"
    severity: Literal["warning", "major", "critical"]
    score: float = Field(ge=0.0, le=1.0)
    peak: float = Field(ge=0.0, le=1.0)
    at: Epoch  # device time of the sample that caused the transition
    detector: str
    model_version: str
    evidence: list[EvidencePoint] = Field(default_factory=list)
    health: float | None = None  # 0 (failing) .. 1 (healthy)
    predicted_failure_at: Epoch | None = None
    predicted_failure_ci: tuple[Epoch, Epoch] | None = None
    # "surprise": the anomaly score rose (a sudden fault); "trend": the health index fell
    # (slow wear measured against the device's own healthy baseline)
    cause: Literal["surprise", "trend"] = "surprise"


class ConsumableStatusMessage(_Message):
    kind: Literal["consumable"] = "consumable"
    consumable: str
    unit: str
    usage: float = Field(ge=0.0)
    remaining_fraction: float = Field(ge=0.0, le=1.0)
    predicted_depletion_at: Epoch | None = None
    predicted_depletion_ci: tuple[Epoch, Epoch] | None = None
    replaced: bool = False
    at: Epoch


class FaultEventMessage(_Message):
    kind: Literal["fault"] = "fault"
    code: int = Field(ge=0, lt=65536)
    name: str
    severity: int = Field(ge=0, lt=256)
    at: Epoch


class ChannelStats(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float
    mean: float
    max: float
    count: int = Field(ge=0)


class TelemetrySummaryMessage(_Message):
    kind: Literal["summary"] = "summary"
    window_start: Epoch
    window_end: Epoch
    channels: dict[str, ChannelStats]
    max_score: float = Field(ge=0.0, le=1.0)
    # the health index (0..1) at the window's end and the failure its trend predicts
    health: float | None = Field(default=None, ge=0.0, le=1.0)
    predicted_failure_at: Epoch | None = None


class AgentStatus(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    agent_id: str
    state: Literal["online", "offline"]
    at: Epoch | None = None


class ModelRef(BaseModel):
    """An artifact in the cloud's model registry: what to fetch and how to know it is intact."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    artifact_id: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=200)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=1)
    path: str = Field(pattern=r"^/api/v1/models/[0-9]+/artifact$")  # on the agent's configured cloud


class ModelCommand(BaseModel):
    """Cloud -> edge, retained per agent: deploy a model to some of its devices, or revert.

    Being retained, it is the agent's desired state: an agent that was offline gets the
    latest one when it connects, and a repeat of a command it has carried out is a no-op.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    rollout_id: int = Field(ge=1)
    action: Literal["deploy", "revert"]
    model: ModelRef | None = None  # required for deploy
    mode: Literal["replace", "ensemble"] = "replace"  # ensemble: alongside the agent's default
    devices: list[str] = Field(default_factory=list, max_length=100_000)  # empty: every device
    probation_samples: int = Field(500, ge=10, le=10_000_000)  # per device, old model in shadow
    max_alert_factor: float = Field(3.0, ge=1.0, le=1000.0)
    issued_at: Epoch


class ModelStatusMessage(BaseModel):
    """Edge -> cloud (through the outbox): where a rollout stands on this agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["model"] = "model"
    message_id: str = Field(min_length=8, max_length=64)
    tenant: str
    agent_id: str
    created_at: Epoch
    rollout_id: int = Field(ge=1)
    version: str
    sha256: str
    state: Literal["downloading", "warming", "probation", "active", "failed", "rolled_back", "reverted"]
    reason: str = Field("", max_length=2000)
    devices: int = Field(0, ge=0)  # devices now running (or trying) the model
    samples: int = Field(0, ge=0)  # scored by the new model during probation
    alerts_new: int = Field(0, ge=0)  # raises by the new model during probation
    alerts_old: int = Field(0, ge=0)  # raises the old model would have made on the same samples


def model_command_topic(tenant: str, agent_id: str) -> str:
    return f"{edge_topic(tenant, agent_id, 'cmd')}/model"


EdgeMessage = Annotated[
    AlertMessage | ConsumableStatusMessage | FaultEventMessage | TelemetrySummaryMessage,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(EdgeMessage)


def parse_edge_message(
    payload: bytes | str,
) -> AlertMessage | ConsumableStatusMessage | FaultEventMessage | TelemetrySummaryMessage:
    """Validate a payload; raise :class:`ContractError` with the reason when it is not valid."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ContractError(f"not JSON: {exc}") from None
    if isinstance(doc, dict) and doc.get("schema_version") not in (None, SCHEMA_VERSION):
        raise ContractError(f"unsupported schema_version {doc.get('schema_version')!r}")
    try:
        return _ADAPTER.validate_python(doc)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ContractError(f"invalid message: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
