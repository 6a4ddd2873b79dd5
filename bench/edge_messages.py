"""Edge messages the cloud benchmarks send, as (topic, payload) exactly as an edge's uplink
publishes them: one builder for each kind, shared by bench/cloud.py and bench/load.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from firmware_bridge.contract import (
    AlertMessage,
    ChannelStats,
    TelemetrySummaryMessage,
    edge_topic,
    message_id,
)

__all__ = ["START", "alert", "summary"]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the summaries' first window


def summary(device: str, i: int, agent: str, tenant: str = "demo") -> tuple[str, bytes]:
    """The device's ``i``-th five-minute summary from ``START``."""
    t = START.timestamp() + 300 * i
    msg = TelemetrySummaryMessage(
        message_id=message_id(device, "summary", i),
        tenant=tenant,
        agent_id=agent,
        device_id=device,
        created_at=time.time(),
        window_start=t,
        window_end=t + 300,
        max_score=0.2,
        channels={
            "vibration_rms": ChannelStats(min=1.0, mean=1.2, max=1.5, count=5),
            "motor_current": ChannelStats(min=8.0, mean=8.4, max=9.1, count=5),
        },
    )
    return edge_topic(tenant, agent, "summary"), msg.model_dump_json().encode()


def alert(device: str, i: int, agent: str, tenant: str = "demo", tag: str = "bench") -> tuple[str, bytes]:
    """A new major alert raised now, with a fault key of its own (so each opens an order)."""
    t = time.time()
    msg = AlertMessage(
        message_id=message_id(device, "alert", i, t),
        tenant=tenant,
        agent_id=agent,
        device_id=device,
        created_at=t,
        alert_id=f"{tag}-{i}",
        transition="raise",
        fault_key=f"vibration_rms-{tag}-{i}",
        severity="major",
        score=0.9999,
        peak=0.9999,
        at=t,
        detector="robust",
        model_version=tag,
    )
    return edge_topic(tenant, agent, "alert"), msg.model_dump_json().encode()
