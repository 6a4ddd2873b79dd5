"""Issue 16: SLA clocks that tell the truth, as properties over random lifecycles.

Hypothesis drives a work order through random steps (time passing, the scheduler's rules,
accept, decline, start, resolve, a worse alert on the same fault), all through the public API,
and checks after each step:

- a deadline is never moved later, except when the order is reopened (a new service cycle);
- an order that is overdue stays overdue until someone acts on it (an escalation raises the
  priority but never hides a missed deadline), and the API's ``overdue`` filter agrees;
- escalations come at most once per ``ESCALATE_EVERY`` while nobody accepts;
- a finished order is "met" exactly when it was accepted and resolved by its deadlines.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.app import create_app
from cloud.clock import ManualClock
from cloud.services.scheduler import ESCALATE_EVERY
from cloud.settings import Settings
from cloud.state import CloudState

from .conftest import NOW
from .messages import alert, wire
from .world import build_world

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.integers(1, 40 * 60)),  # minutes
        st.tuples(st.just("scheduler"), st.just(0)),
        st.tuples(st.sampled_from(["accept", "decline", "start", "resolve", "worse"]), st.just(0)),
    ),
    min_size=1,
    max_size=14,
)
DONE = ("resolved", "closed", "cancelled")


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_deadlines_never_hide_and_outcomes_follow_the_clock(
    steps: list[tuple[str, int]], sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("sla")
    shutil.copy(sqlite_template, folder / "db.sqlite")
    clock = ManualClock(NOW)
    state = CloudState.build(
        Settings(database_url=f"sqlite:///{folder / 'db.sqlite'}", data_dir=folder, log_level="WARNING"),
        clock,
    )
    try:
        world = build_world(state)
        with TestClient(create_app(state.settings, state=state)) as client:
            _walk(client, world, state, clock, steps)
    finally:
        state.close()
        shutil.rmtree(folder, ignore_errors=True)


def _walk(
    client: TestClient, world: Any, state: CloudState, clock: ManualClock, steps: list[tuple[str, int]]
) -> None:
    order_id = state.ingestor.handle(*wire(alert("ac-1", "raise", NOW, severity="warning"))).created_orders[0]

    def read() -> dict[str, Any]:
        r = client.get(f"/api/v1/work-orders/{order_id}", headers=world.auth("admin"))
        assert r.status_code == 200
        return r.json()  # type: ignore[no-any-return]

    def overdue(o: dict[str, Any], now: datetime) -> bool:
        if o["status"] in ("open", "assigned"):
            return _t(o["response_due_at"]) < now
        if o["status"] in ("accepted", "in_progress"):
            return _t(o["resolution_due_at"]) < now
        return False

    before = read()
    escalations: list[datetime] = []
    name_of = {engineer_id: name for name, engineer_id in world.engineer.items()}
    for i, (step, amount) in enumerate(steps):
        engineer = name_of.get(before["assignee_id"], "paul")  # the assignee acts
        if step == "wait":
            clock.advance(timedelta(minutes=amount))
        elif step == "scheduler":
            client.post("/api/v1/scheduler/run", headers=world.auth("admin"))
        elif step == "worse":
            worse = alert("ac-1", "raise", clock.now(), alert_id=f"w{i}", severity="critical")
            state.ingestor.handle(*wire(worse))
        else:
            body = {"decline": {"reason": "busy"}, "resolve": {"fix": "fixed"}}.get(step)
            client.post(f"/api/v1/work-orders/{order_id}/{step}", json=body, headers=world.auth(engineer))
        now = clock.now()
        after = read()
        reopened = after["reopened"] > before["reopened"]
        if not reopened:
            for due in ("response_due_at", "resolution_due_at"):
                assert _t(after[due]) <= _t(before[due]), f"{step} moved {due} later"
        if overdue(before, now) and after["status"] == before["status"]:
            assert overdue(after, now), f"{step} hid a missed deadline"
        if after["escalation_level"] > before["escalation_level"]:
            escalations.append(now)
        listed = client.get("/api/v1/work-orders?overdue=true", headers=world.auth("admin")).json()
        assert (order_id in {o["id"] for o in listed["items"]}) == overdue(after, now)
        before = after
    for a, b in zip(escalations, escalations[1:], strict=False):
        assert b - a >= ESCALATE_EVERY
    if before["status"] in DONE and before["resolved_at"]:
        met = (
            before["accepted_at"] is not None
            and _t(before["accepted_at"]) <= _t(before["response_due_at"])
            and _t(before["resolved_at"]) <= _t(before["resolution_due_at"])
        )
        page = client.post("/ui/login", data={"token": world.token["admin"]}, follow_redirects=False)
        assert page.status_code == 303
        text = client.get(f"/ui/work-orders/{order_id}").text
        assert (">met<" in text) == met
