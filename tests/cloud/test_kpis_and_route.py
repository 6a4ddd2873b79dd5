"""KPIs computed from a known work-order history, and an engineer's route order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from cloud.clock import ManualClock
from cloud.db import Engineer
from cloud.services.kpis import service_kpis
from cloud.services.route import plan_route
from cloud.state import CloudState

from .conftest import NOW
from .messages import alert, consumable, wire
from .test_api_work_orders import _do
from .world import World


def test_kpis_from_a_known_history(
    client: TestClient, state: CloudState, world: World, clock: ManualClock
) -> None:
    fixed = state.ingestor.handle(*wire(alert("ac-1", "raise", NOW))).created_orders[0]
    state.ingestor.handle(*wire(alert("pump-1", "raise", NOW, fault_key="vibration_rms")))  # never accepted
    clock.advance(timedelta(hours=1))
    _do(client, world, "frida", fixed, "accept")
    _do(client, world, "frida", fixed, "start")
    clock.advance(timedelta(hours=2))
    parts = [{"part_number": "SV-1", "name": "Schrader valve", "quantity": 3}]
    _do(client, world, "frida", fixed, "resolve", {"fix": "valve", "parts": parts})
    _do(client, world, "dispatcher", fixed, "rate", {"stars": 4})
    clock.advance(
        timedelta(hours=27)
    )  # 30 h after the alerts: the pump order's response deadline is long gone
    with state.sessions() as s:
        k = service_kpis(s, world.tenant_id, clock.now(), days=90)
    assert k.orders_created == 2 and k.orders_resolved == 1
    assert k.mttr_hours == pytest.approx(3.0)
    assert k.sla_response == 0.5, "one accepted in time, one never"
    assert k.first_time_fix == 1.0 and k.csat == 4.0 and k.ratings == 1
    assert k.devices == 3 and k.device_days == pytest.approx(2 * 30 / 24), "ro-1 has never reported"
    assert k.alerts == 2 and k.alerts_per_device_day == pytest.approx(2 / 2.5)
    assert {m: [(f.fault_name, f.alerts, f.channels) for f in v] for m, v in k.top_faults.items()} == {
        "AC-3500": [("refrigerant_leak", 1, [("suction_pressure", 1)])],
        "CP-200": [("bearing_wear", 1, [("vibration_rms", 1)])],
    }
    assert k.overdue == 1, "the pump order nobody accepted"
    (history,) = [d for d in k.demand if d.source == "repair history"]
    # 3 used in 90 days is 1 expected per 30; stocking 2 covers a Poisson(1) month 92 % of the time
    assert (history.part_number, history.quantity, history.expected) == ("SV-1", 2, 1.0)
    assert history.covers == pytest.approx(0.9197, abs=1e-4)
    api = client.get("/api/v1/kpis?days=90", headers=world.auth("dispatcher"))
    assert api.status_code == 200 and api.json()["sla_response"] == 0.5
    top = api.json()["top_faults"]["AC-3500"][0]
    assert top == {
        "fault_name": "refrigerant_leak",
        "label": "refrigerant leak",
        "alerts": 1,
        "channels": [{"fault_key": "suction_pressure", "alerts": 1}],
    }
    assert client.get("/api/v1/kpis", headers=world.auth("frida")).status_code == 403


def test_route_starts_with_work_in_progress_then_goes_nearest_first(
    client: TestClient, state: CloudState, world: World
) -> None:
    with state.sessions.begin() as s:  # Paul can do everything, so all orders go to him
        paul = s.get(Engineer, world.engineer["paul"])
        assert paul is not None
        paul.skill_models = ["AC-3500", "CP-200", "RO-75"]
        paul.skill_categories = ["refrigerant", "mechanical", "hydraulic", "water_quality", "consumable"]
        for other in ("frida", "nils"):
            e = s.get(Engineer, world.engineer[other])
            assert e is not None
            e.active = False
    north = state.ingestor.handle(*wire(alert("ac-1", "raise", NOW))).created_orders[0]
    south = state.ingestor.handle(
        *wire(alert("pump-1", "raise", NOW, fault_key="vibration_rms"))
    ).created_orders[0]
    filter_order = state.ingestor.handle(
        *wire(consumable("ro-1", "sediment_filter", NOW, 0.01, NOW + timedelta(days=1)))
    ).created_orders[0]
    _do(client, world, "paul", north, "accept")
    _do(client, world, "paul", north, "start")
    with state.sessions() as s:
        paul = s.get(Engineer, world.engineer["paul"])
        assert paul is not None
        stops = plan_route(s, paul)
    assert stops[0].order.id == north, "in progress first, wherever it is"
    assert stops[0].leg_km == pytest.approx(21.1, abs=0.5), "from Paul's home in the south to North"
    assert {stops[1].order.id, stops[2].order.id} == {south, filter_order}, "then both South jobs"
    assert stops[1].leg_km == pytest.approx(22.2, abs=0.5) and stops[2].leg_km == pytest.approx(0.0)
    (replacement,) = [stop for stop in stops if stop.order.id == filter_order]
    assert (
        replacement.parts == [("SF-10", "sediment filter cartridge", 1)] and replacement.parts_from == "order"
    )


def test_consumable_demand_counts_whole_units_with_the_odds_from_the_edge_interval(
    state: CloudState, world: World
) -> None:
    """Our air filter runs out surely within 30 days; the pump's grease is forecast right at the
    horizon with a wide interval (a coin toss, 0.5 expected): one of each covers it. Another
    tenant's filter is not in our forecast."""
    sure = consumable("ac-1", "air_filter", NOW, 0.1, NOW + timedelta(days=5))
    toss = consumable("gx-1", "air_filter", NOW, 0.5, NOW + timedelta(days=30), tenant="globex")
    edge = consumable("pump-1", "bearing_grease", NOW, 0.4, NOW + timedelta(days=30))
    wide = (NOW + timedelta(days=20)).timestamp(), (NOW + timedelta(days=40)).timestamp()
    state.ingestor.handle(*wire(sure))
    state.ingestor.handle(*wire(toss.model_copy(update={"predicted_depletion_ci": wide})))
    state.ingestor.handle(*wire(edge.model_copy(update={"predicted_depletion_ci": wide})))
    with state.sessions() as s:
        k = service_kpis(s, world.tenant_id, NOW, days=30)
    demand = {d.part_number: d for d in k.demand if d.source == "consumable forecast"}
    assert (demand["AF-200"].quantity, demand["AF-200"].expected) == (1, 1.0), "globex's filter is not ours"
    grease = demand["BG-1"]
    assert (grease.quantity, grease.expected) == (1, 0.5) and grease.covers == 1.0
