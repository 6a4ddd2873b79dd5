"""What the edge consumes: named, second-based device messages, whatever the transport.

A :class:`Sample` from a serial frame and one from an MQTT JSON payload are equal when
the device said the same thing; the edge never needs to know which way it came.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from .frames import ConsumableFrame, EventFrame, Frame, HeartbeatFrame, TelemetryFrame
from .registry import (
    CHANNEL_IDS,
    CONSUMABLE_IDS,
    EVENT_CODES,
    UNIT_IDS,
    channel_name,
    consumable_name,
    unit_name,
)

__all__ = [
    "ConsumableUsage",
    "DeviceEvent",
    "DeviceMessage",
    "Heartbeat",
    "Sample",
    "message_from_frame",
    "message_to_frame",
]


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of some or all of a device's channels. NaN marks a dropout."""

    device_id: str
    timestamp: float  # seconds since the Unix epoch, device clock
    seq: int
    values: Mapping[str, float]
    tenant: str | None = field(default=None, compare=False)

    def __eq__(self, other: object) -> bool:
        # NaN != NaN would make two identical dropouts unequal; compare them as equal.
        if not isinstance(other, Sample):
            return NotImplemented
        return (
            (self.device_id, self.timestamp, self.seq) == (other.device_id, other.timestamp, other.seq)
            and self.values.keys() == other.values.keys()
            and all(_same(v, other.values[k]) for k, v in self.values.items())
        )

    __hash__ = None  # type: ignore[assignment]  # values is a mapping


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A fault or status code raised by the device's own firmware."""

    device_id: str
    timestamp: float
    seq: int
    code: int
    severity: int
    tenant: str | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return EVENT_CODES.get(self.code, f"event_0x{self.code:04x}")


@dataclass(frozen=True, slots=True)
class ConsumableUsage:
    """Usage of a consumable since it was last replaced; ``replaced`` marks the reset."""

    device_id: str
    timestamp: float
    seq: int
    consumable: str
    unit: str
    value: float
    replaced: bool = False
    tenant: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Device liveness and firmware version."""

    device_id: str
    timestamp: float
    seq: int
    uptime_s: int
    firmware: str
    status: int
    tenant: str | None = field(default=None, compare=False)


DeviceMessage = Sample | DeviceEvent | ConsumableUsage | Heartbeat


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _firmware_str(fw: int) -> str:
    return f"{fw >> 8}.{fw & 0xFF}"


def _firmware_int(fw: str) -> int:
    major, _, minor = fw.partition(".")
    return (int(major) << 8) | int(minor or 0)


def message_from_frame(frame: Frame, tenant: str | None = None) -> DeviceMessage:
    """Name the ids in a decoded frame and convert its timestamp to seconds."""
    ts = frame.timestamp_ms / 1000.0
    if isinstance(frame, TelemetryFrame):
        values = {channel_name(cid): value for cid, value in frame.channels}
        return Sample(frame.device_id, ts, frame.seq, values, tenant)
    if isinstance(frame, EventFrame):
        return DeviceEvent(frame.device_id, ts, frame.seq, frame.code, frame.severity, tenant)
    if isinstance(frame, ConsumableFrame):
        return ConsumableUsage(
            frame.device_id,
            ts,
            frame.seq,
            consumable_name(frame.consumable_id),
            unit_name(frame.unit),
            frame.value,
            frame.replaced,
            tenant,
        )
    fw = _firmware_str(frame.firmware)
    return Heartbeat(frame.device_id, ts, frame.seq, frame.uptime_s, fw, frame.status, tenant)


def message_to_frame(msg: DeviceMessage) -> Frame:
    """The frame a device would send for ``msg``; names must be in the registry."""
    ts_ms = round(msg.timestamp * 1000)
    if isinstance(msg, Sample):
        channels = tuple((CHANNEL_IDS[name], value) for name, value in msg.values.items())
        return TelemetryFrame(msg.device_id, msg.seq, ts_ms, channels)
    if isinstance(msg, DeviceEvent):
        return EventFrame(msg.device_id, msg.seq, ts_ms, msg.code, msg.severity)
    if isinstance(msg, ConsumableUsage):
        return ConsumableFrame(
            msg.device_id,
            msg.seq,
            ts_ms,
            CONSUMABLE_IDS[msg.consumable],
            UNIT_IDS[msg.unit],
            msg.value,
            msg.replaced,
        )
    return HeartbeatFrame(
        msg.device_id, msg.seq, ts_ms, msg.uptime_s, _firmware_int(msg.firmware), msg.status
    )
