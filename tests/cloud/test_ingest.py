"""Ingest on both engines: every edge message kind, dedup, and what happens to bad input."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cloud.db import Agent, Alert, DeadLetter, Device, InboxMessage, Reminder, TelemetrySummary, WorkOrder
from cloud.state import CloudState
from firmware_bridge.contract import edge_topic

from .conftest import NOW
from .messages import alert, consumable, fault, summary, wire
from .test_pages import login
from .world import World


def _ingest(state: CloudState, msg: object):  # type: ignore[no-untyped-def]
    return state.ingestor.handle(*wire(msg))


def _orders(state: CloudState) -> list[WorkOrder]:
    with state.sessions() as s:
        return list(s.scalars(select(WorkOrder).order_by(WorkOrder.id)))


def _count(state: CloudState, model: type) -> int:
    with state.sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_alert_opens_a_preventive_order_dispatched_to_the_right_engineer(
    state: CloudState, world: World
) -> None:
    pfa = NOW + timedelta(hours=20)
    result = _ingest(state, alert("ac-1", "raise", NOW, predicted_failure_at=pfa))
    assert result.outcome == "stored" and len(result.created_orders) == 1
    (order,) = _orders(state)
    assert (order.source, order.kind, order.category) == ("alert", "preventive", "refrigerant")
    assert order.status == "assigned" and order.assignee_id == world.engineer["frida"]
    assert order.priority == 1  # major + failure within a day + gold customer + under warranty
    assert order.response_due_at == NOW + timedelta(hours=2)
    assert order.predicted_failure_at == pfa and order.model_version == "robust-1"
    ev = order.evidence[0]
    assert ev["alert_id"] == "a1" and ev["score"] == 0.9999 and len(ev["window"]) == 3
    why = order.dispatch
    assert why is not None and why["facts"]["knows_model"] and why["facts"]["knows_category"]
    assert {r["engineer_id"] for r in why["runners_up"]} == {world.engineer["paul"], world.engineer["nils"]}


def test_redelivered_message_has_no_effect(state: CloudState, world: World) -> None:
    msg = alert("ac-1", "raise", NOW)
    assert _ingest(state, msg).outcome == "stored"
    assert _ingest(state, msg).outcome == "duplicate"
    assert len(_orders(state)) == 1 and _count(state, Alert) == 1 and _count(state, InboxMessage) == 1


def test_repeat_alert_attaches_as_evidence_and_raises_priority(state: CloudState, world: World) -> None:
    _ingest(state, alert("pump-1", "raise", NOW, fault_key="vibration_rms", severity="warning"))
    (order,) = _orders(state)
    assert order.priority == 4  # warning, standard customer, out of warranty
    later = NOW + timedelta(minutes=30)
    _ingest(
        state,
        alert(
            "pump-1",
            "update",
            later,
            fault_key="vibration_rms",
            severity="critical",
            predicted_failure_at=later + timedelta(hours=12),
        ),
    )
    # a second alert id for the same fault on the same device is still the same order
    _ingest(
        state, alert("pump-1", "raise", later, alert_id="a2", fault_key="vibration_rms", severity="critical")
    )
    (order,) = _orders(state)
    assert order.severity == "critical" and order.priority == 2 and len(order.evidence) == 3
    assert order.category == "mechanical" and order.assignee_id == world.engineer["paul"]
    assert order.response_due_at <= later + timedelta(hours=4)


def test_other_fault_on_same_device_is_its_own_order(state: CloudState, world: World) -> None:
    _ingest(state, alert("pump-1", "raise", NOW, fault_key="vibration_rms"))
    _ingest(state, alert("pump-1", "raise", NOW, alert_id="a2", fault_key="flow_rate"))
    assert [o.category for o in _orders(state)] == ["mechanical", "hydraulic"]


def test_alert_cleared_before_anyone_acted_is_recorded_not_deleted(state: CloudState, world: World) -> None:
    _ingest(state, alert("ac-1", "raise", NOW))
    _ingest(state, alert("ac-1", "clear", NOW + timedelta(minutes=20)))
    with state.sessions() as s:
        a = s.scalar(select(Alert))
        assert a is not None and a.status == "cleared" and a.cleared_at == NOW + timedelta(minutes=20)
        from cloud.db import WorkOrderEvent

        kinds = [(e.kind, e.data) for e in s.scalars(select(WorkOrderEvent).order_by(WorkOrderEvent.seq))]
    assert kinds[-1] == ("alert_cleared", {"alert_id": "a1", "cleared_before_action": True})
    assert _orders(state)[0].status == "assigned"


@pytest.mark.parametrize("order", list(itertools.permutations(["raise", "update", "clear"])))
def test_raise_update_and_clear_in_any_arrival_order_make_one_order(
    state: CloudState, world: World, order: tuple[str, ...]
) -> None:
    """Two workers may store an alert's clear before its raise (issue 15: 44 of 55 alerts had
    no order on two workers). Whatever the arrival order, one order, and the alert ends cleared."""
    at = {"raise": NOW, "update": NOW + timedelta(minutes=5), "clear": NOW + timedelta(minutes=20)}
    for transition in order:
        _ingest(state, alert("ac-1", transition, at[transition]))
    (wo,) = _orders(state)
    with state.sessions() as s:
        a = s.scalar(select(Alert))
        assert a is not None and a.status == "cleared" and a.work_order_id == wo.id
        from cloud.db import WorkOrderEvent

        events = s.scalars(select(WorkOrderEvent).where(WorkOrderEvent.work_order_id == wo.id))
        kinds = [e.kind for e in events]
    assert kinds.count("alert_cleared") == 1


def test_fault_code_opens_a_corrective_order(state: CloudState, world: World) -> None:
    result = _ingest(state, fault("ac-1", 0x1003, NOW))
    (order,) = _orders(state)
    assert result.created_orders == [order.id]
    assert (order.kind, order.category, order.severity, order.fault_key) == (
        "corrective",
        "mechanical",
        "critical",
        "code:0x1003",
    )


def test_informational_events_are_stored_without_a_work_order(state: CloudState, world: World) -> None:
    power_on = _ingest(state, fault("ac-1", 0x0001, NOW, severity=0))
    trip = _ingest(state, fault("pump-1", 0x1004, NOW, severity=3))  # a trip stops the machine
    assert power_on.outcome == "stored" and power_on.created_orders == []
    (order,) = _orders(state)
    assert trip.created_orders == [order.id] and order.severity == "critical"


def test_summary_is_kept_for_the_health_view(state: CloudState, world: World) -> None:
    result = _ingest(state, summary("ac-1", NOW))
    assert result.summary is not None and _count(state, TelemetrySummary) == 1


def test_summaries_keep_the_device_health_current_and_a_late_replay_does_not_roll_it_back(
    state: CloudState, world: World
) -> None:
    _ingest(state, summary("ac-1", NOW, health=0.9))
    _ingest(state, summary("ac-1", NOW + timedelta(hours=1), health=0.6))
    _ingest(state, summary("ac-1", NOW - timedelta(hours=1), health=1.0))  # an outbox catching up
    with state.sessions() as s:
        device = s.scalars(select(Device).where(Device.key == "ac-1")).one()
        stored = sorted(s.scalars(select(TelemetrySummary.health)))
    assert device.health == 0.6  # the newest reading, by device time
    assert stored == [0.6, 0.9, 1.0]  # every reading kept for the device's history


def test_status_topic_records_the_agent(state: CloudState, world: World) -> None:
    payload = json.dumps({"schema_version": 1, "agent_id": "edge-1", "state": "offline", "at": 1.0}).encode()
    assert state.ingestor.handle("prognos/v1/acme/edge/edge-1/status", payload).outcome == "status"
    with state.sessions() as s:
        agent = s.scalar(select(Agent))
        assert agent is not None and agent.state == "offline"


def test_what_an_agent_dropped_and_its_devices_lost_is_visible(
    state: CloudState, world: World, client: TestClient
) -> None:
    """Issue 15: the edge dropped payloads naming another device, non-JSON and bad channel
    names without a trace, and sequence gaps showed nowhere. Its status now says so."""
    with state.sessions.begin() as s:
        gx = s.get(Device, world.device["pump-1"])
        assert gx is not None
        gx.agent_key = "edge-9"  # served by another agent: edge-1 may not report its losses
    doc = {
        "agent_id": "edge-1",
        "state": "online",
        "at": NOW.timestamp(),
        "dropped": {"mqtt:device_mismatch": 3, "mqtt:json": 1, "serial:frame_crc": 12},
        "lost": {"ac-1": 651, "pump-1": 5},
    }
    result = state.ingestor.handle("prognos/v1/acme/edge/edge-1/status", json.dumps(doc).encode())
    assert result.outcome == "status"
    state.metrics.observe_ingest(result)  # as the ingest worker does
    metrics = client.get("/metrics").text
    crc = 'prognos_edge_dropped_messages{agent="edge-1",reason="serial:frame_crc",tenant="acme"} 12.0'
    assert crc in metrics
    assert 'prognos_edge_lost_messages{agent="edge-1",tenant="acme"} 656.0' in metrics
    with state.sessions() as s:
        agent = s.scalar(select(Agent).where(Agent.key == "edge-1"))
        assert agent is not None and agent.dropped == doc["dropped"]
        ac, pump = s.get(Device, world.device["ac-1"]), s.get(Device, world.device["pump-1"])
        assert ac is not None and pump is not None
        assert ac.messages_lost == 651 and pump.messages_lost == 0
    r = client.get(f"/api/v1/devices/{world.device['ac-1']}", headers=world.auth("admin"))
    assert r.json()["messages_lost"] == 651
    login(client, world.token["dispatcher"])
    assert "651 messages lost on the way" in client.get(f"/ui/devices/{world.device['ac-1']}").text


def test_consumable_reminder_then_replacement_order_then_reset(state: CloudState, world: World) -> None:
    far = _ingest(state, consumable("ac-1", "air_filter", NOW, 0.5, NOW + timedelta(days=40)))
    assert far.outcome == "stored" and _count(state, Reminder) == 0
    _ingest(state, consumable("ac-1", "air_filter", NOW + timedelta(days=1), 0.3, NOW + timedelta(days=10)))
    _ingest(state, consumable("ac-1", "air_filter", NOW + timedelta(days=2), 0.25, NOW + timedelta(days=11)))
    with state.sessions() as s:
        (rem,) = s.scalars(select(Reminder)).all()
        assert rem.status == "active" and rem.due_at == NOW + timedelta(days=11) and rem.work_order_id is None
    made = _ingest(
        state, consumable("ac-1", "air_filter", NOW + timedelta(days=9), 0.05, NOW + timedelta(days=11))
    )
    (order,) = _orders(state)
    assert (
        made.created_orders == [order.id] and order.kind == "replacement" and order.category == "consumable"
    )
    assert order.assignee_id == world.engineer["frida"]
    # an older status arriving late changes nothing
    assert (
        _ingest(state, consumable("ac-1", "air_filter", NOW + timedelta(days=3), 0.2, None)).outcome
        == "stored"
    )
    _ingest(state, consumable("ac-1", "air_filter", NOW + timedelta(days=10), 1.0, None, replaced=True))
    with state.sessions() as s:
        (rem,) = s.scalars(select(Reminder)).all()
        assert rem.status == "cancelled" and rem.dedup_key is None
    assert _orders(state)[0].status == "cancelled"


def test_unknown_device_is_quarantined_until_an_admin_adopts_it(
    state: CloudState, world: World, client: TestClient
) -> None:
    """Found by issue 15: any device id an agent named was created on the spot and its alert
    dispatched. Now it is recorded with what it sent, opens nothing, and waits for an admin."""
    result = _ingest(state, alert("stranger-9", "raise", NOW))
    assert result.outcome == "stored" and result.quarantined and result.created_orders == []
    with state.sessions() as s:
        d = s.scalar(select(Device).where(Device.key == "stranger-9"))
        assert d is not None and not d.registered and d.last_agent == "edge-1" and d.agent_key is None
        assert s.scalar(select(Alert).where(Alert.device_id == d.id)) is not None  # kept, to be seen
    assert _ingest(state, fault("stranger-9", 0x1001, NOW)).created_orders == [] and _orders(state) == []
    body = {"key": "stranger-9", "model": "AC-3500", "site_id": world.site["north"]}
    r = client.post("/api/v1/devices", json=body, headers=world.auth("admin"))
    assert r.status_code == 201 and r.json()["registered"] and r.json()["agent_key"] == "edge-1"
    later = NOW + timedelta(minutes=5)
    assert len(_ingest(state, alert("stranger-9", "raise", later, alert_id="a9")).created_orders) == 1


def test_an_agent_cannot_report_a_device_assigned_to_another(state: CloudState, world: World) -> None:
    msg = alert("ac-1", "raise", NOW).model_copy(update={"agent_id": "edge-2"})
    result = state.ingestor.handle(edge_topic("acme", "edge-2", "alert"), msg.model_dump_json().encode())
    assert result.outcome == "dead_letter"
    assert result.reason == "device 'ac-1' reports through agent 'edge-1', not 'edge-2'"
    assert _orders(state) == [] and _count(state, Alert) == 0


def test_a_registered_device_no_agent_is_assigned_to_opens_nothing(
    state: CloudState, world: World, client: TestClient
) -> None:
    with state.sessions.begin() as s:
        device = s.get(Device, world.device["pump-1"])
        assert device is not None
        device.agent_key = None
    assert _ingest(state, alert("pump-1", "raise", NOW)).quarantined and _orders(state) == []
    r = client.put(
        f"/api/v1/devices/{world.device['pump-1']}/agent",
        json={"agent_key": "edge-1"},
        headers=world.auth("admin"),
    )
    assert r.status_code == 200 and r.json()["agent_key"] == "edge-1"
    later = NOW + timedelta(minutes=5)
    assert len(_ingest(state, alert("pump-1", "raise", later, alert_id="a3")).created_orders) == 1


def _dead(state: CloudState) -> list[DeadLetter]:
    with state.sessions() as s:
        return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def test_bad_messages_are_dead_lettered_byte_for_byte(state: CloudState, world: World) -> None:
    topic, good = wire(alert("ac-1", "raise", NOW))
    doc = json.loads(good)
    cases = {
        b"\xff\xfe not json": "not JSON",
        json.dumps({**doc, "score": "NaN"}).encode(): "score",
        json.dumps({**doc, "peak": float("nan")}).encode(): "peak",  # a bare NaN literal
        json.dumps({**doc, "score": 7}).encode(): "score",
        json.dumps({**doc, "schema_version": 9}).encode(): "unsupported schema_version",
        json.dumps({**doc, "surprise": 1}).encode(): "surprise",
    }
    for payload in cases:
        assert state.ingestor.handle(topic, payload).outcome == "dead_letter"
    assert state.ingestor.handle("prognos/v1/acme/edge/other-agent/alert", good).outcome == "dead_letter"
    assert state.ingestor.handle("not/a/topic", good).outcome == "dead_letter"
    stranger = alert("ac-1", "raise", NOW, tenant="nobody")
    assert _ingest(state, stranger).outcome == "dead_letter"
    dead = _dead(state)
    assert [d.payload for d in dead[: len(cases)]] == list(cases)
    for d, reason in zip(dead, cases.values(), strict=False):
        assert reason in d.reason
    assert "topic names acme/other-agent/alert" in dead[len(cases)].reason
    assert "unknown tenant 'nobody'" in dead[-1].reason
    assert _orders(state) == [] and _count(state, InboxMessage) == 0
    # the stream goes on: a good message after the bad ones is stored
    assert state.ingestor.handle(topic, good).outcome == "stored"


def test_a_batch_commits_once_and_each_message_keeps_its_own_outcome(state: CloudState, world: World) -> None:
    raise_ = wire(alert("ac-1", "raise", NOW))
    topic, _ = raise_
    batch = [
        raise_,
        (topic, b"{not json"),
        raise_,  # the edge redelivered it before the first copy was acked
        wire(alert("ac-1", "raise", NOW, tenant="nobody")),
        wire(summary("pump-1", NOW)),
        wire(alert("stranger-9", "raise", NOW, alert_id="a7")),
    ]
    results = state.ingestor.handle_batch(batch)
    assert [r.outcome for r in results] == [
        "stored",
        "dead_letter",
        "duplicate",
        "dead_letter",
        "stored",
        "stored",
    ]
    assert [d.payload for d in _dead(state)] == [b"{not json", batch[3][1]]
    assert _count(state, InboxMessage) == 3 and _count(state, TelemetrySummary) == 1
    assert len(results[0].created_orders) == 1 and len(_orders(state)) == 1  # the stranger is quarantined
    assert results[5].quarantined


def test_a_message_that_fails_midway_rolls_back_alone(
    state: CloudState, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: handling blows up for one device after its alert, inbox row and order
    were written; only that message's savepoint is undone and it is dead-lettered."""
    from cloud.services import work_orders

    real = work_orders.open_order

    def open_unless_pump(s, device, spec, actor, now, known=None):  # type: ignore[no-untyped-def]
        opened = real(s, device, spec, actor, now, known=known)
        if spec.fault_key == "vibration_rms":
            raise RuntimeError("injected")
        return opened

    monkeypatch.setattr(work_orders, "open_order", open_unless_pump)
    bad = wire(alert("pump-1", "raise", NOW, fault_key="vibration_rms"))
    results = state.ingestor.handle_batch(
        [wire(alert("ac-1", "raise", NOW)), bad, wire(summary("ac-1", NOW))]
    )
    assert [r.outcome for r in results] == ["stored", "dead_letter", "stored"]
    assert "processing failed: RuntimeError: injected" in (results[1].reason or "")
    assert [(o.fault_key, o.status) for o in _orders(state)] == [("suction_pressure", "assigned")]
    assert _count(state, Alert) == 1 and _count(state, InboxMessage) == 2
    assert [d.payload for d in _dead(state)] == [bad[1]]
    monkeypatch.undo()
    assert state.ingestor.handle(*bad).outcome == "stored"  # nothing was kept of it: a retry goes through


