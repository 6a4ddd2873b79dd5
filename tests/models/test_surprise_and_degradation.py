"""The two signals: surprise adapts (alerts clear), degradation does not (health means wear)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.pipeline import DevicePipeline
from edge.policy import TransitionKind
from models.degradation import DegradationTracker
from models.registry import make_detector
from models.surprise import SurpriseDetector
from models.timebase import memory_weight


def noisy(n: int, seed: int = 0, level: float = 10.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(level, 1.0, (n, 1))


@pytest.mark.parametrize("step", [1.0, 60.0, 3600.0])
def test_a_level_shift_stops_being_surprising_at_any_sampling_rate(step: float) -> None:
    """The same defaults at 1 s, 1 min and 1 h: a lasting shift is absorbed and its score falls
    back within a few half-lives (30 minutes, never fewer than 100 samples)."""
    half_life_rows = int(max(1800.0 / step, 100.0))
    n = 1500 + 8 * half_life_rows
    X = noisy(n)
    X[1500:] += 8.0
    t = step * np.arange(n)
    raw = SurpriseDetector(features=["v"]).score_learn_many(t, X)
    assert raw[1500:1505].max() > 6.0  # the shift is a surprise
    assert np.median(raw[-200:]) < 2.0  # and then it is the new normal


def test_a_spike_gives_a_short_peak_not_a_plateau() -> None:
    X = noisy(1000)
    X[700] = 30.0
    raw = SurpriseDetector(features=["v"]).score_learn_many(np.arange(1000.0), X)
    assert raw[700] > 10.0 and raw[702:].max() < 5.0


def test_memory_is_in_time_with_a_floor_in_samples() -> None:
    # 1 s sampling: half-life 1800 s -> weight ln2/1800 per row; hourly sampling: the floor
    # of 100 samples sets it (ln2/100 per row), not the 1800 s
    assert memory_weight(1.0, 1.0, 1800.0, 100.0, 1e9) == pytest.approx(1 - 2 ** (-1 / 1800))
    assert memory_weight(3600.0, 3600.0, 1800.0, 100.0, 1e9) == pytest.approx(1 - 2 ** (-1 / 100))
    assert memory_weight(1.0, 1.0, 1800.0, 100.0, 9.0) == pytest.approx(0.1)  # warming: a running mean


def test_a_pipeline_alert_on_a_level_shift_is_raised_once_and_cleared() -> None:
    n = 4000
    X = noisy(n, seed=3)
    X[2000:] += 10.0
    pipe = DevicePipeline(make_detector("surprise-single", ["v"]))
    r = pipe.process_batch(60.0 * np.arange(n), X)
    kinds = [
        (row, tr.kind)
        for row, tr in zip(r.transition_rows, r.transitions, strict=True)
        if tr.cause == "surprise"
    ]
    raises = [row for row, k in kinds if k is TransitionKind.RAISE]
    assert len(raises) == 1 and 2000 <= raises[0] < 2010
    assert kinds[-1][1] is TransitionKind.CLEAR, "the surprise never cleared"
    assert np.median(r.score[-200:]) < 0.99  # the new level is normal now
    # the degradation signal does not adapt: ten sigmas from the healthy baseline is wear
    assert r.health[-1] < 0.2 and any(tr.cause == "trend" for tr in r.transitions)
    assert r.raised.sum() == sum(tr.kind is TransitionKind.RAISE for tr in r.transitions)


def test_health_falls_with_slow_wear_and_not_with_noise() -> None:
    n = 6000  # ~4 days at one a minute
    t = 60.0 * np.arange(n)
    X = np.random.default_rng(1).normal(1.0, 0.1, (n, 2))
    worn, drifting = X.copy(), X.copy()
    worn[3000:] += np.linspace(0.0, 1.0, 3000)[:, None]  # ten sigmas of wear on both, over two days
    drifting[3000:, 0] += np.linspace(0.0, 1.0, 3000)  # one channel alone: the weather, not wear
    healthy = DegradationTracker(features=["a", "b"]).update(t, X)
    wearing = DegradationTracker(features=["a", "b"]).update(t, worn)
    assert healthy.min() >= 0.8
    assert wearing[2900] >= 0.8 and wearing[-1] < 0.2
    assert np.all(np.diff(wearing[3500:][::200]) <= 0.05)  # it does not adapt the wear away
    assert DegradationTracker(features=["a", "b"]).update(t, drifting).min() >= 0.8


def test_a_consumables_condition_channel_does_not_count_towards_health() -> None:
    """A clogging filter (its pressure drop and one more channel rising) is a reminder to
    change the filter, which the consumable tracker gives; the machine is still healthy."""
    n = 6000
    t = 60.0 * np.arange(n)
    X = np.random.default_rng(3).normal(1.0, 0.1, (n, 3))
    X[3000:, :2] += np.linspace(0.0, 1.0, 3000)[:, None]
    names = ["filter_dp", "fan_current", "vibration"]
    counted = DegradationTracker(features=names)
    assert counted.update(t, X)[-1] < 0.2 and "filter_dp" in counted.drivers()
    ignoring = DegradationTracker(features=names, ignore=("filter_dp",))
    assert ignoring.update(t, X).min() >= 0.8  # one channel left drifting is not wear
    assert "filter_dp" not in ignoring.drivers()


def test_a_reset_starts_a_new_baseline() -> None:
    t = 60.0 * np.arange(4000)
    X = np.random.default_rng(2).normal(1.0, 0.1, (4000, 1))
    X[2500:] += 1.0
    trk = DegradationTracker(features=["a"])
    assert trk.update(t[:3000], X[:3000])[-1] < 0.2
    trk.reset()
    trk.add_features(["a"])
    assert trk.update(t[3000:], X[3000:]).min() == 1.0  # learning the repaired machine's normal


def test_a_trend_alert_catches_wear_that_never_surprises() -> None:
    n = 8000
    t = 300.0 * np.arange(n)  # 5-minute data, 28 days
    X = np.random.default_rng(4).normal(5.0, 0.2, (n, 1))
    X[3000:, 0] += np.linspace(0.0, 2.0, n - 3000)  # 2 mm/s of vibration over 17 days
    pipe = DevicePipeline(make_detector("surprise", ["vibration"]))
    r = pipe.process_batch(t, X)
    trend = [
        (row, tr.kind)
        for row, tr in zip(r.transition_rows, r.transitions, strict=True)
        if tr.cause == "trend"
    ]
    assert trend and trend[0][1] is TransitionKind.RAISE and trend[0][0] > 3000
    assert r.health[2900] >= 0.8 and r.health[-1] < 0.5


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=12), st.integers(0, 5))
def test_the_pipeline_gives_the_same_result_in_any_batch_sizes(cuts: list[int], seed: int) -> None:
    """What the agent sees one row at a time, ``prognos detect`` sees in large batches: same results."""
    n = 1500
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, (n, 2)) + np.where(rng.uniform(size=(n, 1)) < 0.3, 8.0, 0.0)  # two modes
    X[900:950, 1] += 9.0
    t = 120.0 * np.arange(n) + rng.uniform(0, 30, n)

    def run(sizes: list[int]) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str, str]]]:
        pipe = DevicePipeline(make_detector("surprise", ["a", "b"]))
        scores, health, trs, a, k = [], [], [], 0, 0
        while a < n:
            b = min(n, a + sizes[k % len(sizes)])
            r = pipe.process_batch(t[a:b], X[a:b])
            scores.append(r.score)
            health.append(r.health)
            trs += [
                (a + i, tr.kind.value, tr.cause)
                for i, tr in zip(r.transition_rows, r.transitions, strict=True)
            ]
            a, k = b, k + 1
        return np.concatenate(scores), np.concatenate(health), trs

    s1, h1, t1 = run([1])
    s2, h2, t2 = run(cuts)
    # numpy's vector kernels may round the last bit differently for other array lengths
    np.testing.assert_allclose(s1, s2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h1, h2, rtol=1e-12, atol=1e-12)
    assert t1 == t2


def test_state_round_trips_through_a_plain_document() -> None:
    t = 60.0 * np.arange(600)
    X = noisy(600)
    det, trk = SurpriseDetector(features=["v"]), DegradationTracker(features=["v"])
    det.score_learn_many(t[:500], X[:500])
    trk.update(t[:500], X[:500])
    det2, trk2 = SurpriseDetector(), DegradationTracker()
    det2.restore(det.state())
    trk2.restore(trk.state())
    np.testing.assert_array_equal(
        det2.score_learn_many(t[500:], X[500:]), det.score_learn_many(t[500:], X[500:])
    )
    np.testing.assert_array_equal(trk2.update(t[500:], X[500:]), trk.update(t[500:], X[500:]))
    with pytest.raises(ValueError, match="not a surprise state of version 1"):
        SurpriseDetector().restore({"version": 99})
