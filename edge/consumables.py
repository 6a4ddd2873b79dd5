"""Consumable life at the edge: remaining share and predicted depletion date from usage.

A device reports a usage counter per consumable (run hours, litres, cycles) that
restarts at zero when the part is replaced. The rate of use is fitted by least squares
over the recent counter readings (``scipy.stats.linregress``); the depletion date is
where the fitted line reaches the part's rated life, and the slope's standard error
gives a 90 % interval.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.stats import linregress
from scipy.stats import t as student_t

__all__ = ["RATED_LIFE", "ConsumableEstimate", "ConsumableTracker"]

#: Rated life in the counter's unit; a configuration file can override any entry.
RATED_LIFE: dict[str, float] = {
    "air_filter": 1500.0,  # hours of fan operation
    "sediment_filter": 6000.0,  # litres
    "carbon_filter": 9000.0,
    "ro_membrane": 40000.0,
    "mechanical_seal": 900.0,  # run hours
    "bearing_grease": 400.0,
}


@dataclass(frozen=True, slots=True)
class ConsumableEstimate:
    usage: float
    remaining_fraction: float
    predicted_depletion_at: float | None
    ci: tuple[float, float] | None


class ConsumableTracker:
    def __init__(self, life: float, keep: int = 168) -> None:
        self.life = life
        self.points: deque[tuple[float, float]] = deque(maxlen=keep)

    def update(self, t: float, usage: float, replaced: bool = False) -> ConsumableEstimate:
        if replaced or (self.points and usage < self.points[-1][1]):
            self.points.clear()  # a new part: its counter restarted
        self.points.append((t, usage))
        return self.estimate()

    def estimate(self) -> ConsumableEstimate:
        t_now, usage = self.points[-1]
        remaining = float(np.clip(1.0 - usage / self.life, 0.0, 1.0))
        if len(self.points) < 3:
            return ConsumableEstimate(usage, remaining, None, None)
        t = np.array([p[0] for p in self.points])
        u = np.array([p[1] for p in self.points])
        if np.ptp(t) <= 0 or np.ptp(u) <= 0:
            return ConsumableEstimate(usage, remaining, None, None)
        fit = linregress(t, u)
        if fit.slope <= 0:
            return ConsumableEstimate(usage, remaining, None, None)
        left = max(self.life - usage, 0.0)
        eta = t_now + left / fit.slope
        q = student_t.ppf(0.95, max(len(t) - 2, 1))
        fast, slow = fit.slope + q * fit.stderr, fit.slope - q * fit.stderr
        lo = t_now + left / fast
        hi = t_now + left / slow if slow > 0 else t_now + 10 * (eta - t_now) + 86400.0
        return ConsumableEstimate(usage, remaining, float(eta), (float(lo), float(hi)))
