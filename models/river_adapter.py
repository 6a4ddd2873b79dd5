"""Any ``river.anomaly`` model behind the :class:`~models.base.Detector` protocol.

River learns from dicts one sample at a time; this adapter drops NaN (unobserved)
features before handing a sample over, and runs the batch methods as a loop, so River
and ONNX models can be swapped in the same pipeline. Half-Space Trees draw their split
features from the first sample they learn, so the adapter holds learning back until a
sample has every channel observed (a stream that starts in a dropout would otherwise
leave those channels out for good, or crash River on an empty sample). The default model is
``MinMaxScaler | HalfSpaceTrees`` (Half-Space Trees need inputs in [0, 1]).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from river import anomaly, compose, preprocessing

from .base import Estimator, as_matrix

__all__ = ["RiverDetector", "default_river_model"]


def default_river_model(seed: int = 42) -> compose.Pipeline:
    return preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(
        n_trees=10, height=8, window_size=250, seed=seed
    )


def _river_version() -> str:
    from importlib.metadata import version

    return version("river")


class RiverDetector(Estimator):
    """Wrap a River anomaly model (or pipeline ending in one)."""

    def __init__(self, features: list[str] | None = None, model: Any = None) -> None:
        self.features = list(features) if features else []
        self.model = model if model is not None else default_river_model()
        self.started_ = False  # has the model learned its first, complete sample?

    def __getstate__(self) -> dict[str, Any]:
        """River has no state format of its own: its model travels as River's pickle, tagged
        with River's version (an edge checkpoint holds nothing else pickled)."""
        state = {"features": self.features, "started_": self.started_, "river": _river_version()}
        return state | {"model": pickle.dumps(self.model, protocol=pickle.HIGHEST_PROTOCOL)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("river") != _river_version():
            raise ValueError(f"a River {state.get('river')} model; this edge runs River {_river_version()}")
        self.features, self.started_ = list(state["features"]), bool(state["started_"])
        self.model = pickle.loads(state["model"])  # noqa: S301 - written by our own __getstate__

    def clone(self, **overrides: Any) -> RiverDetector:
        params = {"features": list(self.features), "model": self.model.clone(), **overrides}
        return RiverDetector(**params)

    @staticmethod
    def _clean(x: Mapping[str, float]) -> dict[str, float]:
        return {k: float(v) for k, v in x.items() if v is not None and not math.isnan(v)}

    def add_features(self, names: list[str]) -> None:
        """Channels first seen now; the agent announces them before the sample that has them."""
        self.features += [n for n in names if n not in self.features]

    def learn_one(self, x: Mapping[str, float]) -> None:
        self.add_features(list(x))
        self._learn(self._clean(x))

    def _learn(self, row: dict[str, float]) -> None:
        if not self.started_:
            if not row or len(row) < len(self.features):
                return  # wait for a sample with every channel (see the module docstring)
            self.started_ = True
        self.model.learn_one(row)

    def score_one(self, x: Mapping[str, float]) -> float:
        self.add_features(list(x))
        clean = self._clean(x)
        return float(self.model.score_one(clean)) if clean else 0.0

    def _rows(self, X: Any) -> list[dict[str, float]]:
        X = as_matrix(X)
        if not self.features:
            self.features = [f"x{i}" for i in range(X.shape[1])]
        return [self._clean(dict(zip(self.features, row, strict=True))) for row in X.tolist()]

    def learn_many(self, X: Any, where: NDArray[np.bool_] | None = None) -> None:
        rows = self._rows(X)
        keep = [True] * len(rows) if where is None else np.asarray(where, dtype=bool).tolist()
        for row, k in zip(rows, keep, strict=True):
            if k:
                self._learn(row)

    def score_many(self, X: Any) -> NDArray[np.float64]:
        return np.array([float(self.model.score_one(r)) if r else 0.0 for r in self._rows(X)])
