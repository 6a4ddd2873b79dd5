"""Contract messages as an edge agent would send them, for driving the cloud in tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from firmware_bridge.contract import (
    AlertMessage,
    ChannelStats,
    ConsumableStatusMessage,
    EvidencePoint,
    FaultEventMessage,
    TelemetrySummaryMessage,
    edge_topic,
    message_id,
)

__all__ = ["alert", "consumable", "fault", "summary", "wire"]


def _base(device: str, mid: str, tenant: str, at: float) -> dict[str, Any]:
    return {
        "message_id": message_id(mid),
        "tenant": tenant,
        "agent_id": "edge-1",
        "device_id": device,
        "created_at": at,
    }


def alert(
    device: str,
    transition: str,
    at: datetime,
    *,
    alert_id: str = "a1",
    fault_key: str = "suction_pressure",
    severity: str = "major",
    score: float = 0.9999,
    tenant: str = "acme",
    predicted_failure_at: datetime | None = None,
    health: float | None = 0.6,
) -> AlertMessage:
    t = at.timestamp()
    return AlertMessage(
        **_base(device, f"{device}/{alert_id}/{transition}/{t}", tenant, t),
        alert_id=alert_id,
        transition=transition,
        fault_key=fault_key,
        severity=severity,
        score=score,
        peak=score,
        at=t,
        detector="robust",
        model_version="robust-1",
        evidence=[
            EvidencePoint(t=t - 60 * i, values={"suction_pressure": 3.1 - 0.01 * i}, score=score)
            for i in range(3)
        ],
        health=health,
        predicted_failure_at=predicted_failure_at.timestamp() if predicted_failure_at else None,
    )


def consumable(
    device: str,
    name: str,
    at: datetime,
    remaining: float,
    depletion: datetime | None,
    *,
    replaced: bool = False,
    tenant: str = "acme",
) -> ConsumableStatusMessage:
    t = at.timestamp()
    return ConsumableStatusMessage(
        **_base(device, f"{device}/{name}/{t}/{replaced}", tenant, t),
        consumable=name,
        unit="h",
        usage=1000.0 * (1 - remaining),
        remaining_fraction=remaining,
        predicted_depletion_at=depletion.timestamp() if depletion else None,
        replaced=replaced,
        at=t,
    )


def fault(
    device: str, code: int, at: datetime, *, severity: int = 220, tenant: str = "acme"
) -> FaultEventMessage:
    t = at.timestamp()
    return FaultEventMessage(
        **_base(device, f"{device}/fault/{code}/{t}", tenant, t),
        code=code,
        name="compressor_bearing_wear",
        severity=severity,
        at=t,
    )


def summary(
    device: str, start: datetime, *, tenant: str = "acme", score: float = 0.3, health: float | None = None
) -> TelemetrySummaryMessage:
    t = start.timestamp()
    return TelemetrySummaryMessage(
        **_base(device, f"{device}/summary/{t}", tenant, t + 300),
        window_start=t,
        window_end=t + 300,
        channels={"suction_pressure": ChannelStats(min=3.0, mean=3.1, max=3.2, count=5)},
        max_score=score,
        health=health,
    )


def wire(msg: Any) -> tuple[str, bytes]:
    """(topic, payload) exactly as the edge's uplink publishes it."""
    return edge_topic(msg.tenant, msg.agent_id, msg.kind), msg.model_dump_json().encode()
