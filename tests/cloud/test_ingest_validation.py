"""Ingest checks what it is told: NaN, infinities, out-of-range, wrong types, oversized
strings and payloads never become a work order or a 5xx; each is a dead letter that says why.

Found by trying it as a broken device would (issue 15): a NaN health was stored as null and
opened an order, a health of -5 showed as "-500 %", a 5,000-character device id and a 1 MB
alert were accepted over MQTT.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from cloud.db import Alert, DeadLetter, InboxMessage, WorkOrder
from cloud.state import CloudState
from firmware_bridge.contract import MAX_MESSAGE_BYTES, ContractError, parse_edge_delivery

from .conftest import NOW
from .messages import alert, summary, wire
from .world import World


def _count(state: CloudState, model: type) -> int:
    with state.sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _last_reason(state: CloudState) -> str:
    with state.sessions() as s:
        return s.scalars(select(DeadLetter.reason).order_by(DeadLetter.id.desc())).first() or ""


def _good_alert() -> tuple[str, dict[str, Any]]:
    topic, payload = wire(alert("ac-1", "raise", NOW))
    return topic, json.loads(payload)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("health", float("nan"), "health: Input should be a finite number"),
        ("health", float("inf"), "health: Input should be a finite number"),
        ("health", -5.0, "health: Input should be greater than or equal to 0"),
        ("health", 1.5, "health: Input should be less than or equal to 1"),
        ("score", float("nan"), "score: Input should be a finite number"),
        ("device_id", "x" * 5000, "device_id: String should match pattern"),
        ("device_id", "ac-1/../pump", "device_id: String should match pattern"),
        ("fault_key", "k" * 201, "fault_key: String should have at most 200 characters"),
        ("detector", 7, "detector: Input should be a valid string"),
    ],
)
def test_each_bad_field_is_refused_with_what_was_wrong(
    state: CloudState, world: World, field: str, value: object, reason: str
) -> None:
    topic, doc = _good_alert()
    result = state.ingestor.handle(topic, json.dumps({**doc, field: value}).encode())
    assert result.outcome == "dead_letter" and result.reason is not None and reason in result.reason
    assert _count(state, WorkOrder) == 0 and _count(state, Alert) == 0 and _count(state, InboxMessage) == 0
    assert reason in _last_reason(state)


def test_nan_inside_evidence_and_summaries_is_refused(state: CloudState, world: World) -> None:
    topic, doc = _good_alert()
    doc["evidence"][0]["values"]["suction_pressure"] = float("nan")
    result = state.ingestor.handle(topic, json.dumps(doc).encode())
    assert result.outcome == "dead_letter" and "evidence.0.values.suction_pressure" in (result.reason or "")
    topic, payload = wire(summary("pump-1", NOW))
    doc = json.loads(payload)
    channel = next(iter(doc["channels"]))
    doc["channels"][channel]["max"] = float("inf")
    result = state.ingestor.handle(topic, json.dumps(doc).encode())
    assert result.outcome == "dead_letter" and f"channels.{channel}.max" in (result.reason or "")


def test_a_payload_over_the_http_limit_is_refused_before_it_is_parsed(
    state: CloudState, world: World
) -> None:
    topic, doc = _good_alert()
    point = doc["evidence"][0]
    doc["evidence"] = [point] * 14_000  # over 1 MB (11,000 points of a real window were found over MQTT)
    payload = json.dumps(doc).encode()
    assert len(payload) > MAX_MESSAGE_BYTES
    result = state.ingestor.handle(topic, payload)
    assert result.outcome == "dead_letter" and "over the 1000000-byte limit" in (result.reason or "")
    # under the byte limit, the evidence window still has a length limit
    doc["evidence"] = [point] * 1_001
    result = state.ingestor.handle(topic, json.dumps(doc).encode())
    assert result.outcome == "dead_letter" and "evidence: List should have at most 1000 items" in (
        result.reason or ""
    )
    assert _count(state, WorkOrder) == 0


def test_status_and_model_reports_are_checked_in_the_same_place() -> None:
    with pytest.raises(ContractError, match="invalid status report: state"):
        parse_edge_delivery("prognos/v1/acme/edge/edge-1/status", b'{"agent_id": "edge-1", "state": "on"}')
    with pytest.raises(ContractError, match="status report of acme/edge-2 on the topic of acme/edge-1"):
        parse_edge_delivery(
            "prognos/v1/acme/edge/edge-1/status", b'{"agent_id": "edge-2", "state": "online"}'
        )


def test_request_bodies_take_numbers_as_numbers(client: TestClient, world: World) -> None:
    """``home_latitude: false`` used to be stored as 0.0."""
    body = {"name": "Ada", "home_latitude": False, "home_longitude": 10.0}
    r = client.post("/api/v1/engineers", json=body, headers=world.auth("admin"))
    assert r.status_code == 422 and "home_latitude" in r.text
    r = client.post("/api/v1/engineers", json={**body, "home_latitude": "52.5"}, headers=world.auth("admin"))
    assert r.status_code == 422
    r = client.post("/api/v1/engineers", json={**body, "home_latitude": 52}, headers=world.auth("admin"))
    assert r.status_code == 201 and r.json()["home_latitude"] == 52.0


# -- properties ---------------------------------------------------------------------------------

_NASTY = st.one_of(
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 5e-324, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    st.text(max_size=300),
    st.text(min_size=5000, max_size=6000),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.floats(), max_size=3),
)
_FIELDS = [
    "health",
    "score",
    "peak",
    "at",
    "created_at",
    "device_id",
    "agent_id",
    "tenant",
    "fault_key",
    "severity",
    "transition",
    "alert_id",
    "detector",
    "model_version",
    "predicted_failure_at",
    "predicted_failure_ci",
    "evidence",
]


def _finite_and_in_range(state: CloudState) -> None:
    with state.sessions() as s:
        for a in s.scalars(select(Alert)):
            for v in (a.score, a.peak) + ((a.health,) if a.health is not None else ()):
                assert math.isfinite(v) and 0.0 <= v <= 1.0


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(field=st.sampled_from(_FIELDS), value=_NASTY, salt=st.integers(0, 10**9))
def test_any_value_in_any_field_is_stored_valid_or_dead_lettered_never_raised(
    state: CloudState, world: World, field: str, value: object, salt: int
) -> None:
    topic, doc = _good_alert()
    doc = {**doc, field: value, "message_id": f"prop-{salt:012d}-{field}"[:64]}
    orders_before = _count(state, WorkOrder)
    dead_before = _count(state, DeadLetter)
    result = state.ingestor.handle(topic, json.dumps(doc).encode())  # never raises
    if result.outcome == "dead_letter":
        assert result.reason and _count(state, DeadLetter) == dead_before + 1
        assert _count(state, WorkOrder) == orders_before
    else:
        assert result.outcome in ("stored", "duplicate")
        _finite_and_in_range(state)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(payload=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_garbage_through_http_is_a_422_with_a_reason_never_a_5xx(
    client: TestClient, world: World, payload: bytes
) -> None:
    r = client.post(
        "/api/v1/ingest",
        content=payload,
        headers={**world.auth("device:ac-1"), "content-type": "application/json"},
    )
    assert r.status_code in (403, 422) and r.json()["detail"]


def test_dead_letters_naming_no_known_tenant_are_seen_by_the_platform_role(
    state: CloudState, world: World, client: TestClient
) -> None:
    """Issue 15: dead letters for an unknown tenant were in the database, but no API caller
    could list them (an admin sees only their own tenant's)."""
    topic, doc = _good_alert()
    stranger = json.dumps({**doc, "tenant": "nobody"}).encode()
    state.ingestor.handle(topic.replace("/acme/", "/nobody/"), stranger)
    state.ingestor.handle("not/a/topic", b"{}")
    state.ingestor.handle(topic, b"{broken")
    admin = client.get("/api/v1/dead-letters", headers=world.auth("admin")).json()
    assert [d["topic"] for d in admin["items"]] == [topic]
    platform = client.get("/api/v1/dead-letters", headers=world.auth("platform")).json()
    assert platform["total"] == 3 and {d["reason"].split(":")[0] for d in platform["items"]} >= {
        "unknown tenant 'nobody'",
        "not an edge topic",
    }
    assert client.get("/api/v1/work-orders", headers=world.auth("platform")).status_code == 403
