from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from edge.pipeline import DevicePipeline
from models.onnx_adapter import OnnxDetector
from models.onnx_export import export_onnx, fit_pca
from models.registry import make_detector

FEATURES = ["a", "b", "c", "d"]


def correlated(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 1))
    return np.hstack([base, 2 * base, -base, 0.5 * base]) + rng.normal(0, 0.05, (n, 4))


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    train = correlated(2000)
    return export_onnx(fit_pca(train), FEATURES, tmp_path / "pca.onnx", "pca-test-1", train)


def test_onnx_agrees_with_numpy_on_a_holdout(model_path: Path) -> None:
    train = correlated(2000)
    model = fit_pca(train)
    holdout = correlated(500, seed=1)
    det = OnnxDetector(model_path)
    np.testing.assert_allclose(det.score_many(holdout), model.score(holdout), rtol=1e-3, atol=1e-4)
    assert det.version == "pca-test-1" and det.model_features == FEATURES


def test_onnx_flags_a_broken_correlation_and_fills_missing(model_path: Path) -> None:
    det = make_detector(f"onnx:{model_path}", FEATURES)
    normal = correlated(200, seed=2)
    broken = normal.copy()
    broken[:, 1] = -broken[:, 1]  # same ranges, relation gone
    assert np.median(det.score_many(broken)) > 20 * np.median(det.score_many(normal))
    row = {"a": 1.0, "b": 2.0, "c": float("nan"), "d": 0.5}
    assert np.isfinite(det.score_one(row))


def test_onnx_reorders_columns_and_survives_pickling(model_path: Path) -> None:
    X = correlated(50, seed=3)
    det = OnnxDetector(model_path)
    shuffled = OnnxDetector(model_path, features=["d", "c", "b", "a"])
    np.testing.assert_allclose(shuffled.score_many(X[:, ::-1]), det.score_many(X), rtol=1e-6)
    clone = pickle.loads(pickle.dumps(shuffled))
    np.testing.assert_allclose(clone.score_many(X[:, ::-1]), det.score_many(X), rtol=1e-6)


def test_onnx_in_the_pipeline(model_path: Path) -> None:
    pipe = DevicePipeline(OnnxDetector(model_path))
    X = correlated(900, seed=4)
    X[700:, 1] *= -1
    t = np.arange(900, dtype=float)
    alerts = np.concatenate(
        [pipe.process_batch(t[i : i + 32], X[i : i + 32]).alert for i in range(0, 900, 32)]
    )
    assert not alerts[:700].any() and alerts[700:].any()


def test_bad_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot load ONNX model"):
        OnnxDetector(bad)


def test_wrong_features_are_refused(model_path: Path) -> None:
    with pytest.raises(ValueError, match="expects features"):
        OnnxDetector(model_path, features=["x", "y", "z", "w"])
