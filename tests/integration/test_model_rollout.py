"""Model rollout end to end: the cloud's registry and downlink, real mosquitto, two edge agents.

Each agent is an :class:`~edge.runner.EdgeRunner` in a thread with its uplink, its outbox
and its downloads for real; only its device input is the test feeding its inbox (one
device each), so the test decides when a device behaves and when it does not.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from sqlalchemy import select, update

from cloud.app import create_app
from cloud.db import Device, ModelArtifact, Tenant
from cloud.db.migrate import upgrade
from cloud.server_thread import ServerThread
from cloud.services.auth import issue_token
from cloud.settings import Settings
from cloud.state import CloudState
from edge.config import CloudConfig, EdgeConfig, SourceConfig, UplinkConfig
from edge.runner import EdgeRunner
from firmware_bridge import Sample
from models.modal_surprise import ModalSurpriseDetector
from models.onnx_adapter import OnnxDetector
from models.onnx_export import export_onnx, fit_pca
from prognos.broker import MosquittoBroker
from tests.support.threads import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEATURES = ["a", "b", "c"]
AGENTS = {"edge-1": "dev-1", "edge-2": "dev-2"}


def rows(rng: np.random.Generator, n: int, broken: bool = False) -> np.ndarray:
    base = rng.normal(size=n)
    return np.column_stack([base, (-2 if broken else 2) * base, 0.5 * base]) + rng.normal(0, 0.05, (n, 3))


class Feeder:
    """Feeds every agent's device steadily, in simulated minutes; ``broken`` on one agent's
    device makes it misbehave in bursts a relation-aware model sees and a per-channel one does not."""

    def __init__(self, runners: dict[str, EdgeRunner]) -> None:
        self.runners = runners
        self.broken: set[str] = set()
        self.t = 1.7e9
        self.seq = 0
        self.rng = np.random.default_rng(0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def feed(self, n: int) -> None:
        for _ in range(n):
            self.seq += 1
            self.t += 60.0
            for agent, runner in self.runners.items():
                bursty = agent in self.broken and self.seq % 190 < 40
                x = rows(self.rng, 1, broken=bursty)[0]
                runner.inbox.put(
                    Sample(AGENTS[agent], self.t, self.seq, dict(zip(FEATURES, map(float, x), strict=True)))
                )

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            if all(r.inbox.qsize() < 200 for r in self.runners.values()):
                self.feed(20)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class System:
    url: str
    state: CloudState
    runners: dict[str, EdgeRunner]
    feeder: Feeder
    admin: dict[str, str]

    def api(self, method: str, path: str, **kw: object) -> httpx.Response:
        return httpx.request(method, self.url + path, headers=self.admin, timeout=10, **kw)  # type: ignore[arg-type]

    def publish(self, content: bytes) -> dict[str, object]:
        r = self.api("POST", "/api/v1/models", content=content)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def rollout(self, model_id: object, **body: object) -> dict[str, object]:
        r = self.api("POST", f"/api/v1/models/{model_id}/rollouts", json=body)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def wait_rollout(self, rollout_id: object, states: set[str], timeout: float = 60) -> dict[str, object]:
        got: dict[str, object] = {}

        def done() -> bool:
            got.update(self.api("GET", f"/api/v1/rollouts/{rollout_id}").json())
            return got["state"] in states

        assert eventually(done, timeout), json.dumps(got, indent=1, default=str)
        return got

    def detector(self, agent: str) -> object:
        return self.runners[agent].agent.devices[AGENTS[agent]].pipeline.detector


@pytest.fixture
def system(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[System]:
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    upgrade(db)
    settings = Settings(
        database_url=db,
        data_dir=tmp_path,
        mqtt_url=f"mqtt://{mosquitto.host}:{mosquitto.port}",
        downlink_interval_s=0.2,
        log_level="WARNING",
    )
    state = CloudState.build(settings)
    with state.sessions.begin() as s:
        tenant = Tenant(slug="acme", name="Acme")
        s.add(tenant)
        s.flush()
        now = state.clock.now()
        _, admin = issue_token(s, tenant.id, "admin", "ops", now, settings.secret_key)
        _, agent_token = issue_token(s, tenant.id, "agent", "edges", now, settings.secret_key)
    server = ServerThread(create_app(settings, start_workers=True, state=state)).start()
    runners = {}
    for agent in AGENTS:
        config = EdgeConfig(
            data_dir=tmp_path / agent,
            tenant="acme",
            agent_id=agent,
            summary_every_s=3600,
            checkpoint_every_s=1,
            sources=[SourceConfig(kind="mqtt", broker=f"{mosquitto.host}:{mosquitto.port}", tenant="nobody")],
            uplink=UplinkConfig(broker=f"{mosquitto.host}:{mosquitto.port}"),
            cloud=CloudConfig(url=server.url, token=agent_token),
        )
        runners[agent] = EdgeRunner(config)
    threads = [threading.Thread(target=r.run, daemon=True) for r in runners.values()]
    for th in threads:
        th.start()
    feeder = Feeder(runners)
    feeder.feed(1500)  # devices learn what normal looks like

    def known() -> bool:
        with state.sessions() as s:
            return len(s.scalars(select(Device.key).where(Device.last_agent.is_not(None))).all()) == 2

    assert eventually(known, 60), "the cloud never heard of both devices"
    feeder.start()
    try:
        yield System(server.url, state, runners, feeder, {"Authorization": f"Bearer {admin}"})
    finally:
        feeder.stop()
        for r in runners.values():
            r.stop()
        for th in threads:
            th.join(15)
        server.stop()
        state.close()


def good_model(tmp_path: Path, version: str = "pca-good-1") -> bytes:
    train = rows(np.random.default_rng(7), 3000)
    return export_onnx(
        fit_pca(train), FEATURES, tmp_path / f"{version}.onnx", version, train, name="pumps"
    ).read_bytes()


def test_a_canary_passes_probation_and_the_rest_follow_then_a_revert(system: System, tmp_path: Path) -> None:
    model = system.publish(good_model(tmp_path))
    assert (
        model["version"] == "pca-good-1"
        and model["features"] == FEATURES
        and model["kind"] == "pca-reconstruction"
    )
    rollout = system.rollout(model["id"], canary_percent=50, probation_samples=100)
    assert rollout["state"] == "canary" and sum(a["canary"] for a in rollout["agents"]) == 1  # type: ignore[union-attr]
    done = system.wait_rollout(rollout["id"], {"complete", "halted"})
    assert done["state"] == "complete", done
    assert done["promoted_at"] is not None and "canary agent(s) passed probation" in str(done["reason"])
    assert {a["agent"]: a["state"] for a in done["agents"]} == {"edge-1": "active", "edge-2": "active"}  # type: ignore[union-attr]
    for agent in AGENTS:
        det = system.detector(agent)
        assert isinstance(det, OnnxDetector) and det.version == "pca-good-1"
        assert (system.runners[agent].config.data_dir / "models" / f"{model['sha256']}.onnx").exists()
    agents = system.api("GET", "/api/v1/agents").json()
    assert {a["agent"]: a["models"][-1]["version"] for a in agents} == {
        "edge-1": "pca-good-1",
        "edge-2": "pca-good-1",
    }
    assert all(a["state"] == "online" for a in agents)

    r = system.api("POST", f"/api/v1/rollouts/{rollout['id']}/revert")
    assert r.status_code == 200 and r.json()["state"] == "reverted"

    def reverted() -> bool:
        return all(isinstance(system.detector(a), ModalSurpriseDetector) for a in AGENTS)

    assert eventually(reverted, 30)
    assert eventually(
        lambda: (
            {a["state"] for a in system.api("GET", f"/api/v1/rollouts/{rollout['id']}").json()["agents"]}
            == {"reverted"}
        ),
        30,
    )


def test_a_tampered_download_and_an_unloadable_model_fail_and_change_nothing(
    system: System, tmp_path: Path
) -> None:
    model = system.publish(good_model(tmp_path, "pca-good-2"))
    with system.state.sessions.begin() as s:  # the stored bytes rot; the registry's hash does not
        content = s.scalar(select(ModelArtifact.content).where(ModelArtifact.id == model["id"]))
        assert content is not None
        s.execute(
            update(ModelArtifact)
            .where(ModelArtifact.id == model["id"])
            .values(content=content[:-8] + b"\0" * 8)
        )
    rollout = system.rollout(model["id"], canary_percent=0)
    done = system.wait_rollout(rollout["id"], {"complete"})
    assert {a["state"] for a in done["agents"]} == {"failed"}  # type: ignore[union-attr]
    assert all("sha256 mismatch" in a["reason"] for a in done["agents"])  # type: ignore[union-attr]
    assert done["reason"] == "0 of 2 agent(s) active, 2 failed or rolled back"
    for agent in AGENTS:
        assert isinstance(system.detector(agent), ModalSurpriseDetector)
        assert not list((system.runners[agent].config.data_dir / "models").glob("*.part"))

    graph = helper.make_graph(
        [helper.make_node("Frobnicate", ["X"], ["score"], domain="com.example")],
        "unloadable",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
    )
    bad = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.example", 1)]
    )
    bad.ir_version = 9
    helper.set_model_props(bad, {"prognos.version": "frob-1", "prognos.features": json.dumps(FEATURES)})
    model = system.publish(bad.SerializeToString())
    rollout = system.rollout(model["id"], canary_percent=50)
    done = system.wait_rollout(rollout["id"], {"halted"})
    canary = [a for a in done["agents"] if a["canary"]][0]  # type: ignore[union-attr]
    assert canary["state"] == "failed" and "cannot load the model" in canary["reason"]
    assert [a["state"] for a in done["agents"] if not a["canary"]] == ["pending"]  # type: ignore[union-attr]
    assert "canary failed" in str(done["reason"])
    assert all(isinstance(system.detector(a), ModalSurpriseDetector) for a in AGENTS)

    r = system.api("POST", "/api/v1/models", content=b"not a model at all")
    assert r.status_code == 422 and "not a valid ONNX model" in r.json()["detail"]
    onnx.checker.check_model(bad)  # the registry accepted it rightly: only a runtime can tell


def test_a_model_whose_alerts_jump_is_rolled_back_and_the_rollout_halts(
    system: System, tmp_path: Path
) -> None:
    model = system.publish(good_model(tmp_path, "pca-jumpy-1"))
    rollout = system.rollout(model["id"], canary_percent=50, probation_samples=2000, max_alert_factor=1.0)
    live = system.wait_rollout(rollout["id"], {"canary"})
    canary_agent = [a["agent"] for a in live["agents"] if a["canary"]][0]  # type: ignore[union-attr]

    def on_probation() -> bool:
        parts = system.api("GET", f"/api/v1/rollouts/{rollout['id']}").json()["agents"]
        return any(a["agent"] == canary_agent and a["state"] == "probation" for a in parts)

    assert eventually(on_probation, 30)
    system.feeder.broken = {canary_agent}  # from now on its device misbehaves in bursts
    done = system.wait_rollout(rollout["id"], {"halted"}, timeout=90)
    canary = [a for a in done["agents"] if a["canary"]][0]  # type: ignore[union-attr]
    assert canary["state"] == "rolled_back" and "alert rate jumped" in canary["reason"]
    assert canary["alerts_new"] > canary["alerts_old"]
    assert "canary rolled back" in str(done["reason"])
    assert isinstance(system.detector(canary["agent"]), ModalSurpriseDetector)  # the old model is live again
    time.sleep(1.0)  # the other agent was never sent it
    other = [
        a for a in system.api("GET", f"/api/v1/rollouts/{rollout['id']}").json()["agents"] if not a["canary"]
    ][0]
    assert other["state"] == "pending" and other["sent_at"] is None
