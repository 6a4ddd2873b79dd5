"""RUL intervals: conformal bounds that are ordered, nested by level, and cover what they claim."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.rul_intervals import Intervals, calibrate, cross_conformal_coverage


def _engines(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Predictions whose error grows with the predicted RUL, as a real model's does."""
    pred = rng.uniform(0, 125, n)
    true = np.maximum(pred + rng.normal(0, 2 + 0.15 * pred), 0)
    return pred, true


def test_coverage_on_fresh_engines_is_what_the_level_says() -> None:
    rng = np.random.default_rng(0)
    intervals = calibrate(*_engines(2000, rng))
    pred, true = _engines(20000, rng)
    for level in (0.8, 0.9):
        low, high = intervals.bounds(pred, level)
        inside = float(np.mean((true >= low) & (true <= high)))
        assert abs(inside - level) < 0.02, (level, inside)
    low, high = intervals.bounds(pred, 0.9)
    narrow = pred < 25
    assert (high - low)[narrow].mean() < (high - low)[~narrow].mean()  # tighter late in life


def test_cross_conformal_coverage_reports_each_level_from_other_folds() -> None:
    rng = np.random.default_rng(1)
    pred, true = _engines(1000, rng)
    report = cross_conformal_coverage(pred, true, np.arange(1000) % 5)
    assert set(report) == {"80%", "90%"}
    assert 0.85 <= report["90%"]["coverage"] <= 0.95 and 0.75 <= report["80%"]["coverage"] <= 0.85
    assert report["90%"]["mean_width_cycles"] > report["80%"]["mean_width_cycles"] > 0


def test_too_few_held_out_predictions_are_refused() -> None:
    with pytest.raises(ValueError, match="too few"):
        calibrate(np.ones(10), np.ones(10))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0, 125), min_size=40, max_size=200),
    st.lists(st.floats(-60, 60), min_size=40, max_size=200),
    st.lists(st.floats(0, 200), min_size=1, max_size=20),
)
def test_bounds_are_ordered_non_negative_and_nested(
    preds: list[float], errors: list[float], queries: list[float]
) -> None:
    n = min(len(preds), len(errors))
    pred = np.asarray(preds[:n])
    intervals = calibrate(pred, np.maximum(pred + np.asarray(errors[:n]), 0))
    q = np.asarray(queries)
    low80, high80 = intervals.bounds(q, 0.8)
    low90, high90 = intervals.bounds(q, 0.9)
    assert np.all(low90 >= 0) and np.all(low90 <= high90) and np.all(low80 <= high80)
    assert np.all(low90 <= low80 + 1e-9) and np.all(high90 >= high80 - 1e-9)
    again = Intervals.from_json(json.loads(json.dumps(intervals.to_json())))
    np.testing.assert_allclose(again.bounds(q, 0.9), (low90, high90))
