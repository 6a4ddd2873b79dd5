"""Map raw anomaly scores to [0, 1] online, so one threshold means the same everywhere.

:class:`TailCalibrator` keeps the raw scores of recent *normal* samples (those the
pipeline learned from) and returns, for a new raw score, how unusual it is among them:
the empirical CDF in the body, and an exponential tail fitted to the 90th-99th
percentiles beyond that, so scores far past anything seen still rank (0.999, 0.9999…)
instead of all saturating at 1. Until enough history exists, it falls back on the
Gaussian reading of a z-equivalent score, blending towards the empirical one.

The row loop is compiled (numba): the pipeline calibrates and teaches row by row
(:meth:`TailCalibrator.calibrate_learn`), so a file in large batches and a stream one row
at a time get the same scores, at a cost that does not grow with the batch. The loop
stops where the sorted history is due for a refresh (every ``refresh`` learned scores), and
numpy sorts it (several times faster than a compiled sort or merge of 5,000 scores).

>>> import numpy as np
>>> cal = TailCalibrator(window=1000, min_history=50)
>>> cal.update(np.abs(np.random.default_rng(0).normal(size=1000)))
>>> [round(float(c), 4) for c in cal.transform(np.array([0.5, 2.0, 4.0, 8.0]))]
[0.3886, 0.962, 0.9996, 1.0]
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from .base import Estimator

__all__ = ["TailCalibrator"]

_COUNT, _SINCE_SORT = range(2)  # slots of the integer state


class TailCalibrator(Estimator):
    """Streaming ECDF + exponential tail over a ring buffer of normal raw scores."""

    def __init__(self, window: int = 5000, min_history: int = 200, refresh: int = 128) -> None:
        self.window = window
        self.min_history = min_history
        self.refresh = refresh
        self._ring = np.zeros(window)
        self._ints = np.zeros(2, dtype=np.int64)  # scores added, added since the last sort
        self._sorted = np.zeros(0)

    @property
    def history(self) -> int:
        return int(min(self._ints[_COUNT], self.window))

    def update(self, raw: NDArray[np.float64]) -> None:
        """Add raw scores of samples judged normal (non-finite ones are skipped)."""
        raw = np.ascontiguousarray(raw, dtype=np.float64).ravel()
        _learn_rows(raw, self._ring, self._ints)
        if self._ints[_SINCE_SORT] >= self.refresh or len(self._sorted) < self.min_history:
            self._sort()

    def transform(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated scores in [0, 1] for raw scores (NaN -> 0)."""
        raw = np.ascontiguousarray(raw, dtype=np.float64).ravel()
        out = np.empty(len(raw))
        _transform_rows(raw, self._sorted, self.min_history, out)
        return out

    def calibrate_learn(
        self, raw: NDArray[np.float64], raise_at: float
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Row by row: calibrate, then learn the row if it was below ``raise_at`` (or the
        calibrator is still learning, when it takes every row: refusing the loud ones could
        starve it for ever). Returns the scores and, per row, whether it was still learning."""
        raw = np.ascontiguousarray(raw, dtype=np.float64).ravel()
        score, learning = np.empty(len(raw)), np.empty(len(raw), dtype=np.bool_)
        i = 0
        while i < len(raw):
            state = (self._ring, self._sorted, self._ints, self.refresh, self.min_history)
            i = _calibrate_rows(raw, i, raise_at, *state, score, learning)
            if self._ints[_SINCE_SORT] >= self.refresh or len(self._sorted) < self.min_history:
                self._sort()
        return score, learning

    def _sort(self) -> None:
        self._sorted = np.sort(self._ring[: self.history])
        self._ints[_SINCE_SORT] = 0


# -- compiled loops ------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _tail(s: NDArray[np.float64]) -> tuple[float, float]:
    """q99 of the history and the exponential tail's step: each further step beyond q99 is
    ten times rarer."""
    n = len(s)
    if n == 0:
        return 0.0, 1.0
    q90, q99 = s[int(0.90 * (n - 1))], s[int(0.99 * (n - 1))]
    return q99, max(q99 - q90, 1e-9, 0.05 * abs(q99))


@numba.njit(cache=True, nogil=True)
def _one(x: float, s: NDArray[np.float64], q99: float, step: float, min_history: int) -> float:
    """The calibrated score of raw score ``x`` against the sorted history ``s``."""
    if math.isnan(x):
        x = 0.0
    n = len(s)
    prior = math.erf(max(x, 0.0) / math.sqrt(2.0))  # the Gaussian reading of a z-like score
    if n < 20:
        return prior
    p = np.searchsorted(s, x, side="right") / (n + 1.0)
    if x > q99:
        p = max(p, 1.0 - 0.01 * 10.0 ** (-(x - q99) / step))
    weight = min(1.0, n / min_history)
    if weight < 1.0:
        p = weight * p + (1.0 - weight) * prior
    return min(max(p, 0.0), 1.0)


@numba.njit(cache=True, nogil=True)
def _transform_rows(raw, s, min_history, out):  # type: ignore[no-untyped-def]
    q99, step = _tail(s)
    for i in range(len(raw)):
        out[i] = _one(raw[i], s, q99, step, min_history)


@numba.njit(cache=True, nogil=True)
def _add(x, ring, ints):  # type: ignore[no-untyped-def]
    ring[ints[_COUNT] % len(ring)] = x
    ints[_COUNT] += 1
    ints[_SINCE_SORT] += 1


@numba.njit(cache=True, nogil=True)
def _learn_rows(raw, ring, ints):  # type: ignore[no-untyped-def]
    for i in range(len(raw)):
        if math.isfinite(raw[i]):
            _add(raw[i], ring, ints)


@numba.njit(cache=True, nogil=True)
def _calibrate_rows(raw, start, raise_at, ring, s, ints, refresh, min_history, score, learning):  # type: ignore[no-untyped-def]
    """Rows from ``start``: score, learn if normal; stop after the row that makes the sorted
    history due for a refresh. Returns the next row."""
    q99, step = _tail(s)
    window = len(ring)
    for i in range(start, len(raw)):
        learning[i] = min(ints[_COUNT], window) < min_history
        score[i] = _one(raw[i], s, q99, step, min_history)
        if (score[i] < raise_at or learning[i]) and math.isfinite(raw[i]):
            _add(raw[i], ring, ints)
            if ints[_SINCE_SORT] >= refresh or len(s) < min_history:
                return i + 1
    return len(raw)
