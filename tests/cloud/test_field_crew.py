"""The simulated field crew against a live service: every step through the REST API, in simulated time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.clock import ManualClock
from cloud.db import WorkOrder
from cloud.db.migrate import upgrade
from cloud.seed import seed_fleet
from cloud.settings import Settings
from cloud.state import CloudState
from simulators.field_crew import FAULT_REPAIRS, FieldCrew, rating
from simulators.fleet import FleetSpec, plan_fleet
from simulators.workshop import Workshop
from tests.cloud.messages import alert, wire
from tests.support.live import serve


@dataclass
class Crewed:
    state: CloudState
    clock: ManualClock
    fleet: FleetSpec
    url: str
    engineers: dict[int, str]
    dispatcher: str
    workshop: Workshop = field(default_factory=Workshop)

    def crew(self, **kw: float) -> FieldCrew:
        return FieldCrew(self.url, self.engineers, self.dispatcher, self.fleet, workshop=self.workshop, **kw)

    def raise_alert(self, device: str, at: datetime, fault_key: str) -> int:
        msg = alert(device, "raise", at, tenant=self.fleet.tenant, fault_key=fault_key, alert_id=device)
        return self.state.ingestor.handle(*wire(msg)).created_orders[0]

    def order(self, order_id: int) -> WorkOrder:
        with self.state.sessions() as s:
            row = s.scalar(select(WorkOrder).where(WorkOrder.id == order_id))
            assert row is not None
            s.expunge(row)
            return row

    def at(self, hours: float) -> float:
        """Move the service's clock ``hours`` past the fleet's start; the simulated time."""
        self.clock.advance_to(datetime.fromtimestamp(self.fleet.start + hours * 3600, UTC))
        return self.fleet.start + hours * 3600


@pytest.fixture
def crewed(tmp_path: Path) -> Iterator[Crewed]:
    fleet = plan_fleet(6, 30, 3, fault_rate=0.5, archetypes=("industrial_pump",))
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    upgrade(url)
    clock = ManualClock(datetime.fromtimestamp(fleet.start, UTC))
    state = CloudState.build(Settings(database_url=url, log_level="WARNING"), clock)
    with state.sessions.begin() as s:
        report = seed_fleet(
            s, [d.as_record() for d in fleet.devices], clock.now(), state.settings.secret_key,
            tenant=fleet.tenant, engineers=4, seed=1,
        )  # fmt: skip
    engineers = {int(k.split(":")[1]): v for k, v in report.tokens.items() if k.startswith("engineer:")}
    with serve(state) as base:
        yield Crewed(state, clock, fleet, base, engineers, report.tokens["dispatcher"])


def test_an_order_goes_from_assigned_to_rated_with_the_real_finding(crewed: Crewed) -> None:
    faulty = next(d for d in crewed.fleet.devices if d.faults)
    healthy = next(d for d in crewed.fleet.devices if not d.faults)
    onset_h = (faulty.faults[0].onset - crewed.fleet.start) / 3600
    start = crewed.at(onset_h + 1)
    fault_order = crewed.raise_alert(faulty.device_id, datetime.fromtimestamp(start, UTC), "vibration_rms")
    false_order = crewed.raise_alert(healthy.device_id, datetime.fromtimestamp(start, UTC), "vibration_rms")
    assert crewed.order(fault_order).status == "assigned"
    crew = crewed.crew(decline_share=0.0)
    crew.step(start)  # nothing is due the moment an order is assigned
    assert crewed.order(fault_order).status == "assigned" and crew.stats.accepted == 0
    for hour in range(1, 80):
        crew.step(crewed.at(onset_h + 1 + hour))
    done = crewed.order(fault_order)
    assert done.status == "resolved" and done.rating in {2, 3, 4, 5}
    assert done.accepted_at is not None and done.started_at is not None and done.resolved_at is not None
    assert done.assigned_at < done.accepted_at < done.started_at < done.resolved_at  # type: ignore[operator]
    assert done.fix == FAULT_REPAIRS[faulty.faults[0].mode][0]
    assert crewed.order(false_order).fix == "inspected on site, readings within tolerance; no fault found"
    assert crew.stats.accepted == crew.stats.started == crew.stats.resolved == crew.stats.rated == 2
    visits = crewed.workshop.take(faulty.device_id)  # the repair reaches the simulated machine
    assert [(v.repaired_fault, v.replaced) for v in visits] == [(faulty.faults[0].mode, None)]
    assert crewed.workshop.take(healthy.device_id) == []  # nothing was wrong there


def test_a_decline_sends_the_order_to_another_engineer(crewed: Crewed) -> None:
    device = crewed.fleet.devices[0]
    start = crewed.at(5)
    order_id = crewed.raise_alert(device.device_id, datetime.fromtimestamp(start, UTC), "flow_rate")
    first = crewed.order(order_id).assignee_id
    crew = crewed.crew(decline_share=1.0)
    crew.step(crewed.at(7))
    again = crewed.order(order_id)
    assert crew.stats.declined == 1 and again.status == "assigned" and again.assignee_id not in {None, first}


def test_orders_of_engineers_the_crew_does_not_play_are_left_alone(crewed: Crewed) -> None:
    device = crewed.fleet.devices[1]
    start = crewed.at(5)
    order_id = crewed.raise_alert(device.device_id, datetime.fromtimestamp(start, UTC), "flow_rate")
    crew = FieldCrew(crewed.url, {}, crewed.dispatcher, crewed.fleet)
    crew.step(crewed.at(30))
    assert crewed.order(order_id).status == "assigned" and crew.stats.accepted == 0


def test_a_rating_comment_agrees_with_the_history_it_rates() -> None:
    """Issue 16: 'quick and clean' was written on orders that were late and reopened."""
    due = {"response_due_at": "2026-03-02T10:00:00+00:00", "resolution_due_at": "2026-03-02T17:00:00+00:00"}
    on_time = {**due, "accepted_at": "2026-03-02T09:30:00+00:00", "resolved_at": "2026-03-02T12:00:00+00:00"}
    assert rating({**on_time, "reopened": 0}, 5) == (5, "on time and fixed first go")
    late = {**on_time, "resolved_at": "2026-03-03T09:00:00+00:00", "reopened": 2}
    stars, comment = rating(late, 5)
    assert stars <= 3 and comment == "repair late, came back 2 times"
