"""Map raw anomaly scores to [0, 1] online, so one threshold means the same everywhere.

:class:`TailCalibrator` keeps the raw scores of recent *normal* samples (those the
pipeline learned from) and returns, for a new raw score, how unusual it is among them:
the empirical CDF in the body, and an exponential tail fitted to the 90th-99th
percentiles beyond that, so scores far past anything seen still rank (0.999, 0.9999…)
instead of all saturating at 1. Until enough history exists, it falls back on the
Gaussian reading of a z-equivalent score, blending towards the empirical one.

>>> import numpy as np
>>> cal = TailCalibrator(window=1000, min_history=50)
>>> cal.update(np.abs(np.random.default_rng(0).normal(size=1000)))
>>> [round(float(c), 4) for c in cal.transform(np.array([0.5, 2.0, 4.0, 8.0]))]
[0.3886, 0.962, 0.9996, 1.0]
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.special import erf

from .base import Estimator

__all__ = ["TailCalibrator"]


class TailCalibrator(Estimator):
    """Streaming ECDF + exponential tail over a ring buffer of normal raw scores."""

    def __init__(self, window: int = 5000, min_history: int = 200, refresh: int = 128) -> None:
        self.window = window
        self.min_history = min_history
        self.refresh = refresh
        self._ring = np.zeros(window)
        self._count = 0
        self._since_sort = 0
        self._sorted = np.zeros(0)

    @property
    def history(self) -> int:
        return min(self._count, self.window)

    def until_refresh(self) -> int:
        """Normal scores to add before the next change of the transform (1 while warming up).
        A caller that splits its updates there gets exactly the results of one-by-one updates."""
        if len(self._sorted) < self.min_history:
            return 1
        return max(self.refresh - self._since_sort, 1)

    def update(self, raw: NDArray[np.float64]) -> None:
        """Add raw scores of samples judged normal."""
        raw = np.asarray(raw, dtype=np.float64).ravel()
        raw = raw[np.isfinite(raw)]
        if len(raw) > self.window:
            raw = raw[-self.window :]
        pos = self._count % self.window
        end = pos + len(raw)
        if end <= self.window:
            self._ring[pos:end] = raw
        else:
            cut = self.window - pos
            self._ring[pos:] = raw[:cut]
            self._ring[: end - self.window] = raw[cut:]
        self._count += len(raw)
        self._since_sort += len(raw)
        if self._since_sort >= self.refresh or len(self._sorted) < self.min_history:
            self._sorted = np.sort(self._ring[: self.history])
            self._since_sort = 0

    def transform(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated scores in [0, 1] for raw scores (NaN -> 0)."""
        raw = np.asarray(raw, dtype=np.float64)
        raw = np.where(np.isnan(raw), 0.0, raw)  # np.nan_to_num costs 3x as much on small arrays
        n = len(self._sorted)
        if n < 20:
            return _prior(raw)
        empirical = self._empirical(raw)
        weight = min(1.0, n / self.min_history)
        if weight >= 1.0:  # the usual case once a device has history: no prior to blend in
            return np.asarray(np.clip(empirical, 0.0, 1.0), dtype=np.float64)
        blended = weight * empirical + (1.0 - weight) * _prior(raw)
        return np.asarray(np.clip(blended, 0.0, 1.0), dtype=np.float64)

    def _empirical(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        s = self._sorted
        n = len(s)
        body = np.searchsorted(s, raw, side="right") / (n + 1.0)
        q90, q99 = s[int(0.90 * (n - 1))], s[int(0.99 * (n - 1))]
        # Exponential tail: each further (q99 - q90) beyond q99 is ten times rarer.
        step = max(q99 - q90, 1e-9, 0.05 * abs(q99))
        tail_p = 0.01 * np.power(10.0, -(raw - q99) / step)
        return np.where(raw > q99, np.maximum(body, 1.0 - tail_p), body)


def _prior(raw: NDArray[np.float64]) -> NDArray[np.float64]:
    """The two-sided Gaussian reading of a z-equivalent score, before any history."""
    return np.asarray(erf(np.maximum(raw, 0.0) / math.sqrt(2.0)), dtype=np.float64)
