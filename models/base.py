"""One protocol for every anomaly detector, River's ``AnomalyDetector`` shape plus batches.

* ``learn_one(x)`` / ``score_one(x)``: one sample as a ``{feature: value}`` dict; NaN or
  a missing key means "not observed now". Higher scores are more anomalous.
* ``learn_many(X, where=None)`` / ``score_many(X)``: a 2-D float array whose columns
  follow ``features``; the fast path for micro-batches and for replaying files. ``where``
  marks the rows to learn from; the others were observed but judged anomalous, which
  stateful detectors may still use to advance sequential statistics.

Raw scores are on each detector's own scale; :mod:`models.calibration` maps them to
[0, 1] so one threshold means the same thing for every detector, device and channel.

Parameters are the constructor's arguments, stored under the same names (River's
convention), which gives :meth:`Estimator.clone` and a readable ``repr`` for free.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["BatchDetector", "Detector", "Estimator", "as_matrix", "as_row"]

Matrix = NDArray[np.float64]


@runtime_checkable
class Detector(Protocol):
    """What the edge pipeline needs from a model of normal behaviour."""

    features: list[str]

    def learn_one(self, x: Mapping[str, float]) -> None: ...

    def score_one(self, x: Mapping[str, float]) -> float: ...

    def learn_many(self, X: Matrix, where: NDArray[np.bool_] | None = None) -> None: ...

    def score_many(self, X: Matrix) -> NDArray[np.float64]: ...


class Estimator:
    """Parameters-are-the-signature base: ``clone()``, ``_get_params()`` and ``repr``."""

    def _get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {name: getattr(self, name) for name in sig.parameters if name != "self"}

    def clone(self, **overrides: Any) -> Any:
        """A fresh, untrained instance with the same parameters (deep-copied)."""
        params = {k: copy.deepcopy(v) for k, v in self._get_params().items()}
        params.update(overrides)
        return type(self)(**params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({args})"


def as_row(x: Mapping[str, float], features: list[str]) -> Matrix:
    """One sample as a 1 x d row in ``features`` order; absent features are NaN."""
    return np.array([[float(x.get(f, np.nan)) for f in features]], dtype=np.float64)


def as_matrix(X: Any) -> Matrix:
    """Validate a batch: a 2-D float array (a 1-D array is one sample)."""
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D array of samples, got shape {arr.shape}")
    return arr


class BatchDetector(Estimator):
    """Base for detectors built on the batch path: the one-sample methods are a batch of one.

    Subclasses implement ``learn_many``, ``score_many`` and ``add_features`` (a device
    may start reporting a new channel at any time).
    """

    features: list[str]

    def add_features(self, names: list[str]) -> None:
        raise NotImplementedError

    def learn_many(self, X: Any, where: NDArray[np.bool_] | None = None) -> None:
        raise NotImplementedError

    def score_many(self, X: Any) -> NDArray[np.float64]:
        raise NotImplementedError

    def learn_one(self, x: Mapping[str, float]) -> None:
        self.add_features([k for k in x if k not in self.features])
        self.learn_many(as_row(x, self.features))

    def score_one(self, x: Mapping[str, float]) -> float:
        self.add_features([k for k in x if k not in self.features])
        return float(self.score_many(as_row(x, self.features))[0])
