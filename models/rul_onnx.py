"""A remaining-useful-life model as one ONNX file, and the predictor that runs it.

The file holds the estimator and, in its ``prognos.*`` metadata, everything around it: the
preparation (:class:`models.cmapss.Prep`: sensors kept, operating-condition centres and
per-condition scaling, window), for trees the features (:mod:`models.rul_features`), the
cap, the calibrated intervals (:mod:`models.rul_intervals`), the training metrics and the
sha256 of the training file. :class:`RulPredictor` needs nothing else: raw cycles in, RUL
in cycles out (with its interval), prepared the way training prepared them.

Two kinds: ``rul-gbm`` (trees; the graph takes the float64 feature matrix) and
``rul-mlp`` (networks; the graph takes ``N x window x sensors`` float32 windows).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from onnx import TensorProto

from .cmapss import Prep, Run
from .onnx_adapter import open_session
from .onnx_export import check_agreement, save_graph
from .rul_features import RulFeatures
from .rul_gbm import RulGbm
from .rul_intervals import Intervals
from .rul_train import RulModel

__all__ = ["KINDS", "RulPredictor", "export_rul", "verify_rul_export"]

KINDS = ("rul-gbm", "rul-mlp")
ML_OPSET = 3  # TreeEnsembleRegressor with float64 thresholds (nodes_values_as_tensor)


def export_rul(
    model: RulModel, path: Path, *, version: str, name: str, train_sha256: str, subset: str = ""
) -> Path:
    estimator = model.estimator
    meta = {
        "prognos.name": name,
        "prognos.kind": estimator.kind,
        "prognos.version": version,
        "prognos.subset": subset,
        "prognos.unit": "cycles",
        "prognos.rul_cap": json.dumps(estimator.cap),
        "prognos.prep": json.dumps(model.prep.to_json()),
        "prognos.features": json.dumps(model.prep.to_json()["sensors"]),
        "prognos.train_sha256": train_sha256,
        "prognos.metrics": json.dumps(model.metrics),
        "prognos.created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if model.intervals is not None:
        meta["prognos.intervals"] = json.dumps(model.intervals.to_json())
    if isinstance(estimator, RulGbm):
        assert model.features is not None
        meta["prognos.rul_features"] = json.dumps(model.features.to_json())
        width = len(model.features.names())
        nodes = estimator.onnx_nodes("X", "rul")
        return save_graph(
            estimator.kind, nodes, estimator.onnx_initialisers(), ["N", width], "rul", meta, path,
            input_type=TensorProto.DOUBLE, ml_opset=ML_OPSET,
        )  # fmt: skip
    net_nodes, inits = estimator.onnx_nodes()
    shape: list[str | int] = ["N", model.prep.window, len(model.prep.sensors)]
    return save_graph(estimator.kind, net_nodes, inits, shape, "rul", meta, path)


class RulPredictor:
    """Runs an exported RUL model on raw C-MAPSS-shaped cycles."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._session, meta = open_session(self.path)
        self.kind = meta.get("prognos.kind")
        if self.kind not in KINDS:
            raise ValueError(f"{self.path} is not a RUL model (kind {self.kind!r})")
        self.metadata: dict[str, str] = dict(meta)
        self.version = meta.get("prognos.version", "unknown")
        self.prep = Prep.from_json(json.loads(meta["prognos.prep"]))
        self.metrics: dict[str, Any] = json.loads(meta.get("prognos.metrics", "{}"))
        features = meta.get("prognos.rul_features")
        self.features = RulFeatures.from_json(self.prep, json.loads(features)) if features else None
        intervals = meta.get("prognos.intervals")
        self.intervals = Intervals.from_json(json.loads(intervals)) if intervals else None

    def predict_inputs(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The graph on what it takes: features (trees) or windows (networks)."""
        if len(X) == 0:
            return np.zeros(0)
        dtype = np.float64 if self.features is not None else np.float32
        (out,) = self._session.run(None, {"X": np.asarray(X, dtype=dtype)})
        return np.asarray(out, dtype=np.float64).reshape(len(X))

    def inputs_last(self, runs: Sequence[Run], cycles: Sequence[float] | None = None) -> NDArray[np.float64]:
        """The graph's input at each run's last cycle. ``cycles``: how many cycles each unit
        has run, when the run holds only its latest (the edge keeps a window); by default
        the run's own length."""
        windows = np.concatenate([self.prep.windows(r, last_only=True) for r in runs])
        if self.features is None:
            return windows
        ages = np.asarray(cycles if cycles is not None else [len(r.sensors) for r in runs], dtype=np.float64)
        return self.features.of_windows(windows, ages)

    def predict_last(
        self, runs: Sequence[Run], cycles: Sequence[float] | None = None, batch: int = 512
    ) -> NDArray[np.float64]:
        """RUL in cycles at each run's last cycle."""
        if not runs:
            return np.zeros(0)
        X = self.inputs_last(runs, cycles)
        return np.concatenate([self.predict_inputs(X[i : i + batch]) for i in range(0, len(X), batch)])

    def interval(
        self, rul: NDArray[np.float64], level: float = 0.9
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """(lower, upper) RUL at ``level`` around predictions, if the model was calibrated."""
        return self.intervals.bounds(np.asarray(rul, dtype=np.float64), level) if self.intervals else None


def verify_rul_export(path: Path, model: RulModel, runs: Sequence[Run]) -> dict[str, float]:
    """ONNX Runtime against the Python estimator on every cycle of ``runs``."""
    X = model.inputs(runs, last_only=False)
    return check_agreement(path, RulPredictor(path).predict_inputs(X), model.estimator.predict(X))
