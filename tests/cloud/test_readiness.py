"""/readyz says what is missing: the database, its schema, and the broker the service ingests
from (issue 16: `prognos cloud serve --mqtt` with no broker said nothing and answered ready)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.state import CloudState
from prognos.broker import MosquittoBroker, free_port
from tests.support.threads import eventually

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_not_ready_while_the_broker_is_unreachable_and_ready_once_it_answers(
    state: CloudState, mosquitto: MosquittoBroker
) -> None:
    state.settings.mqtt_url = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    with TestClient(create_app(state.settings, start_workers=True, state=state)) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["database"] == "ok"
        assert r.json()["checks"]["broker"].startswith(f"unreachable: {state.settings.mqtt_url}")
    state.settings.mqtt_url = f"mqtt://{mosquitto.host}:{mosquitto.port}"
    with TestClient(create_app(state.settings, start_workers=True, state=state)) as client:
        assert eventually(lambda: client.get("/readyz").status_code == 200, 10)
        assert client.get("/readyz").json()["checks"]["broker"] == "ok"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_services_address_leads_to_the_pages(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ui/"
    assert "/" not in client.get("/openapi.json").json()["paths"]
