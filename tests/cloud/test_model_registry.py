"""The model registry and rollout bookkeeping over HTTP and ingest, on both engines (no broker:
the commands a downlink would publish are taken straight from the service)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cloud.db import DeadLetter, Device
from cloud.services.auth import issue_token
from cloud.services.rollouts import take_pending
from cloud.state import CloudState
from firmware_bridge.contract import ModelCommand, ModelStatusMessage, edge_topic
from models.onnx_export import export_onnx, fit_pca

from .world import World

FEATURES = ["a", "b", "c"]


def model_bytes(tmp_path: Path, version: str = "v1", name: str = "pumps") -> bytes:
    train = np.random.default_rng(0).normal(size=(300, 3))
    path = export_onnx(
        fit_pca(train), FEATURES, tmp_path / f"{version}.onnx", version, train, {"auc": 0.9}, name=name
    )
    return path.read_bytes()


@pytest.fixture
def agent_token(state: CloudState, world: World) -> str:
    with state.sessions.begin() as s:
        _, token = issue_token(
            s, world.tenant_id, "agent", "edges", state.clock.now(), state.settings.secret_key
        )
    return token


def reported_by(state: CloudState, mapping: dict[str, str]) -> None:
    """Devices as last reported through these agents."""
    with state.sessions.begin() as s:
        for device, agent in mapping.items():
            s.execute(update(Device).where(Device.key == device).values(last_agent=agent))


def report(state: CloudState, agent: str, rollout_id: int, status: str, **counts: int) -> None:
    msg = ModelStatusMessage(
        message_id=hashlib.sha256(f"{agent}{rollout_id}{status}".encode()).hexdigest()[:32],
        tenant="acme",
        agent_id=agent,
        created_at=1.7e9,
        rollout_id=rollout_id,
        version="v1",
        sha256="0" * 64,
        state=status,  # type: ignore[arg-type]
        reason=f"{status} for the test",
        **counts,
    )
    result = state.ingestor.handle(edge_topic("acme", agent, "model"), msg.model_dump_json().encode())
    assert result.outcome == "status", result


def commands(state: CloudState) -> list[tuple[str, ModelCommand]]:
    with state.sessions.begin() as s:
        out = take_pending(s, state.clock.now())
    return [(c.topic, ModelCommand.model_validate_json(c.payload)) for c in out]


def test_publishing_checks_the_file_and_reads_its_metadata(
    client: TestClient, world: World, tmp_path: Path, agent_token: str
) -> None:
    content = model_bytes(tmp_path)
    r = client.post("/api/v1/models", content=content, headers=world.auth("admin"))
    assert r.status_code == 201, r.text
    m = r.json()
    assert (m["name"], m["version"], m["kind"], m["features"]) == (
        "pumps",
        "v1",
        "pca-reconstruction",
        FEATURES,
    )
    assert m["sha256"] == hashlib.sha256(content).hexdigest() and m["size"] == len(content)
    assert (
        m["metrics"] == {"auc": 0.9} and len(m["train_sha256"]) == 64 and m["published_by"] == "admin:admin"
    )
    assert client.post("/api/v1/models", content=content, headers=world.auth("admin")).status_code == 200
    other = model_bytes(tmp_path, "v1-other", name="pumps")
    r = client.post("/api/v1/models?version=v1", content=other, headers=world.auth("admin"))
    assert r.status_code == 409 and "already published with other content" in r.json()["detail"]
    r = client.post("/api/v1/models", content=b"\x00garbage", headers=world.auth("admin"))
    assert r.status_code == 422 and "not a valid ONNX model" in r.json()["detail"]
    for who, status in (("dispatcher", 403), ("frida", 403), ("device:ac-1", 403)):
        assert client.post("/api/v1/models", content=content, headers=world.auth(who)).status_code == status
    assert client.get(f"/api/v1/models/{m['id']}", headers=world.auth("globex-admin")).status_code == 404
    assert client.get("/api/v1/models", headers=world.auth("frida")).json()["total"] == 1

    r = client.get(f"/api/v1/models/{m['id']}/artifact", headers={"Authorization": f"Bearer {agent_token}"})
    assert r.status_code == 200 and r.content == content and r.headers["etag"] == f'"{m["sha256"]}"'
    assert client.get(f"/api/v1/models/{m['id']}/artifact", headers=world.auth("frida")).status_code == 403
    assert (
        client.get(f"/api/v1/models/{m['id']}/artifact", headers=world.auth("globex-admin")).status_code
        == 404
    )
    assert client.get("/api/v1/models", headers={"Authorization": f"Bearer {agent_token}"}).status_code == 403


def test_uploads_past_the_model_limit_are_refused(state: CloudState, world: World) -> None:
    from cloud.app import create_app

    state.settings.max_model_bytes = 2048
    with TestClient(create_app(state.settings, state=state)) as c:
        r = c.post("/api/v1/models", content=b"x" * 4096, headers=world.auth("admin"))
        assert r.status_code == 413 and "2048" in r.json()["detail"]


def test_a_canary_rollout_moves_on_with_its_agents(
    client: TestClient, state: CloudState, world: World, tmp_path: Path
) -> None:
    reported_by(state, {"ac-1": "edge-a", "pump-1": "edge-b", "ro-1": "edge-c"})
    m = client.post("/api/v1/models", content=model_bytes(tmp_path), headers=world.auth("admin")).json()
    r = client.post(
        f"/api/v1/models/{m['id']}/rollouts",
        json={"canary_percent": 34, "probation_samples": 50},
        headers=world.auth("admin"),
    )
    assert r.status_code == 201, r.text
    rollout = r.json()
    assert rollout["state"] == "canary" and rollout["created_by"] == "admin:admin"
    canaries = sorted(a["agent"] for a in rollout["agents"] if a["canary"])
    assert len(canaries) == 2  # ceil(34 % of 3)
    sent = commands(state)
    assert sorted(t.split("/")[4] for t, _ in sent) == canaries
    topic, cmd = sent[0]
    assert topic.endswith("/cmd/model") and cmd.action == "deploy" and cmd.probation_samples == 50
    assert (
        cmd.model is not None
        and cmd.model.sha256 == m["sha256"]
        and cmd.model.path == f"/api/v1/models/{m['id']}/artifact"
    )
    assert commands(state) == []  # sent once; the rest wait for the canaries

    report(state, canaries[0], rollout["id"], "active", samples=60)
    assert (
        client.get(f"/api/v1/rollouts/{rollout['id']}", headers=world.auth("dispatcher")).json()["state"]
        == "canary"
    )
    report(state, canaries[1], rollout["id"], "active", samples=60)
    now = client.get(f"/api/v1/rollouts/{rollout['id']}", headers=world.auth("dispatcher")).json()
    assert now["state"] == "rolling" and "2 canary agent(s) passed probation" in now["reason"]
    rest = commands(state)
    assert len(rest) == 1 and rest[0][1].devices and rest[0][0].split("/")[4] not in canaries
    report(state, rest[0][0].split("/")[4], rollout["id"], "failed")
    done = client.get(f"/api/v1/rollouts/{rollout['id']}", headers=world.auth("admin")).json()
    assert done["state"] == "complete" and done["reason"].endswith(
        "2 of 3 agent(s) active, 1 failed or rolled back"
    )
    agents = {
        a["agent"]: a["models"] for a in client.get("/api/v1/agents", headers=world.auth("frida")).json()
    }
    assert agents[canaries[0]] == [
        {"rollout_id": rollout["id"], "name": "pumps", "version": "v1", "state": "active", "devices": 1}
    ]

    r = client.post(f"/api/v1/rollouts/{rollout['id']}/revert", headers=world.auth("admin"))
    assert r.status_code == 200 and r.json()["state"] == "reverted"
    reverts = commands(state)
    assert len(reverts) == 3 and {c.action for _, c in reverts} == {"revert"}


def test_a_failing_canary_halts_and_an_admin_may_still_promote(
    client: TestClient, state: CloudState, world: World, tmp_path: Path
) -> None:
    reported_by(state, {"ac-1": "edge-a", "pump-1": "edge-b"})
    m = client.post("/api/v1/models", content=model_bytes(tmp_path), headers=world.auth("admin")).json()
    rollout = client.post(
        f"/api/v1/models/{m['id']}/rollouts", json={"canary_percent": 50}, headers=world.auth("admin")
    ).json()
    ((topic, _),) = commands(state)
    report(state, topic.split("/")[4], rollout["id"], "rolled_back", samples=80, alerts_new=9, alerts_old=1)
    halted = client.get(f"/api/v1/rollouts/{rollout['id']}", headers=world.auth("admin")).json()
    assert halted["state"] == "halted" and halted["reason"].startswith("canary rolled back")
    assert commands(state) == []
    assert (
        client.post(f"/api/v1/rollouts/{rollout['id']}/promote", headers=world.auth("dispatcher")).status_code
        == 403
    )
    r = client.post(f"/api/v1/rollouts/{rollout['id']}/promote", headers=world.auth("admin"))
    assert r.status_code == 200 and r.json()["state"] == "rolling"
    assert len(commands(state)) == 1
    assert (
        client.post(f"/api/v1/rollouts/{rollout['id']}/promote", headers=world.auth("admin")).status_code
        == 409
    )


def test_groups_pick_their_devices_and_a_new_rollout_supersedes(
    client: TestClient, state: CloudState, world: World, tmp_path: Path
) -> None:
    reported_by(state, {"ac-1": "edge-a", "pump-1": "edge-b", "ro-1": "edge-b"})
    m = client.post("/api/v1/models", content=model_bytes(tmp_path), headers=world.auth("admin")).json()

    def post(body: dict[str, object]):  # type: ignore[no-untyped-def]
        return client.post(f"/api/v1/models/{m['id']}/rollouts", json=body, headers=world.auth("admin"))

    by_model = post({"group": "model:CP-200", "canary_percent": 0}).json()
    assert [(a["agent"], a["devices"]) for a in by_model["agents"]] == [("edge-b", ["pump-1"])]
    by_site = post({"group": f"site:{world.site['south']}", "canary_percent": 100}).json()
    assert [(a["agent"], a["devices"]) for a in by_site["agents"]] == [("edge-b", ["pump-1", "ro-1"])]
    first = client.get(f"/api/v1/rollouts/{by_model['id']}", headers=world.auth("admin")).json()
    assert first["agents"][0]["state"] == "superseded" and first["state"] == "complete"
    assert post({"group": "model:NOPE"}).status_code == 422
    assert post({"group": "everything"}).status_code == 422
    assert post({"group": "all", "canary_percent": 101}).status_code == 422
    assert client.post("/api/v1/models/999/rollouts", json={}, headers=world.auth("admin")).status_code == 404


def test_reports_about_unknown_rollouts_are_dead_lettered(state: CloudState, world: World) -> None:
    msg = ModelStatusMessage(
        message_id="f" * 32,
        tenant="acme",
        agent_id="edge-a",
        created_at=1.0,
        rollout_id=42,
        version="v",
        sha256="",
        state="active",
    )
    result = state.ingestor.handle(edge_topic("acme", "edge-a", "model"), msg.model_dump_json().encode())
    assert result.outcome == "dead_letter" and "unknown rollout 42" in result.reason
    spoofed = json.loads(msg.model_dump_json()) | {"agent_id": "edge-z"}
    result = state.ingestor.handle(edge_topic("acme", "edge-a", "model"), json.dumps(spoofed).encode())
    assert result.outcome == "dead_letter" and "on the topic of acme/edge-a" in result.reason
    with state.sessions() as s:
        assert s.query(DeadLetter).count() == 2


def test_the_models_page_shows_which_agent_runs_what(
    client: TestClient, state: CloudState, world: World, tmp_path: Path
) -> None:
    reported_by(state, {"ac-1": "edge-a", "pump-1": "edge-b"})
    m = client.post("/api/v1/models", content=model_bytes(tmp_path), headers=world.auth("admin")).json()
    rollout = client.post(
        f"/api/v1/models/{m['id']}/rollouts", json={"canary_percent": 0}, headers=world.auth("admin")
    ).json()
    for topic, _ in commands(state):
        report(state, topic.split("/")[4], rollout["id"], "active", samples=500)
    client.cookies.clear()
    assert (
        client.post(
            "/ui/login", data={"token": world.token["dispatcher"]}, follow_redirects=False
        ).status_code
        == 303
    )
    page = client.get("/ui/models").text
    assert (
        'data-agent="edge-a"' in page
        and 'data-agent="edge-b"' in page
        and page.count("<strong>v1</strong>") >= 3
    )
    assert (
        f'data-rollout="{rollout["id"]}"' in page
        and "2 of 2 agent(s) active" in page
        and "pca-reconstruction" in page
    )
    client.cookies.clear()
    assert (
        client.post("/ui/login", data={"token": world.token["frida"]}, follow_redirects=False).status_code
        == 303
    )
    assert client.get("/ui/models").status_code == 403
