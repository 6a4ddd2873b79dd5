"""The whole chain with real parts: simulator -> pseudo-terminal serial -> `prognos edge run`
-> mosquitto -> cloud MQTT ingest -> work orders and reminders, read back through the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.app import create_app
from cloud.db import Engineer, Site
from cloud.db.migrate import upgrade
from cloud.ingest_mqtt import MqttIngestWorker
from cloud.seed import seed_fleet
from cloud.services.auth import issue_token
from cloud.settings import Settings
from cloud.state import CloudState
from models.registry import DEFAULT_DETECTOR
from prognos.broker import MosquittoBroker
from simulators.fleet import plan_fleet
from simulators.pty_link import PtyLink
from simulators.sinks import SerialSink
from simulators.stream import fleet_messages
from tests.integration.test_edge_agent import FLEET, _outbox_size, start_edge, stop_edge
from tests.support.threads import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[CloudState]:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    upgrade(url)
    # reminders 60 days ahead: the simulated filters wear for days, not months
    state = CloudState.build(Settings(database_url=url, reminder_lead_days=60, log_level="WARNING"))
    yield state
    state.close()


def test_fault_becomes_a_dispatched_work_order_and_a_filter_a_reminder(
    tmp_path: Path, persistent_broker: MosquittoBroker, cloud: CloudState
) -> None:
    fleet = plan_fleet(**FLEET)
    manifest = [d.as_record() for d in fleet.devices]
    with cloud.sessions.begin() as s:
        report = seed_fleet(
            s, manifest, cloud.clock.now(), cloud.settings.secret_key, tenant=fleet.tenant, engineers=0,
            agent="edge-test",  # the agent start_edge runs: the devices report through it
        )  # fmt: skip
        site_of = {d.device_id: s.scalar(select(Site).where(Site.key == d.site)) for d in fleet.devices}
        crew = {}
        for d in fleet.devices:  # a specialist living at each device's site, on shift around the clock
            site = site_of[d.device_id]
            assert site is not None
            crew[d.device_id] = e = Engineer(
                tenant_id=site.tenant_id,
                name=f"{d.archetype} specialist",
                home_latitude=site.latitude,
                home_longitude=site.longitude + 0.01,
                capacity=10,
                work_start_hour=0,
                work_end_hour=24,
                skill_models=[d.model],
                skill_categories=["mechanical", "hydraulic", "refrigerant", "heat_exchange", "consumable"],
            )
            s.add(e)
        s.flush()
        crew_ids = {k: v.id for k, v in crew.items()}
        _, dispatcher = issue_token(
            s, site.tenant_id, "dispatcher", "e2e", cloud.clock.now(), cloud.settings.secret_key
        )
    assert report.devices == len(fleet.devices)

    settings = cloud.settings.model_copy(
        update={
            "mqtt_url": f"mqtt://{persistent_broker.host}:{persistent_broker.port}",
            "mqtt_client_id": "cloud-e2e",
        }
    )
    worker = MqttIngestWorker(settings, cloud.ingestor, cloud.metrics)
    worker.start()
    assert worker.subscribed.wait(10)
    port = tmp_path / "ttyEDGE"
    try:
        with PtyLink(port, block_timeout=10) as link:
            edge = start_edge(tmp_path, port, persistent_broker)
            sink = SerialSink(link)
            for msg in fleet_messages(fleet):
                sink.send(msg)
            outbox = tmp_path / "data" / "outbox.sqlite"
            assert eventually(lambda: outbox.exists() and _outbox_size(outbox) == 0, 60)
            stop_edge(edge)
        assert worker.wait_idle(120)  # returns as soon as the stream is drained
    finally:
        worker.stop()

    auth = {"Authorization": f"Bearer {dispatcher}"}
    with TestClient(create_app(cloud.settings, state=cloud)) as api:
        orders = api.get("/api/v1/work-orders?limit=1000", headers=auth).json()["items"]
        devices = {d["id"]: d for d in api.get("/api/v1/devices", headers=auth).json()["items"]}
        preventive = [o for o in orders if o["source"] == "alert"]
        for spec in fleet.devices:
            plan = spec.faults[0]
            mine = [o for o in preventive if devices[o["device_id"]]["key"] == spec.device_id]
            assert mine, f"no preventive work order for {spec.device_id} ({plan.mode})"
            first = min(mine, key=lambda o: o["created_at"])
            detail = api.get(f"/api/v1/work-orders/{first['id']}", headers=auth).json()
            window = detail["evidence"][0]["window"]
            assert window and detail["evidence"][0]["detector"] == DEFAULT_DETECTOR
            assert detail["assignee_id"] == crew_ids[spec.device_id], detail["dispatch"]
            why = detail["dispatch"]
            assert why["facts"]["knows_model"] and why["facts"]["distance_km"] < 2
            assert all(r["score"] <= why["score"] for r in why["runners_up"])
        reminders = api.get("/api/v1/reminders", headers=auth).json()["items"]
        assert reminders, "a wearing consumable should have produced a reminder"
        consumables = api.get(f"/api/v1/devices/{reminders[0]['device_id']}/consumables", headers=auth).json()
        due = {c["id"]: c for c in consumables}[reminders[0]["consumable_id"]]
        assert due["predicted_depletion_at"] is not None and due["remaining_fraction"] < 1.0
        health = api.get(f"/api/v1/devices/{next(iter(devices))}/health", headers=auth).json()
        assert health["recent_summaries"] and health["connectivity"] in ("online", "offline")
        assert (
            api.get(
                "/api/v1/dead-letters", headers={"Authorization": f"Bearer {report.tokens['admin']}"}
            ).json()["total"]
            == 0
        )