def test_when_dispatching_fails_the_orders_stay_open_for_the_scheduler(
    state: CloudState, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch dispatches what it opened once, at its end. If that pass fails, the messages
    and their orders are still stored (nothing is redelivered or lost); the orders wait open,
    and the scheduler's next dispatch pass assigns them."""
    import cloud.services.ingest as ingest
    from cloud.services.scheduler import run_due

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("injected")

    monkeypatch.setattr(ingest, "dispatch_orders", broken)
    pump = alert("pump-1", "raise", NOW, fault_key="vibration_rms")
    batch = [wire(alert("ac-1", "raise", NOW)), wire(pump)]
    assert [r.outcome for r in state.ingestor.handle_batch(batch)] == ["stored", "stored"]
    assert [o.status for o in _orders(state)] == ["open", "open"] and _dead(state) == []
    monkeypatch.undo()
    with state.sessions.begin() as s:
        report = run_due(s, NOW + timedelta(minutes=1))
    assert sorted(report.dispatched) == [o.id for o in _orders(state)]
    assert [o.status for o in _orders(state)] == ["assigned", "assigned"]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has no sequence to reserve from
def test_a_clean_batch_is_written_in_one_go(state: CloudState, world: World) -> None:
    """Order ids are reserved from PostgreSQL's sequence up front and nothing is flushed per
    message, so a batch's new orders, alerts and events go in as multi-row inserts (a few
    statements, not one per alert); alerts, events and notifications get their ids before
    the flush, so no multi-row insert waits for ids to come back (a lone row still does);
    every order keeps its history chain, and ids later drawn by the database itself do not
    collide with the reserved ones."""
    from sqlalchemy import event

    from cloud.db import WorkOrderEvent
    from cloud.services.history import verify_chain

    inserts: list[str] = []
    returning: list[bool] = []
    engine = state.sessions.kw["bind"]

    def count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO work_orders"):
            inserts.append(statement)
        if statement.startswith(
            ("INSERT INTO work_order_events", "INSERT INTO notifications", "INSERT INTO alerts")
        ):
            returning.append("RETURNING" in statement and "), (" in statement)  # many rows, ids back

    event.listen(engine, "before_cursor_execute", count)
    try:
        batch = [
            wire(alert(device, "raise", NOW, alert_id=f"{device}-{k}", fault_key=f"f{k}"))
            for device in ("ac-1", "pump-1", "ro-1")
            for k in range(4)
        ]
        results = state.ingestor.handle_batch(batch)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [r.outcome for r in results] == ["stored"] * 12
    assert len(inserts) == 1, "twelve orders in one multi-row insert"
    assert returning and not any(returning), "ids reserved before the flush: no multi-row RETURNING"
    assert len(_orders(state)) == 12 and _count(state, WorkOrderEvent) >= 12
    with state.sessions() as s:
        assert all(verify_chain(s, d).ok for d in s.scalars(select(Device)))
    later = state.ingestor.handle(*wire(fault("ac-1", 0x1001, NOW)))
    assert later.outcome == "stored" and later.created_orders[0] not in {
        o for r in results for o in r.created_orders
    }


def test_a_batch_dispatches_its_most_urgent_order_first(state: CloudState, world: World) -> None:
    """One engineer with room left, a warning then a critical alert in the same batch: the
    critical order gets the engineer, whatever the arrival order."""
    from cloud.db import Engineer

    with state.sessions.begin() as s:
        for e in s.scalars(select(Engineer).where(Engineer.tenant_id == world.tenant_id)):
            e.capacity = 1 if e.id == world.engineer["frida"] else 0
    minor = wire(alert("ac-1", "raise", NOW, alert_id="w", fault_key="f1", severity="warning"))
    critical = wire(alert("ac-1", "raise", NOW, alert_id="c", fault_key="f2", severity="critical"))
    state.ingestor.handle_batch([minor, critical])
    by_fault = {o.fault_key: o for o in _orders(state)}
    assert by_fault["f2"].assignee_id == world.engineer["frida"]
    assert by_fault["f1"].assignee_id is None and by_fault["f1"].status == "open"


def test_the_same_incidents_through_two_workers_at_once_make_one_order_each(
    state: CloudState, world: World
) -> None:
    """Issue 17: N workers on one database. Two workers store the raise and the updates of the
    same alerts at the same moment (a redelivery to the other member of the group, or the
    edge resending): one alert row and one work order per incident, by the database's unique
    keys (alert per device + key, one live order per device + fault), not by luck."""
    import threading

    incidents = [("ac-1", "suction_pressure"), ("pump-1", "vibration_rms"), ("ro-1", "tds_out")]
    batch = [
        wire(alert(device, "raise", NOW + timedelta(seconds=i), alert_id=f"{device}-a", fault_key=key))
        for i in range(4)
        for device, key in incidents
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(order: list[tuple[str, bytes]]) -> None:
        try:
            start.wait(10)
            for item in order:
                state.ingestor.handle_batch([item])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(o,)) for o in (batch, batch[::-1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and _dead(state) == []
    assert _count(state, Alert) == len(incidents)
    assert sorted(o.fault_key for o in _orders(state)) == sorted(k for _, k in incidents)
    assert _count(state, InboxMessage) == len(batch), "each message stored once"


def test_a_batch_of_alerts_dispatches_from_one_board_and_books_nobody_beyond_capacity(
    state: CloudState, world: World
) -> None:
    """The batch loads the engineers once and counts each assignment as it goes: six alerts
    at once for a crew that can each take one more order become six orders, one per
    engineer with room, and the rest wait unassigned with the reason."""
    from cloud.db import Engineer

    with state.sessions.begin() as s:
        crew = list(s.scalars(select(Engineer).where(Engineer.tenant_id == world.tenant_id, Engineer.active)))
        for e in crew:
            e.capacity = 1
    batch = [
        wire(alert(device, "raise", NOW, alert_id=f"{device}-{k}", fault_key=f"{key}"))
        for device in ("ac-1", "pump-1", "ro-1")
        for k, key in enumerate(("suction_pressure", "vibration_rms"))
    ]
    results = state.ingestor.handle_batch(batch)
    assert [r.outcome for r in results] == ["stored"] * 6
    orders = _orders(state)
    assigned = [o.assignee_id for o in orders if o.assignee_id is not None]
    assert len(orders) == 6 and len(assigned) == len(crew) and len(set(assigned)) == len(crew)
    assert all(
        o.dispatch["unassigned"] == "no engineer with free capacity" for o in orders if o.assignee_id is None
    )


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has one writer at a time
def test_two_workers_dispatching_at_once_book_nobody_beyond_capacity(
    state: CloudState, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers each take a batch of alerts at the same moment, for a crew that can each
    take one more order. Both load the crew together (a barrier makes sure they try); the
    crew's row locks make the second wait and count the first's assignments, so each
    engineer gets one order, not two."""
    import contextlib
    import threading

    from cloud.db import Engineer
    from cloud.services import dispatch

    with state.sessions.begin() as s:
        crew = list(s.scalars(select(Engineer).where(Engineer.tenant_id == world.tenant_id, Engineer.active)))
        for e in crew:
            e.capacity = 1
    together = threading.Barrier(2, timeout=2.0)
    real_init = dispatch.DispatchBoard.__init__

    def init_then_meet(self, session, tenant_id):  # type: ignore[no-untyped-def]
        real_init(self, session, tenant_id)
        with contextlib.suppress(threading.BrokenBarrierError):  # with the lock, the other waits
            together.wait()

    monkeypatch.setattr(dispatch.DispatchBoard, "__init__", init_then_meet)
    batches = [
        [
            wire(alert(device, "raise", NOW, alert_id=f"{device}-{k}", fault_key=f"f{k}"))
            for k in range(len(crew))
        ]
        for device in ("ac-1", "pump-1")
    ]
    results: list[list[str]] = []
    workers = [
        threading.Thread(
            target=lambda b=b: results.append([r.outcome for r in state.ingestor.handle_batch(b)])
        )
        for b in batches
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert results == [["stored"] * len(crew)] * 2
    assigned = [o.assignee_id for o in _orders(state) if o.assignee_id is not None]
    assert sorted(assigned) == sorted(e.id for e in crew), "each engineer booked once, none twice"


def test_a_rul_interval_times_the_order_by_its_lower_bound(state: CloudState, world: World) -> None:
    """A RUL model's call with its 90 % interval: the order keeps the lower bound as the
    latest safe time, is prioritised by it (not by the later point estimate) and is due
    to be resolved before it; the order page says it in cycles and in days."""
    pace = 2 * 3600.0  # the device runs a cycle every two hours
    low, point, high = 10.0, 40.0, 50.0
    msg = alert("pump-1", "raise", NOW, fault_key="vibration_rms", severity="warning").model_copy(
        update={
            "predicted_failure_at": NOW.timestamp() + point * pace,
            "predicted_failure_ci": (NOW.timestamp() + low * pace, NOW.timestamp() + high * pace),
            "rul_cycles": (low, point, high),
        }
    )
    result = state.ingestor.handle(*wire(msg))
    (order,) = _orders(state)
    assert result.created_orders == [order.id]
    assert order.latest_safe_at == NOW + timedelta(hours=20)
    assert order.rul == {"cycles": [low, point, high], "seconds_per_cycle": pace}
    # warning +1, standard customer -1, no warranty: P4 on its own; failing within a day
    # by the lower bound (20 h) adds 3 -> P3; the point (80 h) would only have added 1 -> P4
    assert order.priority == 3
    assert order.resolution_due_at == NOW + timedelta(hours=20), "resolved before the latest safe time"
    with state.sessions() as s:
        alert_row = s.scalar(select(Alert))
        assert alert_row is not None and alert_row.latest_safe_at == order.latest_safe_at
    from cloud.web.order_view import rul_phrase

    assert rul_phrase(order.rul) == "fails in 10–50 cycles (about 0.8–4.2 days at this device's pace)"
