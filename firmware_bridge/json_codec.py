"""JSON form of device messages, for devices that publish to MQTT directly.

One object per MQTT message; ``type`` defaults to ``"telemetry"``::

    {"type": "telemetry", "seq": 42, "ts": 1767225600.0,
     "values": {"vibration_rms": 2.31, "motor_current": null}}

``ts`` is seconds since the epoch or an ISO-8601 string with a zone. ``null`` (or NaN)
is a dropout. ``device_id`` may be given and must then equal the topic's: a device can
only publish as itself. Every defect is returned as a :class:`JsonError`, never raised.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .messages import ConsumableUsage, DeviceEvent, DeviceMessage, Heartbeat, Sample
from .registry import NAME_PATTERN

__all__ = ["JsonError", "message_from_json", "message_to_json"]

_MAX_CHANNELS = 64


@dataclass(frozen=True, slots=True)
class JsonError:
    """Why a payload was rejected: kind is ``json``, ``schema`` or ``device_mismatch``."""

    kind: str
    detail: str


def message_to_json(msg: DeviceMessage) -> bytes:
    """Serialise for MQTT; NaN values are written as ``null`` so the output is strict JSON."""
    base: dict[str, Any] = {"device_id": msg.device_id, "seq": msg.seq, "ts": msg.timestamp}
    if isinstance(msg, Sample):
        values = {k: (None if math.isnan(v) else v) for k, v in msg.values.items()}
        body = {"type": "telemetry", **base, "values": values}
    elif isinstance(msg, DeviceEvent):
        body = {"type": "event", **base, "code": msg.code, "severity": msg.severity}
    elif isinstance(msg, ConsumableUsage):
        body = {
            "type": "consumable",
            **base,
            "consumable": msg.consumable,
            "unit": msg.unit,
            "value": msg.value,
            "replaced": msg.replaced,
        }
    else:
        body = {
            "type": "heartbeat",
            **base,
            "uptime_s": msg.uptime_s,
            "firmware": msg.firmware,
            "status": msg.status,
        }
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


class _Reject(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def message_from_json(payload: bytes, device_id: str, tenant: str | None = None) -> DeviceMessage | JsonError:
    """Parse one payload published on ``device_id``'s topic."""
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        return JsonError("json", f"not JSON: {exc}")
    try:
        return _build(doc, device_id, tenant)
    except _Reject as rej:
        return JsonError(rej.kind, rej.detail)


def _build(doc: Any, device_id: str, tenant: str | None) -> DeviceMessage:
    if not isinstance(doc, dict):
        raise _Reject("schema", "payload is not a JSON object")
    claimed = doc.get("device_id", device_id)
    if claimed != device_id:
        raise _Reject("device_mismatch", f"payload says {claimed!r}, topic says {device_id!r}")
    kind = doc.get("type", "telemetry")
    seq = _int(doc, "seq", 32)
    ts = _timestamp(doc.get("ts"))
    if kind == "telemetry":
        return Sample(device_id, ts, seq, _values(doc.get("values")), tenant)
    if kind == "event":
        return DeviceEvent(device_id, ts, seq, _int(doc, "code", 16), _int(doc, "severity", 8), tenant)
    if kind == "consumable":
        value = _number(doc.get("value"), "value")
        if math.isnan(value) or value < 0:
            raise _Reject("schema", "consumable value must be a non-negative number")
        replaced = doc.get("replaced", False)
        if not isinstance(replaced, bool):
            raise _Reject("schema", "replaced must be true or false")
        names = (_name(doc.get("consumable"), "consumable"), _name(doc.get("unit"), "unit"))
        return ConsumableUsage(device_id, ts, seq, *names, value, replaced, tenant)
    if kind == "heartbeat":
        firmware = doc.get("firmware", "0.0")
        if not isinstance(firmware, str) or not _is_version(firmware):
            raise _Reject("schema", "firmware must be a 'major.minor' string")
        uptime = _int(doc, "uptime_s", 32)
        return Heartbeat(device_id, ts, seq, uptime, firmware, _int(doc, "status", 8), tenant)
    raise _Reject("schema", f"unknown type {kind!r}")


def _is_version(s: str) -> bool:
    major, dot, minor = s.partition(".")
    return bool(dot) and major.isdigit() and minor.isdigit() and int(major) < 256 > int(minor)


def _int(doc: dict[str, Any], key: str, bits: int) -> int:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < (1 << bits):
        raise _Reject("schema", f"{key} must be an integer in [0, 2**{bits})")
    return v


def _number(v: Any, what: str) -> float:
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _Reject("schema", f"{what} must be a number or null, got {type(v).__name__}")
    return float(v)


def _name(v: Any, what: str) -> str:
    if not isinstance(v, str) or not NAME_PATTERN.fullmatch(v):
        raise _Reject("schema", f"{what} must be a lower_snake_case name")
    return v


def _values(v: Any) -> dict[str, float]:
    if not isinstance(v, dict) or not v:
        raise _Reject("schema", "values must be a non-empty object")
    if len(v) > _MAX_CHANNELS:
        raise _Reject("schema", f"more than {_MAX_CHANNELS} channels")
    return {_name(k, "channel name"): _number(x, f"values.{k}") for k, x in v.items()}


def _timestamp(v: Any) -> float:
    if isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise _Reject("schema", f"ts {v!r} is not ISO-8601") from None
        if dt.tzinfo is None:
            raise _Reject("schema", "ts needs a time zone (e.g. a trailing Z)")
        return dt.timestamp()
    ts = _number(v, "ts")
    if not math.isfinite(ts) or not 0 <= ts < 2**32:
        raise _Reject("schema", "ts must be seconds since the epoch (or ISO-8601)")
    return ts
