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
    prognos/v1/{tenant}/edge/{agent_id}/cmd/stored cloud -> edge: the ids the cloud has
                                                   committed (see StoredConfirmation)

The downlink topic has one level more than the uplink ones, so the cloud's ingest filter
``prognos/v1/+/edge/+/+`` never hears its own commands.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .layout import DEVICE_ID_PATTERN
from .topics import TENANT_PATTERN

__all__ = [
    "SCHEMA_VERSION",
    "AgentStatus",
    "AlertMessage",
    "ChannelStats",
    "ConsumableStatusMessage",
    "ContractError",
    "EdgeDelivery",
    "EdgeMessage",
    "MAX_MESSAGE_BYTES",
    "EvidencePoint",
    "FaultEventMessage",
    "ModelCommand",
    "ModelRef",
    "ModelStatusMessage",
    "StoredConfirmation",
    "TelemetrySummaryMessage",
    "broker_username",
    "device_passwords",
    "edge_topic",
    "message_id",
    "model_command_topic",
    "parse_edge_delivery",
    "parse_edge_message",
    "parse_edge_topic",
    "stored_topic",
]

SCHEMA_VERSION: Literal[1] = 1

#: A point in time, epoch seconds: from 1970 up to the last second a datetime can hold
#: (9999-12-31). Anything else (negative, NaN, infinite, the year 13164) is refused as
#: invalid rather than failing later where it is turned into a date.
Epoch = Annotated[float, Field(ge=0.0, lt=253_402_300_800.0, allow_inf_nan=False)]
#: Every number in a message is finite: JSON parsers accept NaN and Infinity literals, and
#: a NaN health would be stored as null where the API promises a number.
Finite = Annotated[float, Field(allow_inf_nan=False)]
Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]  # a score, a share, a health
#: Names the cloud stores as keys, in the shapes the topics allow (no "/", "+", "#", spaces):
#: a tenant as in device topics, a device as on the wire, an agent id as the agent's config.
TenantKey = Annotated[str, Field(pattern=f"^{TENANT_PATTERN.pattern}$")]
DeviceKey = Annotated[str, Field(pattern=f"^{DEVICE_ID_PATTERN.pattern}$")]
AgentKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
ChannelName = Annotated[str, Field(min_length=1, max_length=64)]
Label = Annotated[str, Field(min_length=1, max_length=64)]  # detector, model version, unit, part
Cycles = Annotated[float, Field(ge=0.0, le=1e6, allow_inf_nan=False)]  # remaining useful life

#: The largest payload either transport accepts (the HTTP body limit's default too).
MAX_MESSAGE_BYTES = 1_000_000
MAX_EVIDENCE_POINTS = 1_000  # the edge sends its evidence window; the cloud keeps the last 120
MAX_CHANNELS = 256


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


def broker_username(role: str, tenant: str | None, subject: str) -> str:
    """The broker login of a device, agent, bridge or cloud worker: ``device.demo.pump-0001``,
    ``agent.demo.edge-1``, ``cloud.ingest``. Role and tenant come first and neither holds a
    dot, so the name reads one way; the cloud's ACL is written against these names."""
    return f"cloud.{subject}" if role == "cloud" else f"{role}.{tenant}.{subject}"


def device_passwords(logins: dict[str, str], tenant: str) -> dict[str, str]:
    """Device id -> password, from logins by username (``prognos cloud broker-logins``)."""
    prefix = broker_username("device", tenant, "")
    return {name[len(prefix) :]: pw for name, pw in logins.items() if name.startswith(prefix)}


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    message_id: str = Field(min_length=8, max_length=64)
    tenant: TenantKey
    agent_id: AgentKey
    device_id: DeviceKey
    created_at: Epoch  # edge wall clock


class EvidencePoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    t: Epoch
    values: dict[ChannelName, Finite | None] = Field(max_length=MAX_CHANNELS)
    score: Unit


class AlertMessage(_Message):
    kind: Literal["alert"] = "alert"
    alert_id: str = Field(min_length=1, max_length=64)  # the same for the raise, its updates and its clear
    transition: Literal["raise", "update", "clear"]
    fault_key: str = Field(min_length=1, max_length=200)  # which channels drove it, e.g. "vibration_rms"
    severity: Literal["warning", "major", "critical"]
    score: Unit
    peak: Unit
    at: Epoch  # device time of the sample that caused the transition
    detector: Label
    model_version: Label
    evidence: list[EvidencePoint] = Field(default_factory=list, max_length=MAX_EVIDENCE_POINTS)
    health: Unit | None = None  # 0 (failing) .. 1 (healthy)
    predicted_failure_at: Epoch | None = None
    predicted_failure_ci: tuple[Epoch, Epoch] | None = None
    # a RUL model's call in operating cycles: (lower bound of its 90 % interval, point, upper)
    rul_cycles: tuple[Cycles, Cycles, Cycles] | None = None
    # "surprise": the anomaly score rose (a sudden fault); "trend": the health index fell
    # (slow wear measured against the device's own healthy baseline)
    cause: Literal["surprise", "trend"] = "surprise"


class ConsumableStatusMessage(_Message):
    kind: Literal["consumable"] = "consumable"
    consumable: Label
    unit: str = Field(min_length=1, max_length=16)
    usage: float = Field(ge=0.0, allow_inf_nan=False)
    remaining_fraction: Unit
    predicted_depletion_at: Epoch | None = None
    predicted_depletion_ci: tuple[Epoch, Epoch] | None = None
    replaced: bool = False
    at: Epoch


