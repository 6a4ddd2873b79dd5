"""Roles x endpoints x tenants: what each token may see and do, proved on both engines.

Each row names a request, and the status expected for each caller. "other" is an admin of
another tenant: for them every row of this tenant must look absent (404) or empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.state import CloudState

from .conftest import NOW
from .messages import alert, wire
from .world import World

CALLERS = ("admin", "dispatcher", "frida", "paul", "device:ac-1", "globex-admin", "anonymous")

# (name, method, path template, json body factory, {caller: expected status})
Row = tuple[str, str, str, Callable[[World], Any] | None, dict[str, int]]
OK_STAFF = {"admin": 200, "dispatcher": 200, "device:ac-1": 403, "anonymous": 401}


def _rows() -> list[Row]:
    return [
        (
            "list customers",
            "GET",
            "/api/v1/customers",
            None,
            {**OK_STAFF, "frida": 403, "paul": 403, "globex-admin": 200},
        ),
        (
            "create customer",
            "POST",
            "/api/v1/customers",
            lambda w: {"name": "New", "tier": "gold"},
            {
                "admin": 201,
                "dispatcher": 403,
                "frida": 403,
                "paul": 403,
                "device:ac-1": 403,
                "globex-admin": 201,
                "anonymous": 401,
            },
        ),
        (
            "read device",
            "GET",
            "/api/v1/devices/{ac}",
            None,
            {**OK_STAFF, "frida": 200, "paul": 404, "globex-admin": 404},
        ),
        (
            "device health",
            "GET",
            "/api/v1/devices/{ac}/health",
            None,
            {**OK_STAFF, "frida": 200, "paul": 404, "globex-admin": 404},
        ),
        (
            "device history",
            "GET",
            "/api/v1/devices/{ac}/history",
            None,
            {**OK_STAFF, "frida": 200, "paul": 404, "globex-admin": 404},
        ),
        (
            "register device",
            "POST",
            "/api/v1/devices",
            lambda w: {"key": "new-1", "model": "AC-3500", "site_id": w.site["north"]},
            {
                "admin": 201,
                "dispatcher": 403,
                "frida": 403,
                "paul": 403,
                "device:ac-1": 403,
                "globex-admin": 404,
                "anonymous": 401,
            },
        ),
        (
            "read work order",
            "GET",
            "/api/v1/work-orders/{wo}",
            None,
            {**OK_STAFF, "frida": 200, "paul": 404, "globex-admin": 404},
        ),
        (
            "similar cases",
            "GET",
            "/api/v1/work-orders/{wo}/similar",
            None,
            {**OK_STAFF, "frida": 200, "paul": 404, "globex-admin": 404},
        ),
        (
            "assign",
            "POST",
            "/api/v1/work-orders/{wo}/assign",
            lambda w: {"engineer_id": w.engineer["frida"]},
            {**OK_STAFF, "frida": 403, "paul": 403, "globex-admin": 404},
        ),
        (
            "accept",
            "POST",
            "/api/v1/work-orders/{wo}/accept",
            None,
            {
                "admin": 403,
                "dispatcher": 403,
                "frida": 200,
                "paul": 404,
                "device:ac-1": 403,
                "globex-admin": 403,
                "anonymous": 401,
            },
        ),
        (
            "create work order",
            "POST",
            "/api/v1/work-orders",
            lambda w: {"device_id": w.device["pump-1"], "title": "check", "category": "mechanical"},
            {
                "admin": 201,
                "dispatcher": 201,
                "frida": 403,
                "paul": 403,
                "device:ac-1": 403,
                "globex-admin": 404,
                "anonymous": 401,
            },
        ),
        (
            "issue token",
            "POST",
            "/api/v1/tokens",
            lambda w: {"name": "x", "role": "dispatcher"},
            {
                "admin": 201,
                "dispatcher": 403,
                "frida": 403,
                "paul": 403,
                "device:ac-1": 403,
                "globex-admin": 201,
                "anonymous": 401,
            },
        ),
        (
            "dead letters",
            "GET",
            "/api/v1/dead-letters",
            None,
            {
                "admin": 200,
                "dispatcher": 403,
                "frida": 403,
                "paul": 403,
                "device:ac-1": 403,
                "globex-admin": 200,
                "anonymous": 401,
            },
        ),
        (
            "run scheduler",
            "POST",
            "/api/v1/scheduler/run",
            None,
            {
                "admin": 200,
                "dispatcher": 403,
                "frida": 403,
                "paul": 403,
                "device:ac-1": 403,
                "globex-admin": 200,
                "anonymous": 401,
            },
        ),
        (
            "http ingest",
            "POST",
            "/api/v1/ingest",
            lambda w: None,
            {
                "admin": 403,
                "dispatcher": 403,
                "frida": 403,
                "paul": 403,
                "device:ac-1": 200,
                "globex-admin": 403,
                "anonymous": 401,
            },
        ),
    ]


@pytest.fixture
def order(state: CloudState, world: World) -> int:
    return state.ingestor.handle(*wire(alert("ac-1", "raise", NOW))).created_orders[0]


def test_roles_by_endpoints_by_tenants(
    client: TestClient, state: CloudState, world: World, order: int
) -> None:
    failures = []
    for name, method, template, body, expected in _rows():
        for caller in CALLERS:
            path = template.format(ac=world.device["ac-1"], wo=order)
            headers = {} if caller == "anonymous" else world.auth(caller)
            if name == "http ingest":
                # a fresh message each time, so a success is a store and not a duplicate
                payload = alert("ac-1", "update", NOW, alert_id=f"h-{caller}").model_dump_json()
                r = client.request(
                    method, path, content=payload, headers={**headers, "content-type": "application/json"}
                )
            else:
                r = client.request(method, path, json=body(world) if body else None, headers=headers)
            if r.status_code != expected[caller]:
                failures.append(
                    f"{name} as {caller}: {r.status_code} (expected {expected[caller]}) {r.text[:120]}"
                )
    assert not failures, "\n".join(failures)


def test_lists_are_scoped_to_tenant_and_engineer(
    client: TestClient, state: CloudState, world: World, order: int
) -> None:
    state.ingestor.handle(*wire(alert("pump-1", "raise", NOW, fault_key="vibration_rms")))
    state.ingestor.handle(*wire(alert("gx-1", "raise", NOW, tenant="globex")))

    def ids(who: str, path: str) -> list[int]:
        return [i["id"] for i in client.get(path, headers=world.auth(who)).json()["items"]]

    all_acme = ids("dispatcher", "/api/v1/work-orders")
    assert len(all_acme) == 2
    assert ids("frida", "/api/v1/work-orders") == [order]
    assert (
        ids("globex-admin", "/api/v1/work-orders") not in ([], all_acme)
        and len(ids("globex-admin", "/api/v1/work-orders")) == 1
    )
    assert ids("frida", "/api/v1/devices") == [world.device["ac-1"]]
    assert ids("frida", "/api/v1/sites") == [world.site["north"]]
    assert ids("frida", "/api/v1/engineers") == [world.engineer["frida"]]
    assert set(ids("admin", "/api/v1/devices")) == {world.device[k] for k in ("ac-1", "pump-1", "ro-1")}
    assert ids("globex-gina", "/api/v1/devices") == [world.device["gx-1"]]


def test_a_device_token_publishes_only_as_itself(client: TestClient, world: World) -> None:
    other = alert("pump-1", "raise", NOW).model_dump_json()
    r = client.post(
        "/api/v1/ingest",
        content=other,
        headers={**world.auth("device:ac-1"), "content-type": "application/json"},
    )
    assert r.status_code == 403 and "publishes as device 'ac-1'" in r.json()["detail"]
    bad = client.post(
        "/api/v1/ingest",
        content=b'{"device_id": "ac-1", "kind": "alert"}',
        headers={**world.auth("device:ac-1"), "content-type": "application/json"},
    )
    assert bad.status_code == 422 and "invalid message" in bad.json()["detail"]
