"""Consumable life at the edge: remaining share and predicted depletion date.

Two views of the same part, and the more worn one wins:

* **usage**: the device reports a counter (run hours, litres, cycles) that restarts at
  zero when the part is replaced. The rate of use is fitted by least squares over the
  recent readings (``scipy.stats.linregress``); depletion is where the line reaches the
  rated life, and the slope's standard error gives a 90 % interval.
* **condition**, where the part has a telltale channel (a filter's pressure drop): the
  hourly peak of that channel is placed between the part's clean and end-of-life values
  from its datasheet, and its trend extrapolated the same way. A filter on dusty air
  clogs long before its rated hours; this is how that shows.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from pydantic import ConfigDict

from .forecast import bounded

__all__ = [
    "CONDITION",
    "CONDITION_CHANNELS",
    "condition_channels",
    "RATED_LIFE",
    "ConsumableEstimate",
    "ConsumableTracker",
    "Condition",
]

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
class Condition:
    """The channel that shows a part's wear, and its value when clean and when worn out."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # a misspelt key in the config file is an error

    channel: str
    clean: float
    worn: float

    def __post_init__(self) -> None:
        if self.clean == self.worn:
            raise ValueError("clean and worn must differ")  # the wear scale would be zero wide


#: Datasheet condition limits; AgentSettings.condition can override any entry.
CONDITION: dict[str, Condition] = {
    "air_filter": Condition("filter_dp", 0.06, 0.28),  # kPa across the filter, fan running
    "sediment_filter": Condition("filter_dp", 6.0, 50.0),  # kPa at nominal flow
}


#: Channels that measure a consumable's condition: its tracker follows them, and the health
#: index leaves them out (a clogging filter is a reminder to change it, not a sick machine).
def condition_channels(condition: dict[str, Condition]) -> tuple[str, ...]:
    """The channels that measure some consumable's condition, in a stable order."""
    return tuple(sorted({c.channel for c in condition.values()}))


CONDITION_CHANNELS = condition_channels(CONDITION)

_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class ConsumableEstimate:
    usage: float
    remaining_fraction: float
    predicted_depletion_at: float | None
    ci: tuple[float, float] | None


def _eta(points: deque[tuple[float, float]], target: float) -> tuple[float, tuple[float, float]] | None:
    """When the least-squares line through ``points`` reaches ``target``, with a 90 % interval."""
    if len(points) < 3:
        return None
    t = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    if np.ptp(t) <= 0 or np.ptp(y) <= 0:
        return None
    from scipy.stats import linregress  # here: scipy.stats costs 0.7 s to import, which
    from scipy.stats import t as student_t  # prognos detect (no consumables) should not pay

    fit = linregress(t, y)
    if fit.slope <= 0:
        return None
    t_now, y_now = t[-1], float(fit.intercept + fit.slope * t[-1])
    left = max(target - y_now, 0.0)
    eta = t_now + left / fit.slope
    q = student_t.ppf(0.95, max(len(t) - 2, 1))
    fast, slow = fit.slope + q * fit.stderr, fit.slope - q * fit.stderr
    lo = t_now + left / fast
    hi = t_now + left / slow if slow > 0 else t_now + 10 * (eta - t_now) + 86400.0
    return float(eta), (float(lo), float(hi))


class ConsumableTracker:
    def __init__(self, life: float, condition: Condition | None = None, keep: int = 168) -> None:
        self.life = life
        self.condition = condition
        self.points: deque[tuple[float, float]] = deque(maxlen=keep)
        self.health: deque[tuple[float, float]] = deque(maxlen=keep)  # (hour, peak condition value)
        self._hour: float | None = None
        self._peak = -np.inf

    def update(self, t: float, usage: float, replaced: bool = False) -> ConsumableEstimate:
        if replaced or (self.points and usage < self.points[-1][1]):
            self.points.clear()  # a new part: its counter restarted, its condition too
            self.health.clear()
            self._hour, self._peak = None, -np.inf
        self.points.append((t, usage))
        return self.estimate()

    def observe(self, t: float, value: float) -> None:
        """A reading of the condition channel; kept as hourly peaks (the part under load)."""
        if not np.isfinite(value):
            return
        hour = np.floor(t / _HOUR) * _HOUR
        if self._hour is not None and hour != self._hour and np.isfinite(self._peak):
            self.health.append((self._hour + _HOUR / 2, self._peak))
            self._peak = -np.inf
        self._hour = hour
        self._peak = max(self._peak, value)

    def estimate(self) -> ConsumableEstimate:
        usage = self.points[-1][1]
        remaining = float(np.clip(1.0 - usage / self.life, 0.0, 1.0))
        by_usage = _eta(self.points, self.life)
        eta, ci = by_usage if by_usage else (None, None)
        if self.condition is not None and len(self.health) >= 3:
            c = self.condition
            level = float(np.median([v for _, v in list(self.health)[-3:]]))
            worn = float(np.clip((level - c.clean) / (c.worn - c.clean), 0.0, 1.0))
            remaining = min(remaining, 1.0 - worn)
            by_condition = _eta(self.health, c.worn)
            if by_condition is not None and (eta is None or by_condition[0] < eta):
                eta, ci = by_condition
        eta, ci = bounded(self.points[-1][0], eta, ci)
        return ConsumableEstimate(usage, remaining, eta, ci)