class FaultEventMessage(_Message):
    kind: Literal["fault"] = "fault"
    code: int = Field(ge=0, lt=65536)
    name: str = Field(min_length=1, max_length=100)
    severity: int = Field(ge=0, lt=256)
    at: Epoch


class ChannelStats(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: Finite
    mean: Finite
    max: Finite
    count: int = Field(ge=0)


class TelemetrySummaryMessage(_Message):
    kind: Literal["summary"] = "summary"
    window_start: Epoch
    window_end: Epoch
    channels: dict[ChannelName, ChannelStats] = Field(max_length=MAX_CHANNELS)
    max_score: Unit
    # the health index (0..1) at the window's end and the failure its trend predicts
    health: Unit | None = None
    predicted_failure_at: Epoch | None = None
    rul_cycles: tuple[Cycles, Cycles, Cycles] | None = None  # as on an alert: (lower, point, upper)


class AgentStatus(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    agent_id: AgentKey
    state: Literal["online", "offline"]
    at: Epoch | None = None
    # what the agent dropped since it was installed, by source and reason (e.g.
    # "mqtt:device_mismatch", "serial:frame_crc", "outbox:summaries_over_bound")
    dropped: dict[Label, Annotated[int, Field(ge=0)]] = Field(default_factory=dict, max_length=500)
    # messages each device numbered but the agent never received (sequence gaps)
    lost: dict[DeviceKey, Annotated[int, Field(ge=0)]] = Field(default_factory=dict, max_length=100_000)


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
    tenant: TenantKey
    agent_id: AgentKey
    created_at: Epoch
    rollout_id: int = Field(ge=1)
    version: str = Field(max_length=200)
    sha256: str = Field(max_length=64)
    state: Literal["downloading", "warming", "probation", "active", "failed", "rolled_back", "reverted"]
    reason: str = Field("", max_length=2000)
    devices: int = Field(0, ge=0)  # devices now running (or trying) the model
    samples: int = Field(0, ge=0)  # scored by the new model during probation
    alerts_new: int = Field(0, ge=0)  # raises by the new model during probation
    alerts_old: int = Field(0, ge=0)  # raises the old model would have made on the same samples


def model_command_topic(tenant: str, agent_id: str) -> str:
    return f"{edge_topic(tenant, agent_id, 'cmd')}/model"


class StoredConfirmation(BaseModel):
    """Cloud -> edge, after a commit: these message ids are in the cloud's database (stored
    now or before), or were refused for good (dead-lettered, with the reason). The edge
    keeps each outbox row until it is named here, so a message the broker loses on the way
    (a queue overflow, a crash) is sent again: delivery is end to end, not hop by hop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    stored: list[str] = Field(default_factory=list, max_length=10_000)
    refused: dict[str, str] = Field(default_factory=dict, max_length=10_000)  # id -> reason
    at: Epoch


def stored_topic(tenant: str, agent_id: str) -> str:
    return f"{edge_topic(tenant, agent_id, 'cmd')}/stored"


EdgeMessage = Annotated[
    AlertMessage | ConsumableStatusMessage | FaultEventMessage | TelemetrySummaryMessage,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(EdgeMessage)
#: What an edge topic can carry: a contract message, or an agent's status or model report.
EdgeDelivery = (
    AlertMessage
    | ConsumableStatusMessage
    | FaultEventMessage
    | TelemetrySummaryMessage
    | AgentStatus
    | ModelStatusMessage
)


def _reason(exc: ValidationError) -> str:
    """What was wrong, field by field (the first three), as a person reads it."""
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-")) or "message"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _document(payload: bytes | str) -> Any:
    size = len(payload.encode() if isinstance(payload, str) else payload)
    if size > MAX_MESSAGE_BYTES:
        raise ContractError(f"message of {size} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ContractError(f"not JSON: {exc}") from None
    if isinstance(doc, dict) and doc.get("schema_version") not in (None, SCHEMA_VERSION):
        raise ContractError(f"unsupported schema_version {doc.get('schema_version')!r}")
    return doc


def parse_edge_message(
    payload: bytes | str,
) -> AlertMessage | ConsumableStatusMessage | FaultEventMessage | TelemetrySummaryMessage:
    """Validate a payload; raise :class:`ContractError` with the reason when it is not valid."""
    try:
        return _ADAPTER.validate_python(_document(payload))  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ContractError(f"invalid message: {_reason(exc)}") from None


def parse_edge_delivery(topic: str, payload: bytes | str) -> EdgeDelivery:
    """The message an edge topic carries, checked against its topic: the one place every
    edge message is parsed (MQTT and HTTP ingest alike). Raise :class:`ContractError` with
    a reason a person can act on when the payload is not acceptable: bad JSON, too big, a
    field of the wrong type, a number that is not finite or out of its range, a string too
    long, or a topic that names another tenant, agent or kind than the body."""
    tenant, agent, kind = parse_edge_topic(topic)
    if kind in ("status", "model"):
        model: type[AgentStatus | ModelStatusMessage] = ModelStatusMessage if kind == "model" else AgentStatus
        try:
            report = model.model_validate(_document(payload))
        except ValidationError as exc:
            raise ContractError(f"invalid {kind} report: {_reason(exc)}") from None
        said = (getattr(report, "tenant", tenant), report.agent_id)
        if said != (tenant, agent):
            raise ContractError(f"{kind} report of {said[0]}/{said[1]} on the topic of {tenant}/{agent}")
        return report
    msg = parse_edge_message(payload)
    if (msg.tenant, msg.agent_id, msg.kind) != (tenant, agent, kind):
        raise ContractError(
            f"topic names {tenant}/{agent}/{kind} but the message says {msg.tenant}/{msg.agent_id}/{msg.kind}"
        )
    return msg
