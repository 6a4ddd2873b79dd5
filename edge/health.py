"""Device health and its trend: where is the health index heading, and when does it reach 0?

The pipeline's health index (0..1, from :mod:`models.degradation`) is averaged per bucket
(an hour by default). A Theil–Sen line through the recent buckets' *wear* (1 - health;
robust to the odd bucket) extrapolates when wear reaches ``failure_level`` (1: health 0);
the slope's confidence interval gives the interval of that time.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .forecast import bounded

__all__ = ["HealthEstimate", "HealthTracker"]


@dataclass(frozen=True, slots=True)
class HealthEstimate:
    health: float
    predicted_failure_at: float | None = None
    ci: tuple[float, float] | None = None


class HealthTracker:
    def __init__(
        self, bucket_s: float = 3600.0, keep: int = 96, failure_level: float = 1.0, min_buckets: int = 6
    ) -> None:
        self.bucket_s = bucket_s
        self.failure_level = failure_level
        self.min_buckets = min_buckets
        self.buckets: deque[tuple[float, float]] = deque(maxlen=keep)  # (bucket start, mean wear)
        self._current: float | None = None
        self._sum = 0.0
        self._n = 0
        self.closed = 0  # buckets closed so far (``buckets`` stops growing at ``keep``)

    def add(self, t: float, health: float) -> None:
        """One row's health index (0..1)."""
        wear = 1.0 - health
        start = math.floor(t / self.bucket_s) * self.bucket_s
        if self._current is not None and start != self._current and self._n:
            self.buckets.append((self._current, self._sum / self._n))
            self.closed += 1
            self._sum, self._n = 0.0, 0
        self._current = start
        if math.isfinite(wear):
            self._sum += wear
            self._n += 1

    def segments(self, t: NDArray[np.float64]) -> list[tuple[int, int]]:
        """(start, end) of each run of rows that fall in the same bucket."""
        if len(t) <= 1:
            return [(0, len(t))] if len(t) else []
        starts = np.floor(t / self.bucket_s)
        return list(itertools.pairwise([0, *(np.flatnonzero(np.diff(starts)) + 1).tolist(), len(t)]))

    def add_many(self, t: NDArray[np.float64], health: NDArray[np.float64]) -> None:
        """Rows of health in time order: :meth:`add` row by row, one pass per bucket."""
        for a, b in self.segments(t):
            self.add(float(t[a]), float(health[a]))  # closes the previous bucket if this is a new one
            self.add_to_open_bucket(health[a + 1 : b])

    def add_to_open_bucket(self, health: NDArray[np.float64]) -> None:
        """Rows known to fall in the bucket the last :meth:`add` opened."""
        wear = 1.0 - health
        finite = wear[np.isfinite(wear)]
        self._sum += float(finite.sum())
        self._n += len(finite)

    def estimate(self, now: float) -> HealthEstimate:
        points = list(self.buckets)
        if self._n:
            points.append((self._current or now, self._sum / self._n))
        if not points:
            return HealthEstimate(1.0)
        level = points[-1][1]
        health = float(np.clip(1.0 - level / self.failure_level, 0.0, 1.0))
        if len(points) < self.min_buckets:
            return HealthEstimate(health)
        t = np.array([p[0] for p in points]) + self.bucket_s / 2
        y = np.array([p[1] for p in points])
        slope, intercept, low, high = _theil_sen(t, y)
        if slope <= 0:
            return HealthEstimate(health)
        fitted_now = intercept + slope * now
        remaining = max(self.failure_level - fitted_now, 0.0)
        eta = now + remaining / slope
        lo = now + remaining / high if high > 0 else eta
        hi = now + remaining / low if low > 0 else now + 10 * (eta - now) + self.bucket_s
        at, ci = bounded(now, float(eta), (float(min(lo, eta)), float(max(hi, eta))))
        return HealthEstimate(health, at, ci)


# Two-sided 90 % interval of the slope: the normal quantile at 5 %.
_Z_05 = -1.6448536269514722


def _ties_and_median(v: NDArray[np.float64]) -> tuple[float, float]:
    """(sum k(k-1)(2k+5) over groups of k equal values, median): Sen's correction for ties,
    and the median, from one sort."""
    v = np.sort(v)
    edges = np.flatnonzero(np.diff(v)) + 1
    k = np.diff(np.concatenate(([0], edges, [len(v)]))).astype(np.float64)
    n = len(v)
    return float((k * (k - 1) * (2 * k + 5)).sum()), 0.5 * float(v[(n - 1) // 2] + v[n // 2])


@functools.cache
def _pairs(n: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    return np.triu_indices(n, 1)


def _theil_sen(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float, float, float]:
    """Theil–Sen line through (x, y) with Sen's (1968) 90 % interval of the slope:
    (slope, intercept, low slope, high slope). The median of the pairwise slopes; the
    intercept through the medians. The trend is re-judged every hour of data (a million-row
    file has thousands of hours), so this is the few numpy calls scipy's version wraps in
    checks and conversions, with each sort done once."""
    n = len(x)
    i, j = _pairs(n)
    dx = x[j] - x[i]
    pairs = dx != 0
    slopes = np.sort((y[j] - y[i])[pairs] / dx[pairs])
    m = len(slopes)
    if m == 0:
        return math.nan, math.nan, math.nan, math.nan
    ties_x, median_x = _ties_and_median(x)
    ties_y, median_y = _ties_and_median(y)
    sigma = math.sqrt((n * (n - 1) * (2 * n + 5) - ties_x - ties_y) / 18.0)
    upper = min(int(round((m - _Z_05 * sigma) / 2.0)), m - 1)
    lower = max(int(round((m + _Z_05 * sigma) / 2.0)) - 1, 0)
    slope = 0.5 * float(slopes[(m - 1) // 2] + slopes[m // 2])
    return slope, median_y - slope * median_x, float(slopes[lower]), float(slopes[upper])
