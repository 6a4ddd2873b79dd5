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

__all__ = [
    "BatchDetector",
    "Detector",
    "Estimator",
    "ExplainingDetector",
    "GrowingDetector",
    "ModeReporting",
    "RestructuringDetector",
    "ScheduledRestructuring",
    "TimedDetector",
    "as_matrix",
    "as_row",
    "read_state",
    "write_state",
]

Matrix = NDArray[np.float64]


@runtime_checkable
class Detector(Protocol):
    """What the edge pipeline needs from a model of normal behaviour."""

    features: list[str]

    def learn_one(self, x: Mapping[str, float]) -> None: ...

    def score_one(self, x: Mapping[str, float]) -> float: ...

    def learn_many(self, X: Matrix, where: NDArray[np.bool_] | None = None) -> None: ...

    def score_many(self, X: Matrix) -> NDArray[np.float64]: ...


@runtime_checkable
class TimedDetector(Protocol):
    """A detector whose memories are in time: it scores and learns each row in one pass.

    ``score_learn_many(t, X)`` returns each row's raw score against the state just
    before it and then learns the row, exactly as feeding the rows one at a time would.
    The pipeline prefers this path when a detector offers it: the detector decides what
    to learn from (and how fast to forget, from the timestamps), so the alert policy
    never holds learning back."""

    features: list[str]

    def score_learn_many(self, t: NDArray[np.float64], X: Matrix) -> NDArray[np.float64]: ...


@runtime_checkable
class GrowingDetector(Protocol):
    """A detector that can start tracking a channel first reported mid-stream."""

    features: list[str]

    def add_features(self, names: list[str]) -> None: ...


@runtime_checkable
class ExplainingDetector(Protocol):
    """A detector that says which channels drove a score (an alert's fault key)."""

    features: list[str]

    def channel_scores(self, X: Matrix) -> Matrix: ...


@runtime_checkable
class RestructuringDetector(Protocol):
    """A detector that may restructure itself (operating modes found): each time it does,
    ``generation_`` grows and its scores change scale, so calibration must start over."""

    generation_: int


@runtime_checkable
class ModeReporting(Protocol):
    """A detector that knows the machine's operating modes: ``last_modes_`` holds the mode
    of each row of its last ``score_learn_many`` call (so health can be judged per mode),
    and ``discovered_from_`` the rows (values, times, modes) the modes were found in, so a
    health baseline can be learned per mode from the same early history."""

    last_modes_: NDArray[np.intp]
    discovered_from_: tuple[Matrix, NDArray[np.float64] | None, NDArray[np.intp]] | None


@runtime_checkable
class ScheduledRestructuring(Protocol):
    """A restructuring detector that knows in advance at which row it may restructure, so a
    caller can cut its batch there and react (recalibrate) at exactly that row."""

    def rows_before_restructuring(self, t: NDArray[np.float64]) -> int: ...


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


def write_state(kind: str, version: int, features: list[str], arrays: Mapping[str, Matrix]) -> dict[str, Any]:
    """A checkpoint as a plain document (JSON-ready: lists of floats), not a pickled class:
    it survives renaming a module, and an old version is refused by name, not by a crash."""
    return {"kind": kind, "version": version, "features": list(features)} | {
        name: np.asarray(a, dtype=np.float64).tolist() for name, a in arrays.items()
    }


def read_state(
    s: Mapping[str, Any], kind: str, version: int, shapes: Mapping[str, tuple[int, ...]]
) -> tuple[list[str], dict[str, Matrix]]:
    """(features, arrays) from :func:`write_state`'s document; ``shapes`` may use -1 for the
    channel count. Raises ValueError for another kind or version."""
    if s.get("kind") != kind or s.get("version") != version:
        raise ValueError(f"not a {kind} state of version {version}: {s.get('kind')!r} v{s.get('version')!r}")
    features = [str(f) for f in s["features"]]
    d = len(features)
    arrays = {
        name: np.array(s[name], dtype=np.float64).reshape(tuple(d if n == -1 else n for n in shape))
        for name, shape in shapes.items()
    }
    return features, arrays
