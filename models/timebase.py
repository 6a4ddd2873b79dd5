"""Memories in time: how much a sample moves an exponential average, given the clock.

Every adaptive statistic in the detectors is an exponential average whose half-life is
stated in *seconds* (so the same defaults mean the same thing at 1 s and at 1 h sampling)
with a floor in *samples* (so a stream sampled hourly still averages over enough points
to be stable). The stream's typical sampling interval is itself tracked, robustly, so the
floor converts to time without anyone configuring it; a gap advances the clock and
forgets accordingly.

    half_life = max(half_life_s, floor_samples x typical interval)
    weight of a sample that comes dt after the previous one = 1 - 2 ** (-dt / half_life)

During warm-up the weight is never below 1 / n (a plain running mean), so the first
estimates are as good as the data allow instead of being pulled towards a prior.
"""

from __future__ import annotations

import math

import numba

__all__ = ["memory_weight", "next_interval"]

# The typical interval follows a tenth of each step's (log) distance, clipped to 4x either
# way, so a gap or a burst barely moves it and a changed sampling rate is learned in ~20 steps.
_INTERVAL_RATE = 0.1


@numba.njit(cache=True, nogil=True)
def next_interval(typical: float, dt: float) -> float:
    """The typical sampling interval after a step of ``dt`` seconds (NaN: none seen yet)."""
    if not dt > 0.0:
        return typical
    if math.isnan(typical):
        return dt
    ratio = min(max(dt / typical, 0.25), 4.0)
    return float(typical * ratio**_INTERVAL_RATE)


@numba.njit(cache=True, nogil=True)
def memory_weight(dt: float, typical: float, half_life_s: float, floor_samples: float, n: float) -> float:
    """Weight of a new sample in an exponential average (at least 1 / (n + 1) while warming)."""
    warm = 1.0 / (n + 1.0)
    if math.isnan(typical) or not dt > 0.0:
        step = typical if typical > 0.0 else 1.0
        dt = step
    else:
        step = typical
    half = max(half_life_s, floor_samples * step)
    w = 1.0 - 2.0 ** (-min(dt, 64.0 * half) / half)
    return float(max(w, warm))

