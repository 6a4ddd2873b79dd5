"""Every detector honours the same contract (River-style conformance suite)."""

from __future__ import annotations

import numpy as np
import pytest

from models.base import Detector
from models.registry import make_detector

NAMES = ["robust", "hst"]
FEATURES = ["a", "b", "c"]


def stream(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normal operation, then a shift in one channel from row 450 on."""
    rng = np.random.default_rng(seed)
    X = rng.normal([10.0, 5.0, 0.0], [1.0, 0.5, 2.0], size=(n, 3))
    y = np.zeros(n, dtype=bool)
    X[450:, 1] += 4.0
    y[450:] = True
    return X, y


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    pos, neg = scores[y], scores[~y]
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


@pytest.mark.parametrize("name", NAMES)
def test_is_a_detector_and_scores_before_learning(name: str) -> None:
    det = make_detector(name, FEATURES)
    assert isinstance(det, Detector)
    assert np.isfinite(det.score_one({"a": 1.0, "b": 2.0, "c": 3.0}))
    assert det.score_many(np.zeros((3, 3))).shape == (3,)


@pytest.mark.parametrize("name", NAMES)
def test_separates_a_shift_from_normal(name: str) -> None:
    X, y = stream()
    det = make_detector(name, FEATURES)
    det.learn_many(X[:300])
    scores = det.score_many(X[300:])
    assert auc(scores, y[300:]) >= 0.75


@pytest.mark.parametrize("name", NAMES)
def test_one_and_many_agree(name: str) -> None:
    X, _ = stream(200)
    one, many = make_detector(name, FEATURES), make_detector(name, FEATURES)
    for row in X[:150]:
        one.learn_one(dict(zip(FEATURES, row, strict=True)))
        many.learn_many(row[None, :])
    for row in X[150:]:
        s1 = one.score_one(dict(zip(FEATURES, row, strict=True)))
        s2 = float(many.score_many(row[None, :])[0])
        assert s1 == pytest.approx(s2, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_clone_is_fresh_and_independent(name: str) -> None:
    X, _ = stream(300)
    det = make_detector(name, FEATURES)
    det.learn_many(X[:200])
    twin = det.clone()  # type: ignore[attr-defined]
    before = det.score_many(X[200:210]).copy()
    twin.learn_many(X[:50] * 3)
    np.testing.assert_allclose(det.score_many(X[200:210]), before)


@pytest.mark.parametrize("name", NAMES)
def test_nan_and_missing_features_do_not_break_it(name: str) -> None:
    X, _ = stream(300)
    X[::7, 0] = np.nan
    det = make_detector(name, FEATURES)
    det.learn_many(X[:250])
    scores = det.score_many(X[250:])
    assert np.isfinite(scores).all()
    assert np.isfinite(det.score_one({"a": 10.0}))  # b and c not reported this time


@pytest.mark.parametrize("name", NAMES)
def test_where_mask_skips_rows(name: str) -> None:
    X, _ = stream(300)
    masked, plain = make_detector(name, FEATURES), make_detector(name, FEATURES)
    keep = np.ones(300, dtype=bool)
    keep[100:150] = False
    masked.learn_many(X, where=keep)
    plain.learn_many(X[keep])
    np.testing.assert_allclose(masked.score_many(X[-20:]), plain.score_many(X[-20:]), rtol=1e-6, atol=1e-9)


def test_robust_detects_a_stuck_sensor_and_a_slow_drift() -> None:
    from models.robust import RobustDetector

    rng = np.random.default_rng(3)
    det = RobustDetector(features=["v"])
    det.learn_many(rng.normal(0, 1, (500, 1)))
    stuck = np.full((40, 1), 0.3)
    assert det.score_many(stuck)[-1] > 5.0  # 40 identical readings from a noisy channel
    drift = RobustDetector(features=["v"])
    drift.learn_many(rng.normal(0, 1, (500, 1)))
    ramp = rng.normal(0, 1, (300, 1)) + np.linspace(0, 1.5, 300)[:, None]  # never beyond 1.5 sigma + noise
    scores = drift.score_many(ramp)
    assert scores[-1] > 4.0 > np.median(scores[:30])


def test_hst_waits_for_a_complete_sample_before_growing_its_trees() -> None:
    """A stream that starts in a dropout: River's HST builds its trees from the first
    sample it learns, and an empty one crashed it (IndexError in make_padded_tree)."""
    det = make_detector("hst")  # as the agent makes it: channels announced as they appear
    det.learn_many(np.zeros((1, 0)))  # nothing known yet
    det.add_features(["a", "b"])
    det.learn_many(np.array([[np.nan, np.nan], [1.0, np.nan]]))
    assert not det.started_
    rng = np.random.default_rng(4)
    det.learn_many(rng.uniform(size=(300, 2)))
    assert det.started_
    trees = det.model["HalfSpaceTrees"].trees
    used = {node.feature for tree in trees for node in tree.iter_dfs() if hasattr(node, "feature")}
    assert used == {"a", "b"}


def test_unknown_detector_name() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("magic")
