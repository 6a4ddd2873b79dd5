"""Device health and its trend: where is the health index heading, and when does it reach 0?

The pipeline's health index (0..1, from :mod:`models.degradation`) is averaged per bucket
(an hour by default). A Theil–Sen line through the recent buckets' *wear* (1 - health;
robust to the odd bucket) extrapolates when wear reaches ``failure_level`` (1: health 0);
the slope's confidence interval gives the interval of that time.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.stats import theilslopes

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

    def add(self, t: float, health: float) -> None:
        """One row's health index (0..1)."""
        wear = 1.0 - health
        start = math.floor(t / self.bucket_s) * self.bucket_s
        if self._current is not None and start != self._current and self._n:
            self.buckets.append((self._current, self._sum / self._n))
            self._sum, self._n = 0.0, 0
        self._current = start
        if math.isfinite(wear):
            self._sum += wear
            self._n += 1

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
        slope, intercept, low, high = theilslopes(y, t, alpha=0.90)
        if slope <= 0:
            return HealthEstimate(health)
        fitted_now = intercept + slope * now
        remaining = max(self.failure_level - fitted_now, 0.0)
        eta = now + remaining / slope
        lo = now + remaining / high if high > 0 else eta
        hi = now + remaining / low if low > 0 else now + 10 * (eta - now) + self.bucket_s
        at, ci = bounded(now, float(eta), (float(min(lo, eta)), float(max(hi, eta))))
        return HealthEstimate(health, at, ci)
