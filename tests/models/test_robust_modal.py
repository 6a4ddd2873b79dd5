"""What the default detector's components are for, each shown on a stream built to need it."""

from __future__ import annotations

import numpy as np

from models.modal import ModalDetector
from models.robust import RobustDetector


def _replay(det: RobustDetector | ModalDetector, X: np.ndarray, batch: int = 8) -> np.ndarray:
    """Score then learn, a batch at a time, as the edge pipeline does."""
    out = []
    for i in range(0, len(X), batch):
        out.append(det.score_many(X[i : i + batch]))
        det.learn_many(X[i : i + batch])
    return np.concatenate(out)


def _pump(rng: np.random.Generator, n: int, worn_from: int | None = None) -> np.ndarray:
    """Flow and power both follow a wandering load; from ``worn_from`` on, a worn impeller
    gives 8 % less flow per kW."""
    wander = np.zeros(n)
    for i in range(1, n):  # demand: AR(1), unit variance, a few samples of memory
        wander[i] = 0.8 * wander[i - 1] + 0.6 * rng.normal()
    load = np.clip(0.775 + 0.1 * wander, 0.55, 1.0)
    loss = np.where(np.arange(n) >= (worn_from if worn_from is not None else n), 0.08, 0.0)
    flow = 100.0 * load * (1.0 - loss) + rng.normal(0, 1.0, n)
    power = 10.0 * load + rng.normal(0, 0.1, n)
    return np.column_stack([flow, power])


def test_relations_catch_a_broken_correlation_inside_the_usual_ranges() -> None:
    stream = _pump(np.random.default_rng(7), 4100, worn_from=4000)
    normal, worn = stream[:4000], stream[4000:]
    low, high = np.quantile(normal[:, 0], [0.05, 0.95])
    assert low < np.median(worn[:, 0]) < high  # nothing unusual about the flow on its own
    scores = {}
    for relations in (True, False):
        det = RobustDetector(features=["flow", "power"], relations=relations)
        scores[relations] = _replay(det, stream)[4000:4010]
    # per-channel CUSUMs get there too, in time; the relation sees it at once
    assert np.median(scores[True]) > 3.5
    assert np.median(scores[False]) < 2.0


def test_relations_add_little_to_the_tail_of_normal_scores() -> None:
    stream = _pump(np.random.default_rng(8), 6000)
    tail = {}
    for relations in (True, False):
        det = RobustDetector(features=["flow", "power"], relations=relations)
        tail[relations] = np.quantile(_replay(det, stream)[2000:], 0.99)
    assert tail[True] < 1.25 * tail[False]


def _duty_cycle(rng: np.random.Generator, cycles: int, stop_heat: float | None = None) -> np.ndarray:
    """Runs of 200 samples on, 200 off; the bearing cools with a 30-sample time constant."""
    rows, temp = [], 20.0
    for c in range(cycles):
        for on in (True, False):
            for _ in range(200):
                target = 40.0 if on else 20.0
                temp = target + (temp - target) * np.exp(-1 / 30)
                current = 12.0 if on else 0.2
                rows.append([current + rng.normal(0, 0.2), temp + rng.normal(0, 0.2)])
            if stop_heat is not None and c == cycles - 1 and on:
                temp = stop_heat  # a bearing that overheated just before the stop
    return np.array(rows)


def test_a_bearing_cooling_after_a_stop_is_not_an_anomaly() -> None:
    rng = np.random.default_rng(9)
    det = ModalDetector(features=["current", "bearing_temp"], discover_after=2000)
    _replay(det, _duty_cycle(rng, 8))
    assert det.n_modes == 2
    scores = _replay(det, _duty_cycle(rng, 4))
    assert scores.max() < 6.0, scores.max()


def test_a_bearing_hotter_than_it_ever_runs_still_alarms_while_settling() -> None:
    rng = np.random.default_rng(10)
    det = ModalDetector(features=["current", "bearing_temp"], discover_after=2000)
    _replay(det, _duty_cycle(rng, 8))
    hot = _duty_cycle(rng, 2, stop_heat=55.0)
    _replay(det, hot[:600])
    channel = det.channel_scores(hot[600:610])[:, 1]  # off, 15 degrees above the on level
    assert channel[0] > 6.0
