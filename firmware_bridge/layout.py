"""Byte layout of a v1 frame body (everything the CRC covers), in one place.

``[version u8][type u8][id_len u8][device_id][seq u32][timestamp_ms u64][payload]``, all
little-endian; docs/protocol.md has the table. Shared by the encoder and the decoder so
the two can never disagree about an offset.
"""

from __future__ import annotations

import re
import struct

from .frames import (
    MAX_CHANNELS,
    MAX_DEVICE_ID_LEN,
    PROTOCOL_VERSION,
    ConsumableFrame,
    ErrorKind,
    EventFrame,
    Frame,
    FrameError,
    FrameType,
    HeartbeatFrame,
    TelemetryFrame,
)

__all__ = ["DEVICE_ID_PATTERN", "pack_body", "parse_body"]

#: Device ids are short printable ASCII names: they become MQTT topic levels and file names.
DEVICE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")

_PREFIX = struct.Struct("<BBB")  # version, type, device id length
_SEQ_TS = struct.Struct("<IQ")
_CHANNEL = struct.Struct("<Bf")
_EVENT = struct.Struct("<HB")
_CONSUMABLE = struct.Struct("<BBBd")
_HEARTBEAT = struct.Struct("<IHB")
_CONSUMABLE_REPLACED = 0x01


def pack_body(frame: Frame) -> bytes:
    """Serialise header and payload; raises ``struct.error`` / ``ValueError`` on bad fields."""
    dev = frame.device_id.encode("ascii")
    head = _PREFIX.pack(PROTOCOL_VERSION, frame.TYPE, len(dev)) + dev
    head += _SEQ_TS.pack(frame.seq, frame.timestamp_ms)
    if isinstance(frame, TelemetryFrame):
        parts = [bytes([len(frame.channels)])]
        parts += [_CHANNEL.pack(cid, value) for cid, value in frame.channels]
        return head + b"".join(parts)
    if isinstance(frame, EventFrame):
        return head + _EVENT.pack(frame.code, frame.severity)
    if isinstance(frame, ConsumableFrame):
        flags = _CONSUMABLE_REPLACED if frame.replaced else 0
        return head + _CONSUMABLE.pack(frame.consumable_id, frame.unit, flags, frame.value)
    return head + _HEARTBEAT.pack(frame.uptime_s, frame.firmware, frame.status)


def parse_body(body: bytes) -> Frame | FrameError:
    """Parse a CRC-checked body; every defect becomes a :class:`FrameError`, never a raise."""
    size = len(body)
    if size < _PREFIX.size:
        return FrameError(ErrorKind.TRUNCATED, f"{size} bytes, shorter than a header", size)
    version, type_byte, id_len = _PREFIX.unpack_from(body)
    if version != PROTOCOL_VERSION:
        return FrameError(ErrorKind.BAD_VERSION, f"version {version}", size)
    try:
        ftype = FrameType(type_byte)
    except ValueError:
        return FrameError(ErrorKind.UNKNOWN_TYPE, f"type 0x{type_byte:02x}", size)
    if not 1 <= id_len <= MAX_DEVICE_ID_LEN:
        return FrameError(ErrorKind.MALFORMED, f"device id length {id_len}", size)
    pos = _PREFIX.size + id_len
    if size < pos + _SEQ_TS.size:
        return FrameError(ErrorKind.TRUNCATED, "header cut short", size)
    device_id = body[_PREFIX.size : pos].decode("ascii", errors="replace")
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        return FrameError(ErrorKind.MALFORMED, f"device id {device_id!r}", size)
    seq, ts = _SEQ_TS.unpack_from(body, pos)
    pos += _SEQ_TS.size
    payload = body[pos:]
    if ftype is FrameType.TELEMETRY:
        return _parse_telemetry(payload, device_id, seq, ts, size)
    fixed = {
        FrameType.EVENT: _EVENT,
        FrameType.CONSUMABLE: _CONSUMABLE,
        FrameType.HEARTBEAT: _HEARTBEAT,
    }[ftype]
    if len(payload) < fixed.size:
        return FrameError(ErrorKind.TRUNCATED, f"{ftype.name} payload of {len(payload)} bytes", size)
    if len(payload) > fixed.size:
        return FrameError(ErrorKind.MALFORMED, f"{len(payload) - fixed.size} trailing bytes", size)
    fields = fixed.unpack(payload)
    if ftype is FrameType.EVENT:
        return EventFrame(device_id, seq, ts, fields[0], fields[1])
    if ftype is FrameType.CONSUMABLE:
        cid, unit, flags, value = fields
        if flags & ~_CONSUMABLE_REPLACED:
            return FrameError(ErrorKind.MALFORMED, f"consumable flags 0x{flags:02x}", size)
        return ConsumableFrame(device_id, seq, ts, cid, unit, value, bool(flags))
    return HeartbeatFrame(device_id, seq, ts, *fields)


def _parse_telemetry(
    payload: bytes, device_id: str, seq: int, ts: int, size: int
) -> TelemetryFrame | FrameError:
    if not payload:
        return FrameError(ErrorKind.TRUNCATED, "telemetry without a channel count", size)
    count = payload[0]
    if not 1 <= count <= MAX_CHANNELS:
        return FrameError(ErrorKind.MALFORMED, f"{count} channels", size)
    expected = 1 + count * _CHANNEL.size
    if len(payload) < expected:
        return FrameError(ErrorKind.TRUNCATED, f"{count} channels need {expected} bytes", size)
    if len(payload) > expected:
        return FrameError(ErrorKind.MALFORMED, f"{len(payload) - expected} trailing bytes", size)
    channels = tuple(_CHANNEL.iter_unpack(payload[1:]))
    if len({cid for cid, _ in channels}) != count:
        return FrameError(ErrorKind.MALFORMED, "a channel id appears twice", size)
    return TelemetryFrame(device_id, seq, ts, channels)
