"""Frame objects of wire format version 1: what a device sends, field by field.

Frames are frozen, slotted dataclasses: cheap, hashable, comparable in tests. They are
wire-level (channel ids, milliseconds); :mod:`firmware_bridge.messages` turns them into
the named, second-based objects the edge consumes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "MAX_CHANNELS",
    "MAX_DEVICE_ID_LEN",
    "PROTOCOL_VERSION",
    "ConsumableFrame",
    "ErrorKind",
    "EventFrame",
    "Frame",
    "FrameError",
    "FrameType",
    "HeartbeatFrame",
    "NEED_DATA",
    "NeedData",
    "TelemetryFrame",
]

PROTOCOL_VERSION = 1
MAX_DEVICE_ID_LEN = 32
MAX_CHANNELS = 32
#: Largest encoded frame (COBS bytes, without the 0x00 delimiter) a decoder accepts by
#: default. The largest valid v1 frame is 214 bytes encoded, so this leaves headroom.
DEFAULT_MAX_FRAME_SIZE = 256


class FrameType(enum.IntEnum):
    """Message type byte of the header."""

    TELEMETRY = 0x01
    EVENT = 0x02
    CONSUMABLE = 0x03
    HEARTBEAT = 0x04


@dataclass(frozen=True, slots=True)
class TelemetryFrame:
    """Sensor readings: ``channels`` holds ``(channel_id, float32 value)`` pairs."""

    device_id: str
    seq: int
    timestamp_ms: int
    channels: tuple[tuple[int, float], ...]
    TYPE: ClassVar[FrameType] = FrameType.TELEMETRY


@dataclass(frozen=True, slots=True)
class EventFrame:
    """A fault or event code raised by the device firmware itself."""

    device_id: str
    seq: int
    timestamp_ms: int
    code: int
    severity: int
    TYPE: ClassVar[FrameType] = FrameType.EVENT


@dataclass(frozen=True, slots=True)
class ConsumableFrame:
    """A consumable's usage counter since its last replacement (``replaced`` marks a reset)."""

    device_id: str
    seq: int
    timestamp_ms: int
    consumable_id: int
    unit: int
    value: float
    replaced: bool = False
    TYPE: ClassVar[FrameType] = FrameType.CONSUMABLE


@dataclass(frozen=True, slots=True)
class HeartbeatFrame:
    """Liveness: uptime, firmware version (major << 8 | minor) and a status bit field."""

    device_id: str
    seq: int
    timestamp_ms: int
    uptime_s: int
    firmware: int
    status: int
    TYPE: ClassVar[FrameType] = FrameType.HEARTBEAT


Frame = TelemetryFrame | EventFrame | ConsumableFrame | HeartbeatFrame


class ErrorKind(enum.StrEnum):
    """Why a run of bytes between two delimiters was not a frame."""

    COBS = "cobs"  # not a valid COBS encoding
    TRUNCATED = "truncated"  # shorter than its header or its declared payload
    CRC = "crc"  # checksum mismatch
    BAD_VERSION = "bad_version"  # version byte is not PROTOCOL_VERSION
    UNKNOWN_TYPE = "unknown_type"  # type byte is not a FrameType
    OVERSIZE = "oversize"  # longer than max_frame_size before its delimiter arrived
    MALFORMED = "malformed"  # fields out of their domain, or bytes left after the payload


@dataclass(frozen=True, slots=True)
class FrameError:
    """A dropped run of bytes: an event the decoder returns instead of raising."""

    kind: ErrorKind
    detail: str
    size: int


class NeedData(enum.Enum):
    """Sentinel type: the decoder has no complete frame buffered."""

    NEED_DATA = "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA
