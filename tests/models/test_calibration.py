from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.calibration import TailCalibrator


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0, 50), min_size=1, max_size=600), st.lists(st.floats(0, 100), min_size=2, max_size=20)
)
def test_calibrated_scores_are_monotone_and_in_range(history: list[float], queries: list[float]) -> None:
    cal = TailCalibrator(window=500, min_history=50, refresh=1)
    cal.update(np.array(history))
    q = np.sort(np.array(queries))
    c = cal.transform(q)
    assert ((c >= 0) & (c <= 1)).all()
    assert (np.diff(c) >= -1e-12).all()


def test_same_threshold_same_rarity_on_different_scales() -> None:
    rng = np.random.default_rng(1)
    small, large = TailCalibrator(), TailCalibrator()
    a, b = np.abs(rng.normal(0, 1, 5000)), np.abs(rng.normal(0, 40, 5000))
    small.update(a)
    large.update(b)
    fresh_a, fresh_b = np.abs(rng.normal(0, 1, 20000)), np.abs(rng.normal(0, 40, 20000))
    rate_a = (small.transform(fresh_a) >= 0.99).mean()
    rate_b = (large.transform(fresh_b) >= 0.99).mean()
    assert abs(rate_a - 0.01) < 0.005 and abs(rate_b - 0.01) < 0.005


def test_prior_before_history_and_nan() -> None:
    cal = TailCalibrator()
    c = cal.transform(np.array([0.0, 1.96, np.nan]))
    assert c[0] == 0.0 and abs(c[1] - 0.95) < 0.001 and c[2] == 0.0


def test_ring_buffer_keeps_only_the_window() -> None:
    cal = TailCalibrator(window=100, min_history=10, refresh=1)
    cal.update(np.full(100, 50.0))
    cal.update(np.arange(150, dtype=float) / 150)  # newer, smaller scores push the old ones out
    assert cal.history == 100
    assert cal.transform(np.array([2.0]))[0] > 0.999


def _reference(raw: np.ndarray, raise_at: float, window: int, min_history: int, refresh: int) -> np.ndarray:  # type: ignore[type-arg]
    """Calibrate-then-learn one row at a time, in plain numpy: what the compiled loop must do."""
    cal = TailCalibrator(window=window, min_history=min_history, refresh=refresh)
    out = []
    for x in raw:
        learning = cal.history < min_history
        score = float(cal.transform(np.array([x]))[0])
        out.append(score)
        if score < raise_at or learning:
            cal.update(np.array([x]))
    return np.array(out)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.floats(0, 30), st.just(float("nan"))), min_size=1, max_size=700),
    st.integers(1, 700),
)
def test_calibrate_learn_is_row_by_row_in_any_batch_size(raw: list[float], cut: int) -> None:
    x = np.array(raw)
    want = _reference(x, 0.99, window=120, min_history=30, refresh=16)
    cal = TailCalibrator(window=120, min_history=30, refresh=16)
    first, _ = cal.calibrate_learn(x[:cut], 0.99)
    second, _ = cal.calibrate_learn(x[cut:], 0.99)
    assert np.array_equal(np.concatenate([first, second]), want)
