"""An exported ONNX model behind the :class:`~models.base.Detector` protocol.

The model file carries its own metadata (``prognos.features``, ``prognos.version``,
``prognos.fill`` for missing values); the session is single-threaded by default, as an
edge box runs many devices side by side. ONNX models are trained offline, so learning is
a no-op here: adaptation happens in the calibrator and the alert policy around it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from .base import Estimator, as_matrix, as_row

__all__ = ["OnnxDetector", "open_session"]


def open_session(path: Path, threads: int = 1) -> tuple[ort.InferenceSession, dict[str, str]]:
    """A CPU session on the model file and its metadata; ``ValueError`` saying why it will not load."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ValueError(f"cannot load ONNX model {path}: {exc}") from None
    return session, dict(session.get_modelmeta().custom_metadata_map)


class OnnxDetector(Estimator):
    def __init__(self, path: Path, features: list[str] | None = None, threads: int = 1) -> None:
        self.path = Path(path)
        self.threads = threads
        self._session, meta = open_session(self.path, threads)
        self.model_features: list[str] = json.loads(meta.get("prognos.features", "[]"))
        self.metadata: dict[str, str] = dict(meta)
        self.version = meta.get("prognos.version", "unknown")
        self.kind = meta.get("prognos.kind", "unknown")
        self.features = list(features) if features else list(self.model_features)
        fill = json.loads(meta.get("prognos.fill", "null")) or [0.0] * len(self.model_features)
        self._fill = np.asarray(fill, dtype=np.float32)
        self._input = self._session.get_inputs()[0].name
        if features and self.model_features and set(features) != set(self.model_features):
            raise ValueError(f"model {self.path} expects features {self.model_features}, got {features}")
        self._order = [self.features.index(f) for f in self.model_features] if self.model_features else None

    def __getstate__(self) -> dict[str, Any]:  # sessions do not pickle: reload from the file
        return {"path": self.path, "features": self.features, "threads": self.threads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["features"], state["threads"])  # type: ignore[misc]

    def learn_one(self, x: Mapping[str, float]) -> None:
        return None

    def learn_many(self, X: Any, where: NDArray[np.bool_] | None = None) -> None:
        return None

    def score_one(self, x: Mapping[str, float]) -> float:
        return float(self.score_many(as_row(x, self.features))[0])

    def score_many(self, X: Any) -> NDArray[np.float64]:
        X = as_matrix(X)
        if len(X) == 0:
            return np.zeros(0)
        if self._order is not None:
            X = X[:, self._order]
        batch = np.where(np.isnan(X), self._fill, X).astype(np.float32)
        (out,) = self._session.run(None, {self._input: batch})
        return np.asarray(out, dtype=np.float64).reshape(len(X))
