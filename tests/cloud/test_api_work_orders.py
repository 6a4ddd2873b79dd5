"""The work-order API on both engines: lifecycle, automation, history, knowledge, errors."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from cloud.clock import ManualClock
from cloud.db import WorkOrderEvent
from cloud.state import CloudState

from .conftest import NOW
from .messages import alert, wire
from .test_pages import login
from .world import World


def _raise(state: CloudState, device: str = "ac-1", at=NOW, **kw) -> int:  # type: ignore[no-untyped-def]
    result = state.ingestor.handle(*wire(alert(device, "raise", at, **kw)))
    return result.created_orders[0]


def _do(
    client: TestClient, world: World, who: str, order: int, action: str, body: dict | None = None
) -> dict:  # type: ignore[type-arg]
    r = client.post(f"/api/v1/work-orders/{order}/{action}", json=body, headers=world.auth(who))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_full_lifecycle_with_rating_and_verification(
    client: TestClient, state: CloudState, world: World, clock: ManualClock
) -> None:
    order = _raise(state)
    got = client.get(f"/api/v1/work-orders/{order}", headers=world.auth("frida")).json()
    assert got["status"] == "assigned" and got["allowed_actions"] == ["accept", "decline"]
    assert got["dispatch"]["engineer"] == "Frida"
    _do(client, world, "frida", order, "accept")
    _do(client, world, "frida", order, "start")
    done = _do(
        client,
        world,
        "frida",
        order,
        "resolve",
        {
            "fix": "replaced the leaking Schrader valve, recharged 0.4 kg",
            "parts": [{"part_number": "SV-1", "name": "Schrader valve", "quantity": 2}],
        },
    )
    assert done["status"] == "resolved" and done["verify_until"] is not None
    assert done["parts"] == [{"part_number": "SV-1", "name": "Schrader valve", "quantity": 2}]
    # rated inside the verification window: stays resolved until the window passes clean
    rated = _do(client, world, "dispatcher", order, "rate", {"stars": 5, "comment": "quick"})
    assert rated["status"] == "resolved"
    state.ingestor.handle(*wire(alert("ac-1", "clear", NOW + timedelta(hours=1))))
    clock.advance(timedelta(hours=73))
    run = client.post("/api/v1/scheduler/run", headers=world.auth("admin")).json()
    assert run["closed"] == [order]
    final = client.get(f"/api/v1/work-orders/{order}", headers=world.auth("admin")).json()
    kinds = [e["kind"] for e in final["events"]]
    assert final["status"] == "closed" and kinds == [
        "created",
        "assigned",
        "accepted",
        "started",
        "resolved",
        "rated",
        "alert_cleared",
        "closed",
    ]
    assert client.get(
        f"/api/v1/devices/{world.device['ac-1']}/history/verify", headers=world.auth("admin")
    ).json() == {"ok": True, "events": 8, "broken_at_seq": None, "reason": None}


def test_illegal_transitions_answer_409(client: TestClient, state: CloudState, world: World) -> None:
    order = _raise(state)
    r = client.post(f"/api/v1/work-orders/{order}/start", headers=world.auth("frida"))
    assert r.status_code == 409 and r.json()["detail"] == "cannot start a work order that is assigned"
    r = client.post(f"/api/v1/work-orders/{order}/rate", json={"stars": 4}, headers=world.auth("admin"))
    assert r.status_code == 409 and "only a resolved work order" in r.json()["detail"]


def test_decline_redispatches_to_the_next_best(client: TestClient, state: CloudState, world: World) -> None:
    order = _raise(state)
    out = _do(client, world, "frida", order, "decline", {"reason": "on leave"})
    assert out["status"] == "assigned" and out["reassigned_to"] != world.engineer["frida"]
    # frida no longer sees it; the new assignee does
    assert client.get(f"/api/v1/work-orders/{order}", headers=world.auth("frida")).status_code == 404


def test_low_rating_creates_a_review_task(client: TestClient, state: CloudState, world: World) -> None:
    order = _raise(state)
    for action, body in (("accept", None), ("start", None), ("resolve", {"fix": "tightened flare nut"})):
        _do(client, world, "frida", order, action, body)
    _do(client, world, "dispatcher", order, "rate", {"stars": 2, "comment": "came back twice"})
    tasks = client.get("/api/v1/tasks", headers=world.auth("dispatcher")).json()["items"]
    assert [(t["kind"], t["work_order_id"]) for t in tasks] == [("review", order)]
    notes = client.get("/api/v1/notifications?recipient=supervisor", headers=world.auth("admin")).json()[
        "items"
    ]
    assert any("rated 2/5" in n["message"] for n in notes)


def test_fault_returning_in_the_verification_window_reopens(
    client: TestClient, state: CloudState, world: World, clock: ManualClock
) -> None:
    order = _raise(state)
    for action, body in (("accept", None), ("start", None), ("resolve", {"fix": "recharged"})):
        _do(client, world, "frida", order, action, body)
    clock.advance(timedelta(hours=5))
    again = state.ingestor.handle(*wire(alert("ac-1", "raise", clock.now(), alert_id="a9")))
    assert again.created_orders == []  # same device + fault: the same order, reopened
    got = client.get(f"/api/v1/work-orders/{order}", headers=world.auth("admin")).json()
    assert got["reopened"] == 1 and got["status"] == "assigned"  # and dispatched again
    kinds = [e["kind"] for e in got["events"]]
    assert kinds[kinds.index("resolved") + 1 :] == ["evidence_attached", "reopened", "assigned"]


def test_alert_still_active_when_the_window_ends_reopens(
    client: TestClient, state: CloudState, world: World, clock: ManualClock
) -> None:
    order = _raise(state)
    for action, body in (("accept", None), ("start", None), ("resolve", {"fix": "cleaned coil"})):
        _do(client, world, "frida", order, action, body)
    clock.advance(timedelta(hours=73))
    run = client.post("/api/v1/scheduler/run", headers=world.auth("admin")).json()
    assert run["reopened"] == [order]


def test_not_accepted_in_time_escalates_and_overdue_tells_management(
    client: TestClient, state: CloudState, world: World, clock: ManualClock
) -> None:
    order = _raise(state, "pump-1", fault_key="vibration_rms", severity="warning")  # P4: 24 h to respond
    clock.advance(timedelta(hours=25))
    run = client.post("/api/v1/scheduler/run", headers=world.auth("admin")).json()
    assert run["escalated"] == [order]
    got = client.get(f"/api/v1/work-orders/{order}", headers=world.auth("admin")).json()
    assert got["priority"] == 3 and got["escalation_level"] == 1
    again = client.post("/api/v1/scheduler/run", headers=world.auth("admin")).json()
    assert again["escalated"] == []  # once per missed deadline, not on every pass
    clock.advance(timedelta(days=7))
    run = client.post("/api/v1/scheduler/run", headers=world.auth("admin")).json()
    assert order in run["overdue"]
    tier3 = client.get("/api/v1/notifications?tier=3", headers=world.auth("admin")).json()["items"]
    assert [n["recipient"] for n in tier3] == ["management"]
    metrics = client.get("/metrics").text
    assert 'prognos_sla_breaches_total{deadline="response"}' in metrics


def test_tampering_with_history_is_detected(client: TestClient, state: CloudState, world: World) -> None:
    order = _raise(state)
    _do(client, world, "frida", order, "accept")
    with state.sessions.begin() as s:
        s.execute(update(WorkOrderEvent).where(WorkOrderEvent.seq == 2).values(actor="someone else"))
    report = client.get(
        f"/api/v1/devices/{world.device['ac-1']}/history/verify", headers=world.auth("admin")
    ).json()
    assert report["ok"] is False and report["broken_at_seq"] == 2
    with state.sessions.begin() as s:
        last = s.scalar(select(WorkOrderEvent).order_by(WorkOrderEvent.seq.desc()))
        s.delete(last)
        s.execute(update(WorkOrderEvent).where(WorkOrderEvent.seq == 2).values(actor="system:ingest"))
    report = client.get(
        f"/api/v1/devices/{world.device['ac-1']}/history/verify", headers=world.auth("admin")
    ).json()
    assert report["ok"] is False and "removed" in report["reason"]


def test_similar_resolved_cases_come_with_fix_and_parts(
    client: TestClient, state: CloudState, world: World, clock: ManualClock
) -> None:
    first = _raise(state)
    for action, body in (
        ("accept", None),
        ("start", None),
        (
            "resolve",
            {"fix": "replaced the filter drier", "parts": [{"part_number": "FD-3", "name": "filter drier"}]},
        ),
    ):
        _do(client, world, "frida", first, action, body)
    _do(client, world, "admin", first, "rate", {"stars": 4})
    state.ingestor.handle(*wire(alert("ac-1", "clear", NOW + timedelta(hours=1))))
    clock.advance(timedelta(days=4))
    client.post("/api/v1/scheduler/run", headers=world.auth("admin"))
    second = _raise(state, at=clock.now(), alert_id="b1", fault_key="discharge_pressure+suction_pressure")
    cases = client.get(f"/api/v1/work-orders/{second}/similar", headers=world.auth("admin")).json()
    assert [c["work_order_id"] for c in cases] == [first]
    assert cases[0]["fix"] == "replaced the filter drier" and cases[0]["parts"][0]["part_number"] == "FD-3"
    assert cases[0]["similarity"] == 0.6 * 0.5 + 0.2 + 0.2  # half the channels, same severity and peak


def test_manual_order_is_deduplicated_and_validated(client: TestClient, world: World) -> None:
    body = {
        "device_id": world.device["pump-1"],
        "title": "noisy coupling",
        "category": "mechanical",
        "fault_key": "coupling",
    }
    a = client.post("/api/v1/work-orders", json=body, headers=world.auth("dispatcher"))
    b = client.post("/api/v1/work-orders", json=body, headers=world.auth("dispatcher"))
    assert a.status_code == b.status_code == 201 and a.json()["id"] == b.json()["id"]
    bad = client.post(
        "/api/v1/work-orders", json={**body, "severity": "apocalyptic"}, headers=world.auth("admin")
    )
    assert bad.status_code == 422 and bad.json()["message"].startswith("body.severity: Input should be")
    extra = client.post("/api/v1/work-orders", json={**body, "colour": "red"}, headers=world.auth("admin"))
    assert extra.status_code == 422 and "colour" in extra.json()["message"]


def test_dispatch_all_and_health_view(client: TestClient, state: CloudState, world: World) -> None:
    state.ingestor.handle(*wire(alert("ro-1", "raise", NOW, fault_key="tds_out", health=0.4)))
    health = client.get(
        f"/api/v1/devices/{world.device['ro-1']}/health", headers=world.auth("dispatcher")
    ).json()
    assert health["connectivity"] == "online" and health["condition"] == "major" and health["health"] == 0.4
    assert len(health["active_alerts"]) == 1 and len(health["open_work_orders"]) == 1
    assert client.post("/api/v1/work-orders/dispatch", headers=world.auth("dispatcher")).json() == []


def test_request_limits_and_auth_errors(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/work-orders").status_code == 401
    assert client.get("/api/v1/work-orders", headers={"Authorization": "Bearer prg_nope"}).status_code == 401
    big = client.post(
        "/api/v1/work-orders",
        content=b"x" * 2_000_000,
        headers={**world.auth("admin"), "content-type": "application/json"},
    )
    assert big.status_code == 413

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"y" * 50_000

    streamed = client.post(
        "/api/v1/work-orders",
        content=chunks(),
        headers={**world.auth("admin"), "content-type": "application/json"},
    )
    assert streamed.status_code == 413


def test_a_missed_deadline_stays_missed_through_every_escalation(
    client: TestClient, state: CloudState, world: World, clock: ManualClock
) -> None:
    """Issue 16: each escalation pushed the response deadline an hour out, so an order at
    escalation level 46 still said "SLA in 1h 0m" with its resolve-by 12 days past."""
    order = _raise(state, "pump-1", fault_key="vibration_rms", severity="warning")  # P4: 24 h to respond
    due = client.get(f"/api/v1/work-orders/{order}", headers=world.auth("admin")).json()["response_due_at"]
    levels = []
    for _ in range(6):
        clock.advance(timedelta(minutes=30) if levels else timedelta(hours=25))
        client.post("/api/v1/scheduler/run", headers=world.auth("admin"))
        got = client.get(f"/api/v1/work-orders/{order}", headers=world.auth("admin")).json()
        assert got["response_due_at"] <= due  # never moved out (a raised priority may pull it in)
        levels.append(got["escalation_level"])
    assert levels == [1, 1, 2, 2, 3, 3]  # once when missed, then once an hour while nobody accepts
    login(client, world.token["dispatcher"])
    page = client.get(f"/ui/work-orders/{order}").text
    assert 'id="order-sla">overdue by' in page


def test_a_finished_order_says_whether_it_met_its_sla(
    client: TestClient, state: CloudState, world: World, clock: ManualClock
) -> None:
    order = _raise(state)
    for action, body in (("accept", None), ("start", None), ("resolve", {"fix": "cleaned the coil"})):
        _do(client, world, "frida", order, action, body)
    login(client, world.token["dispatcher"])
    assert 'id="order-sla">met<' in client.get(f"/ui/work-orders/{order}").text
    late = _raise(state, "pump-1", fault_key="vibration_rms", severity="warning")
    _do(client, world, "admin", late, "assign", {"engineer_id": world.engineer["paul"]})
    clock.advance(timedelta(days=3))  # accepted long after its 24 h response deadline
    for action, body in (("accept", None), ("start", None), ("resolve", {"fix": "new bearing"})):
        _do(client, world, "paul", late, action, body)
    assert "missed (response" in client.get(f"/ui/work-orders/{late}").text
