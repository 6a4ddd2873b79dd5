"""Frame -> bytes on the wire: validate, pack, append CRC-32, COBS-encode, add 0x00.

Invalid fields are the caller's bug, so they raise :class:`LocalProtocolError` here
rather than producing a frame every receiver would drop.
"""

from __future__ import annotations

import math
import struct

from .cobs import cobs_encode
from .crc import crc32
from .errors import LocalProtocolError
from .frames import (
    MAX_CHANNELS,
    ConsumableFrame,
    EventFrame,
    Frame,
    HeartbeatFrame,
    TelemetryFrame,
)
from .layout import DEVICE_ID_PATTERN, pack_body

__all__ = ["DELIMITER", "encode", "encode_body"]

DELIMITER = b"\x00"
_FLOAT32_MAX = 3.4028234663852886e38


def encode(frame: Frame) -> bytes:
    """Encode one frame, delimiter included, ready to write to a serial line or payload."""
    return cobs_encode(encode_body(frame)) + DELIMITER


def encode_body(frame: Frame) -> bytes:
    """Header + payload + CRC, before COBS: what the CRC protects (and test vectors show)."""
    _validate(frame)
    try:
        body = pack_body(frame)
    except (struct.error, UnicodeEncodeError) as exc:  # pragma: no cover - _validate covers it
        raise LocalProtocolError(f"cannot encode {frame!r}: {exc}") from exc
    return body + crc32(body).to_bytes(4, "little")


def _check_uint(name: str, value: int, bits: int) -> None:
    if not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise LocalProtocolError(f"{name}={value!r} does not fit an unsigned {bits}-bit field")


def _validate(frame: Frame) -> None:
    if not isinstance(frame.device_id, str) or not DEVICE_ID_PATTERN.fullmatch(frame.device_id):
        raise LocalProtocolError(
            f"device_id {frame.device_id!r} must be 1-32 chars of [A-Za-z0-9._-], "
            "starting with a letter or digit"
        )
    _check_uint("seq", frame.seq, 32)
    _check_uint("timestamp_ms", frame.timestamp_ms, 64)
    if isinstance(frame, TelemetryFrame):
        if not 1 <= len(frame.channels) <= MAX_CHANNELS:
            raise LocalProtocolError(f"telemetry needs 1..{MAX_CHANNELS} channels")
        ids = [cid for cid, _ in frame.channels]
        if len(set(ids)) != len(ids):
            raise LocalProtocolError(f"duplicate channel id in {ids}")
        for cid, value in frame.channels:
            _check_uint("channel id", cid, 8)
            if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
                raise LocalProtocolError(f"channel {cid} value {value!r} overflows float32")
    elif isinstance(frame, EventFrame):
        _check_uint("code", frame.code, 16)
        _check_uint("severity", frame.severity, 8)
    elif isinstance(frame, ConsumableFrame):
        _check_uint("consumable_id", frame.consumable_id, 8)
        _check_uint("unit", frame.unit, 8)
    elif isinstance(frame, HeartbeatFrame):
        _check_uint("uptime_s", frame.uptime_s, 32)
        _check_uint("firmware", frame.firmware, 16)
        _check_uint("status", frame.status, 8)
    else:
        raise LocalProtocolError(f"not a frame: {frame!r}")
