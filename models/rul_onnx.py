"""A remaining-useful-life model as one ONNX file, and the predictor that runs it.

The file holds the networks (``N x window x sensors`` in, cycles out) and, in its
``prognos.*`` metadata, the preparation (:class:`models.cmapss.Prep`: sensors kept,
operating-condition centres and per-condition scaling, window), the cap, the training
metrics and the sha256 of the training file. :class:`RulPredictor` needs nothing else: raw
cycles in, RUL in cycles out, with the same preparation training used.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .cmapss import Prep, Run
from .onnx_adapter import open_session
from .onnx_export import check_agreement, save_graph
from .rul_train import RulModel

__all__ = ["RulPredictor", "export_rul", "verify_rul_export"]

KIND = "rul-mlp"


def export_rul(
    model: RulModel, path: Path, *, version: str, name: str, train_sha256: str, subset: str = ""
) -> Path:
    nodes, inits = model.net.onnx_nodes()
    meta = {
        "prognos.name": name,
        "prognos.kind": KIND,
        "prognos.version": version,
        "prognos.subset": subset,
        "prognos.unit": "cycles",
        "prognos.rul_cap": json.dumps(model.net.cap),
        "prognos.prep": json.dumps(model.prep.to_json()),
        "prognos.features": json.dumps(model.prep.to_json()["sensors"]),
        "prognos.train_sha256": train_sha256,
        "prognos.metrics": json.dumps(model.metrics),
        "prognos.created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    shape: list[str | int] = ["N", model.prep.window, len(model.prep.sensors)]
    return save_graph(KIND, nodes, inits, shape, "rul", meta, path)


class RulPredictor:
    """Runs an exported RUL model on raw C-MAPSS-shaped cycles."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._session, meta = open_session(self.path)
        if meta.get("prognos.kind") != KIND:
            raise ValueError(f"{self.path} is not a RUL model (kind {meta.get('prognos.kind')!r})")
        self.metadata: dict[str, str] = dict(meta)
        self.version = meta.get("prognos.version", "unknown")
        self.prep = Prep.from_json(json.loads(meta["prognos.prep"]))
        self.metrics: dict[str, Any] = json.loads(meta.get("prognos.metrics", "{}"))

    def predict_windows(self, windows: NDArray[np.float64]) -> NDArray[np.float64]:
        if len(windows) == 0:
            return np.zeros(0)
        (out,) = self._session.run(None, {"X": np.asarray(windows, dtype=np.float32)})
        return np.asarray(out, dtype=np.float64).reshape(len(windows))

    def predict_last(self, runs: Sequence[Run], batch: int = 512) -> NDArray[np.float64]:
        """RUL in cycles at each run's last cycle."""
        windows = [self.prep.windows(r, last_only=True) for r in runs]
        if not windows:
            return np.zeros(0)
        X = np.concatenate(windows)
        return np.concatenate([self.predict_windows(X[i : i + batch]) for i in range(0, len(X), batch)])


def verify_rul_export(path: Path, model: RulModel, runs: Sequence[Run]) -> dict[str, float]:
    """ONNX Runtime against the numpy networks on every window of ``runs``."""
    X = np.concatenate([model.prep.windows(r) for r in runs])
    return check_agreement(path, RulPredictor(path).predict_windows(X), model.net.predict(X))
