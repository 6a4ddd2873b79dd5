"""Swapping models on live devices, sans-IO: warming in shadow, probation, rollback, revert."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.agent import Agent, AgentSettings
from edge.deployment import Deployment
from edge.outbox import PendingMessage
from edge.pipeline import DevicePipeline
from firmware_bridge import Sample
from models.modal_surprise import ModalSurpriseDetector
from models.onnx_adapter import OnnxDetector
from models.onnx_export import export_onnx, fit_pca
from models.registry import make_detector

FEATURES = ["a", "b", "c"]


def rows(rng: np.random.Generator, n: int, broken: bool = False) -> np.ndarray:
    """Three channels tied to one load; ``broken`` flips one relation, every level still plausible."""
    base = rng.normal(size=n)
    return np.column_stack([base, (-2 if broken else 2) * base, 0.5 * base]) + rng.normal(0, 0.05, (n, 3))


class Feeder:
    def __init__(self, agent: Agent, device_id: str = "dev-1") -> None:
        self.agent, self.device_id, self.t, self.fed = agent, device_id, 0.0, 0

    def __call__(self, X: np.ndarray) -> list[PendingMessage]:
        out = []
        for x in X:
            self.t += 60.0
            self.fed += 1
            out += self.agent.handle(
                Sample(self.device_id, self.t, self.fed, dict(zip(FEATURES, map(float, x), strict=True)))
            )
        return out


def states(out: list[PendingMessage]) -> list[str]:
    return [p.state for p in out if p.kind == "model"]


@pytest.fixture
def onnx_path(tmp_path: Path) -> Path:
    train = rows(np.random.default_rng(1), 2000)
    return export_onnx(fit_pca(train), FEATURES, tmp_path / "m.onnx", "v2", train)


@pytest.fixture
def running() -> tuple[Agent, Feeder, np.random.Generator]:
    agent = Agent(AgentSettings())
    feed = Feeder(agent)
    rng = np.random.default_rng(0)
    feed(rows(rng, 1500))
    return agent, feed, rng


def deploy(agent: Agent, path: Path, probation: int = 300, factor: float = 3.0) -> list[PendingMessage]:
    dep = Deployment(7, "v2", "ab" * 32, ["dev-1"], probation, factor)
    return agent.begin_deployment(dep, {"dev-1": DevicePipeline(make_detector(f"onnx:{path}"))}, {})


def test_a_good_model_warms_in_shadow_serves_probation_and_stays(running, onnx_path: Path) -> None:  # type: ignore[no-untyped-def]
    agent, feed, rng = running
    old = agent.devices["dev-1"].pipeline
    assert states(deploy(agent, onnx_path)) == ["warming"]
    out = feed(rows(rng, 250))
    assert states(out) == ["probation"]
    state = agent.devices["dev-1"]
    assert isinstance(state.pipeline.detector, OnnxDetector) and state.previous is old
    out = feed(rows(rng, 400))
    assert states(out) == ["active"]
    report = [p for p in out if p.kind == "model"][0]
    assert report.samples >= 300 and report.rollout_id == 7 and report.version == "v2" and report.devices == 1
    feed(rows(rng, 61))
    # no sample went unscored: the old pipeline scored live until the new one's calibration
    # was ready (200 samples in), then in shadow for the 300 of probation, and then stopped;
    # the new one scored every sample since the deployment began
    assert old.samples == 1500 + 200 + 300
    assert agent.devices["dev-1"].pipeline.samples == 250 + 400 + 61


def test_a_model_that_alarms_far_more_than_the_old_one_is_rolled_back(running, onnx_path: Path) -> None:  # type: ignore[no-untyped-def]
    agent, feed, rng = running
    deploy(agent, onnx_path, probation=1000, factor=1.0)
    feed(rows(rng, 250))
    live_policy = agent.devices["dev-1"].pipeline.policy
    out: list[PendingMessage] = []
    for _ in range(3):
        out += feed(rows(rng, 40, broken=True)) + feed(rows(rng, 150))
    assert states(out) == ["rolled_back"]
    reason = [p for p in out if p.kind == "model"][0].reason
    assert "alert rate jumped: 2 raises by the new model against 0" in reason
    state = agent.devices["dev-1"]
    assert isinstance(state.pipeline.detector, ModalSurpriseDetector) and state.previous is None
    assert (
        state.pipeline.policy is not live_policy or not live_policy.active
    )  # the alert state went back with it
    assert agent.deployment is not None and agent.deployment.state == "rolled_back"
    assert states(feed(rows(rng, 50))) == []  # settled: nothing more to say


def test_revert_puts_back_the_previous_pipeline_with_what_it_learned(running, onnx_path: Path) -> None:  # type: ignore[no-untyped-def]
    agent, feed, rng = running
    old = agent.devices["dev-1"].pipeline
    deploy(agent, onnx_path, probation=100)
    feed(rows(rng, 400))
    assert agent.deployment is not None and agent.deployment.state == "active"
    out = agent.revert_deployment(Deployment(7, "v2", "", [], 10, 3.0))
    assert states(out) == ["reverted"] and agent.devices["dev-1"].pipeline is old
    assert states(agent.revert_deployment(Deployment(99, "", "", [], 10, 3.0))) == [
        "reverted"
    ]  # not ours: a no-op
    assert agent.devices["dev-1"].pipeline is old


def test_no_compatible_device_is_a_failure_that_changes_nothing(running) -> None:  # type: ignore[no-untyped-def]
    agent, feed, _ = running
    old = agent.devices["dev-1"].pipeline
    out = agent.begin_deployment(
        Deployment(8, "v3", "", ["dev-1"], 10, 3.0), {}, {"dev-1": "lacks channels ['x']"}
    )
    report = out[0]
    assert report.state == "failed" and "lacks channels ['x']" in report.reason
    assert agent.devices["dev-1"].pipeline is old and agent.devices["dev-1"].candidate is None


def test_a_checkpoint_mid_probation_resumes_where_it_was(running, onnx_path: Path) -> None:  # type: ignore[no-untyped-def]
    agent, feed, rng = running
    deploy(agent, onnx_path, probation=300)
    feed(rows(rng, 300))
    blobs = agent.checkpoint(only_dirty=False)
    restored = Agent(AgentSettings())
    restored.restore(dict(blobs))
    assert restored.deployment is not None and restored.deployment.state == "probation"
    assert isinstance(restored.devices["dev-1"].pipeline.detector, OnnxDetector)
    feed.agent = restored
    assert states(feed(rows(rng, 300))) == ["active"]


def test_a_new_rollout_supersedes_one_still_warming(running, onnx_path: Path) -> None:  # type: ignore[no-untyped-def]
    agent, feed, rng = running
    deploy(agent, onnx_path)
    feed(rows(rng, 50))
    assert agent.devices["dev-1"].candidate is not None
    second = Deployment(9, "v3", "cd" * 32, ["dev-1"], 50, 3.0)
    assert states(
        agent.begin_deployment(second, {"dev-1": DevicePipeline(make_detector(f"onnx:{onnx_path}"))}, {})
    ) == ["warming"]
    assert agent.deployment is second
    assert states(feed(rows(rng, 300))) == ["probation", "active"]
