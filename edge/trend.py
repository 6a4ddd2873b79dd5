"""Trend alerts: the degradation signal's policy, as :class:`~edge.policy.AlertPolicy` is
the surprise signal's.

Slow wear never surprises an adaptive detector; it shows as a health index that falls
and stays low. :class:`TrendPolicy` raises a *trend* alert for it (which the cloud turns
into a preventive work order like any alert) and clears it when health is back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray

from .health import HealthTracker
from .policy import _CLEAR, _NONE, _RAISE, _UPDATE, Severity, Steps, _transitions

__all__ = ["TrendPolicy"]


@dataclass
class TrendPolicy:
    """Alerts from the health index, raised for either of two reasons:

    * **forecast**: health is below ``warn_below`` and the trend through its hourly means
      (:class:`~edge.health.HealthTracker`, Theil–Sen) reaches 0 within ``horizon_s``:
      wear is heading for failure soon, so act now;
    * **low**: health has stayed at or below ``raise_below`` for ``raise_s`` seconds (and at
      least ``persist`` rows), whatever the trend.

    Cleared when health has stayed at or above ``clear_above`` for ``clear_s`` seconds (and
    ``persist`` rows). After a clear, nothing is raised for ``cooldown_s``: wear that hovers
    around the line is one incident, not a new one every day.

    Nothing is raised before the degradation baseline is complete (health means nothing
    until then). Severity follows how low health is: warning, then major below
    ``major_below``, critical below ``critical_below``."""

    raise_below: float = 0.5
    clear_above: float = 0.7
    persist: int = 3
    raise_s: float = 6 * 3600.0
    clear_s: float = 24 * 3600.0
    cooldown_s: float = 3 * 86400.0
    warn_below: float = 0.8
    horizon_s: float = 7 * 86400.0
    major_below: float = 0.3
    critical_below: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.raise_below < self.clear_above <= 1:
            raise ValueError("need 0 <= raise_below < clear_above <= 1")
        self._p = np.array(
            [self.raise_below, self.clear_above, self.persist, self.raise_s, self.clear_s, self.cooldown_s,
             self.warn_below, self.major_below, self.critical_below],
        )  # fmt: skip
        # lowest health since raised, when the current run began, quiet until
        self._f = np.array([1.0, math.nan, -math.inf])
        self._s = np.array([0, int(Severity.WARNING), 0], dtype=np.int64)  # active, severity, run length
        self.tracker = HealthTracker()  # hourly health and its trend: the forecast
        self._judged = 0  # closed buckets when the forecast was last judged
        self._heading_down = False

    @property
    def active(self) -> bool:
        return bool(self._s[_T_ACTIVE])

    @property
    def low(self) -> float:
        return float(self._f[_T_LOW])

    @property
    def severity(self) -> Severity:
        return Severity(int(self._s[_T_SEVERITY]))

    def run(self, t: NDArray[np.float64], health: NDArray[np.float64], ready: NDArray[np.bool_]) -> Steps:
        """Step over rows; ``ready`` marks the rows whose health has a complete baseline behind it."""
        t = np.ascontiguousarray(t, dtype=np.float64)
        health = np.ascontiguousarray(health, dtype=np.float64)
        ready = np.ascontiguousarray(ready, dtype=np.bool_)
        n = len(t)
        heading = self._forecast(t, health, ready)
        kind, sev = np.zeros(n, dtype=np.int8), np.zeros(n, dtype=np.int8)
        score, peak, active = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.bool_)
        _trend_rows(t, health, ready, heading, self._p, self._f, self._s, kind, score, peak, sev, active)
        return Steps(active, _transitions(t, score, kind, peak, sev, "trend"))

    def _forecast(
        self, t: NDArray[np.float64], health: NDArray[np.float64], ready: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """Per row: whether the trend says failure within the horizon. The trend is re-judged
        when an hourly bucket closes (on the first row of the next), so the loop runs once per
        bucket, not per row."""
        heading = np.zeros(len(t), dtype=np.bool_)
        rows = np.flatnonzero(ready)
        tracker = self.tracker
        for a, b in tracker.segments(t[rows]):
            first = float(t[rows[a]])
            tracker.add(first, float(health[rows[a]]))
            if tracker.closed != self._judged:
                self._judged = tracker.closed
                eta = tracker.estimate(first).predicted_failure_at
                self._heading_down = eta is not None and eta - first <= self.horizon_s
            tracker.add_to_open_bucket(health[rows[a + 1 : b]])
            heading[rows[a:b]] = self._heading_down
        return heading


_T_LOW, _T_SINCE, _T_QUIET = range(3)
_T_ACTIVE, _T_SEVERITY, _T_RUN = range(3)


@numba.njit(cache=True, nogil=True)
def _grade_down(health: float, major_below: float, critical_below: float) -> int:
    return 3 if health <= critical_below else 2 if health <= major_below else 1


@numba.njit(cache=True, nogil=True)
def _lasted(
    t: float, condition: bool, seconds: float, persist: float, f: NDArray[np.float64], s: NDArray[np.int64]
) -> bool:
    """Track a run of rows where ``condition`` holds; whether it has lasted long enough."""
    if not condition:
        s[_T_RUN], f[_T_SINCE] = 0, math.nan
        return False
    if s[_T_RUN] == 0:
        f[_T_SINCE] = t
    s[_T_RUN] += 1
    return bool(s[_T_RUN] >= persist and t - f[_T_SINCE] >= seconds)


@numba.njit(cache=True, nogil=True)
def _trend_rows(t, health, ready, heading, p, f, s, kind, score, peak, sev, active):  # type: ignore[no-untyped-def]
    """TrendPolicy over rows (``heading``: the forecast's verdict per row); state in place."""
    raise_below, clear_above, persist, raise_s, clear_s = p[0], p[1], p[2], p[3], p[4]
    cooldown_s, warn_below, major_below, critical_below = p[5], p[6], p[7], p[8]
    for i in range(t.shape[0]):
        kind[i] = _NONE
        ti, hi = t[i], health[i]
        score[i] = 1.0 - hi
        if ready[i]:
            soon = heading[i] and hi <= warn_below
            if s[_T_ACTIVE] == 0:
                low = _lasted(ti, hi <= raise_below and ti >= f[_T_QUIET], raise_s, persist, f, s)
                if low or (soon and ti >= f[_T_QUIET]):
                    s[_T_ACTIVE], f[_T_LOW], s[_T_RUN] = 1, hi, 0
                    s[_T_SEVERITY] = _grade_down(hi, major_below, critical_below)
                    kind[i] = _RAISE
            else:
                f[_T_LOW] = min(f[_T_LOW], hi)
                if _lasted(ti, hi >= clear_above, clear_s, persist, f, s):
                    s[_T_ACTIVE], s[_T_RUN] = 0, 0
                    f[_T_QUIET] = ti + cooldown_s
                    kind[i] = _CLEAR
                else:
                    grade = _grade_down(hi, major_below, critical_below)
                    if grade > s[_T_SEVERITY]:
                        s[_T_SEVERITY] = grade
                        kind[i] = _UPDATE
        peak[i] = 1.0 - hi if kind[i] == _RAISE else 1.0 - f[_T_LOW]
        sev[i] = s[_T_SEVERITY]
        active[i] = s[_T_ACTIVE] == 1
