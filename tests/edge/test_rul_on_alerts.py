"""A RUL model on the edge: C-MAPSS engines replayed as devices put its failure time on alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.agent import Agent, AgentSettings
from edge.rul import RulTracker
from firmware_bridge import Sample
from models.cmapss import CHANNELS, Run, load_runs
from models.rul_onnx import RulPredictor, export_rul
from models.rul_train import RulSettings, train_rul

CMAPSS = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cmapss"
pytestmark = pytest.mark.skipif(not (CMAPSS / "train_FD001.txt").exists(), reason="C-MAPSS not in ../shared")
HELD_OUT = {67, 69, 92, 96}  # long-lived engines the model never sees
HOUR = 3600.0


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = [r for r in load_runs(CMAPSS / "train_FD001.txt") if r.unit not in HELD_OUT][:40]
    trained = train_rul(runs, RulSettings(), folds=4)  # folds: the intervals are calibrated on them
    out = tmp_path_factory.mktemp("rul") / "rul.onnx"
    return export_rul(trained, out, version="rul-test", name="rul", train_sha256="0" * 64)


def test_the_tracker_turns_cycles_into_a_time_from_the_device_own_pace(model: Path) -> None:
    (run,) = [r for r in load_runs(CMAPSS / "train_FD001.txt") if r.unit == 67]
    predictor = RulPredictor(model)
    tracker = RulTracker(predictor.prep.window)
    assert tracker.call(predictor, 0.0) is None
    t0, cut = 1.7e9, len(run.sensors) - 40  # 39 cycles before failure
    for i in range(cut + 1):
        tracker.observe(
            t0 + i * 2 * HOUR, dict(zip(CHANNELS, [*run.settings[i], *run.sensors[i]], strict=True))
        )
    now = t0 + cut * 2 * HOUR
    call = tracker.call(predictor, now)
    assert call is not None and tracker.seen == cut + 1
    at = call.failure_at
    predicted_cycles = (at - now) / (2 * HOUR)  # one cycle every two hours on this device
    assert predicted_cycles == pytest.approx(
        float(predictor.predict_last([Run(67, run.settings[: cut + 1], run.sensors[: cut + 1])])[0])
    )
    assert abs(predicted_cycles - 39) < 30
    assert call.cycles is not None and call.failure_ci is not None
    low, point, high = call.cycles
    assert low <= point <= high and point == pytest.approx(predicted_cycles, abs=0.05)
    assert call.failure_ci == pytest.approx((now + low * 2 * HOUR, now + high * 2 * HOUR), abs=0.1 * 2 * HOUR)
    tracker.observe(now + 1, {c: float("nan") for c in CHANNELS})  # a dropout cycle is skipped
    assert len(tracker.rows) == predictor.prep.window


def test_alerts_on_a_replayed_engine_carry_the_rul_model_failure_time(model: Path) -> None:
    """The alert comes from the anomaly detector; its predicted failure from the RUL model."""
    raised, summarised = [], []
    for run in (r for r in load_runs(CMAPSS / "train_FD001.txt") if r.unit in HELD_OUT):
        agent = Agent(AgentSettings(detector="hst", rul_model=str(model)))
        n = len(run.sensors)
        for i in range(n):
            values = dict(zip(CHANNELS, [*run.settings[i], *run.sensors[i]], strict=True))
            for p in agent.handle(Sample(f"engine-{run.unit}", 1.7e9 + i * HOUR, i, values)):
                doc = p.model_dump(mode="json")
                if p.kind == "summary" and doc["rul_cycles"] is not None:
                    summarised.append(doc["rul_cycles"])
                if p.kind == "alert" and doc["transition"] == "raise" and doc["cause"] == "surprise":
                    raised.append(
                        (
                            n - 1 - i,
                            (doc["predicted_failure_at"] - doc["at"]) / HOUR,
                            doc["predicted_failure_ci"],
                            doc["rul_cycles"],
                        )
                    )
    assert raised, "no engine raised an alert"
    assert summarised and all(low <= point <= high for low, point, high in summarised)  # the RUL chart's data
    for true_rul, predicted, ci, cycles in raised:
        assert 0 < predicted <= 125  # from the RUL model (capped at 125 cycles), not the trend
        low, point, high = cycles
        assert point == pytest.approx(predicted, abs=0.1) and low <= point <= high
        assert (ci[0] - 1.7e9) <= (ci[1] - 1.7e9)  # the interval's times, the lower bound first
        assert abs(predicted - min(true_rul, 125)) < 45, raised
