"""Offline anomaly models: training, choice of kind, ONNX export and its check, the ensemble."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.pipeline import DevicePipeline
from models.anomaly_train import Segment, roc_auc, train_anomaly
from models.ensemble import EnsembleDetector
from models.onnx_adapter import OnnxDetector
from models.onnx_export import ExportError, export_onnx, verify_export
from models.reconstruction import Autoencoder, _gradients, fit_autoencoder, fit_pca
from models.registry import make_detector
from prognos.cli import main

FEATURES = ["speed", "power", "flow", "temp"]


def curved(n: int, seed: int = 0) -> np.ndarray:
    """Four channels driven by one hidden load, two of them through curves a line cannot follow."""
    rng = np.random.default_rng(seed)
    load = rng.uniform(-1, 1, (n, 1))
    X = np.hstack([load, load**2, np.sin(3 * load), 0.5 * load])
    return X + rng.normal(0, 0.02, X.shape)


def linear(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 1))
    return np.hstack([base, 2 * base, -base, 0.5 * base]) + rng.normal(0, 0.05, (n, 4))


@pytest.mark.parametrize(
    "fit", [fit_pca, lambda X: fit_autoencoder(X, epochs=40)], ids=["pca", "autoencoder"]
)
def test_export_round_trip_within_the_stated_tolerance(tmp_path: Path, fit) -> None:  # type: ignore[no-untyped-def]
    train = curved(1500)
    model = fit(train)
    path = export_onnx(model, FEATURES, tmp_path / "m.onnx", "v1", train, {"note": "test"}, name="pumps")
    report = verify_export(path, model, curved(400, seed=1))
    assert report["rows"] == 400 and report["max_rel_diff"] <= report["rtol"]
    det = OnnxDetector(path)
    assert det.model_features == FEATURES and det.version == "v1" and det.kind == model.kind
    meta = det.metadata
    assert meta["prognos.name"] == "pumps" and json.loads(meta["prognos.metrics"]) == {"note": "test"}
    assert len(meta["prognos.train_sha256"]) == 64 and meta["prognos.train_rows"] == "1500"
    scaling = json.loads(meta["prognos.scaling"])
    np.testing.assert_allclose(scaling["mean"], np.mean(train, axis=0))


def test_a_file_that_is_not_the_model_fails_the_check(tmp_path: Path) -> None:
    train = curved(800)
    path = export_onnx(fit_pca(train), FEATURES, tmp_path / "m.onnx", "v1", train)
    other = fit_autoencoder(train, epochs=5, seed=3)
    with pytest.raises(ExportError, match="disagree"):
        verify_export(path, other, curved(100, seed=2))


def test_autoencoder_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(16, 3))
    weights = [
        (rng.normal(size=(a, b)) * 0.5, rng.normal(size=b) * 0.1) for a, b in [(3, 5), (5, 2), (2, 5), (5, 3)]
    ]

    def loss() -> float:
        return float(np.mean((Z - Autoencoder.forward(Z, weights)[-1]) ** 2))

    grads = _gradients(Z, weights)
    for layer in range(4):
        for part in range(2):
            p = weights[layer][part]
            idx = (0, 1) if p.ndim == 2 else (1,)
            old = p[idx]
            p[idx] = old + 1e-6
            up = loss()
            p[idx] = old - 1e-6
            down = loss()
            p[idx] = old
            assert grads[layer][part][idx] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-9)


def test_the_autoencoder_is_chosen_where_the_relation_is_curved() -> None:
    trained = train_anomaly([Segment(curved(3000))], seed=0)
    cands = trained.metrics["candidates"]
    assert trained.kind == "autoencoder", cands
    assert cands["autoencoder"]["holdout_auc"] > cands["pca"]["holdout_auc"] + 0.01
    assert trained.metrics["validation"].startswith("synthetic")


def test_pca_is_kept_where_a_line_explains_everything() -> None:
    trained = train_anomaly([Segment(linear(2000))], seed=0)
    assert trained.kind == "pca", trained.metrics["candidates"]


def test_labelled_anomalies_are_not_learned_and_judge_the_holdout() -> None:
    X = linear(2000)
    labels = np.zeros(2000, dtype=bool)
    labels[300:400] = labels[1800:1900] = True
    X[labels, 1] *= -1  # the relation breaks where labelled
    trained = train_anomaly([Segment(X, labels)], kinds=("pca",))
    assert trained.metrics["validation"] == "labelled anomalies"
    assert trained.metrics["holdout_anomalous_rows"] == 100
    assert trained.metrics["candidates"]["pca"]["holdout_auc"] > 0.95
    assert len(trained.train) == 1800  # every normal row, none of the labelled ones


def test_too_little_to_learn_from_is_refused() -> None:
    with pytest.raises(ValueError, match="at least two numeric channels"):
        train_anomaly([Segment(np.zeros((500, 1)))])
    with pytest.raises(ValueError, match="only 8 normal rows"):
        train_anomaly([Segment(linear(10))])
    with pytest.raises(ValueError, match="unknown model kind"):
        train_anomaly([Segment(linear(500))], kinds=("forest",))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=30),
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=30),
)
def test_auc_is_a_probability_and_antisymmetric(a: list[float], b: list[float]) -> None:
    x, y = np.array(a), np.array(b)
    auc = roc_auc(x, y)
    assert 0.0 <= auc <= 1.0
    assert auc == pytest.approx(1.0 - roc_auc(y, x), abs=1e-9)


def test_train_anomaly_command_writes_a_checked_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        X = curved(1200, seed=i)
        label = np.zeros(1200)
        label[900:1000] = 1
        X[label > 0, 2] += 1.5
        rows = [
            f"{1.7e9 + j * 60:.0f};" + ";".join(f"{v:.5f}" for v in X[j]) + f";{label[j]:.0f}"
            for j in range(1200)
        ]
        (data / f"unit{i}.csv").write_text(
            "timestamp;" + ";".join(FEATURES) + ";anomaly\n" + "\n".join(rows) + "\n"
        )
    out, metrics = tmp_path / "model.onnx", tmp_path / "metrics.json"
    rc = main(
        [
            "models",
            "train-anomaly",
            "--data",
            str(data),
            "--out",
            str(out),
            "--quiet",
            "--metrics-json",
            str(metrics),
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["features"] == FEATURES and summary["validation"] == "labelled anomalies"
    assert summary["export_check"]["max_rel_diff"] <= 1e-3
    det = OnnxDetector(out)
    assert det.version == summary["version"] and det.version.startswith("model-")
    assert json.loads(det.metadata["prognos.metrics"])["export_check"] == summary["export_check"]
    assert json.loads(metrics.read_text())["chosen"] == summary["kind"]
    assert not list(tmp_path.glob("*.part"))


def test_train_anomaly_command_explains_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,a\n1,2\n")
    assert main(["models", "train-anomaly", "--data", str(bad), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "at least two numeric channels" in capsys.readouterr().err
    assert (
        main(["models", "train-anomaly", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "m.onnx")])
        == 2
    )
    assert not (tmp_path / "m.onnx").exists()


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    train = linear(2000)
    return export_onnx(fit_pca(train), FEATURES, tmp_path / "pca.onnx", "pca-1", train)


def test_the_ensemble_raises_what_either_member_sees_and_pickles(onnx_model: Path) -> None:
    det = make_detector(f"robust-single+onnx:{onnx_model}", list(FEATURES))
    assert isinstance(det, EnsembleDetector) and det.features == FEATURES
    pipe = DevicePipeline(det)
    X = linear(1600, seed=5)
    X[1200:, 1] *= -1  # relation broken, levels plausible: the ONNX member's catch
    t = np.arange(1600, dtype=float) * 60
    alerts = np.concatenate(
        [pipe.process_batch(t[i : i + 16], X[i : i + 16]).alert for i in range(0, 1600, 16)]
    )
    assert not alerts[400:1200].any() and alerts[1200:].any()
    clone = pickle.loads(pickle.dumps(det))
    np.testing.assert_allclose(clone.score_many(X[:50]), det.score_many(X[:50]))
    assert det.channel_scores(X[:3]).shape == (3, 4)
    with pytest.raises(ValueError, match="at least two"):
        EnsembleDetector([make_detector("robust")])
