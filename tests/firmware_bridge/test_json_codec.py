from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge import (
    ConsumableUsage,
    DeviceEvent,
    Heartbeat,
    JsonError,
    Sample,
    decode_one,
    encode,
    message_from_frame,
    message_from_json,
    message_to_frame,
    message_to_json,
)

MESSAGES = [
    Sample("ac-0001", 1767225600.5, 3, {"vibration_rms": 1.25, "motor_current": math.nan}),
    DeviceEvent("ac-0001", 1767225601.0, 4, 0x1002, 3),
    ConsumableUsage("ro-0001", 1767225602.0, 5, "sediment_filter", "litres", 1234.5, False),
    ConsumableUsage("ro-0001", 1767225603.0, 6, "sediment_filter", "litres", 0.0, True),
    Heartbeat("pump-0001", 1767225604.0, 7, 3600, "1.4", 0),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_json_round_trip_is_strict_json(msg) -> None:  # type: ignore[no-untyped-def]
    payload = message_to_json(msg)
    json.loads(payload, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert message_from_json(payload, msg.device_id) == msg


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_json_and_frame_paths_agree(msg) -> None:  # type: ignore[no-untyped-def]
    frame = decode_one(encode(message_to_frame(msg)))
    assert message_from_frame(frame) == msg  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"\xff\xfe", "json"),
        (b"[1, 2]", "schema"),
        (b'{"seq": 1, "ts": 1, "values": {}}', "schema"),
        (b'{"seq": -1, "ts": 1, "values": {"a": 1}}', "schema"),
        (b'{"seq": true, "ts": 1, "values": {"a": 1}}', "schema"),
        (b'{"seq": 1, "ts": "yesterday", "values": {"a": 1}}', "schema"),
        (b'{"seq": 1, "ts": "2026-01-01T00:00:00", "values": {"a": 1}}', "schema"),
        (b'{"seq": 1, "ts": 1, "values": {"a": "high"}}', "schema"),
        (b'{"seq": 1, "ts": 1, "values": {"A b": 1}}', "schema"),
        (b'{"type": "gossip", "seq": 1, "ts": 1}', "schema"),
        (
            b'{"type": "consumable", "seq": 1, "ts": 1, "consumable": "x", "unit": "hours", "value": -1}',
            "schema",
        ),
        (
            b'{"type": "heartbeat", "seq": 1, "ts": 1, "uptime_s": 1, "firmware": "one", "status": 0}',
            "schema",
        ),
        (b'{"device_id": "someone-else", "seq": 1, "ts": 1, "values": {"a": 1}}', "device_mismatch"),
    ],
)
def test_bad_json_is_an_error_value_not_an_exception(payload: bytes, kind: str) -> None:
    result = message_from_json(payload, "ac-0001")
    assert isinstance(result, JsonError) and result.kind == kind and result.detail


def test_iso_timestamps_and_nulls() -> None:
    msg = message_from_json(b'{"seq": 1, "ts": "2026-01-01T00:00:00Z", "values": {"a": null, "b": NaN}}', "d")
    assert isinstance(msg, Sample)
    assert msg.timestamp == 1767225600.0
    assert math.isnan(msg.values["a"]) and math.isnan(msg.values["b"])


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(payload: bytes) -> None:
    result = message_from_json(payload, "dev")
    assert isinstance(result, JsonError | Sample | DeviceEvent | ConsumableUsage | Heartbeat)
