"""The default detector's surprise signal: how unexpected is this row, given recent behaviour?

Each channel is compared with an exponentially weighted, outlier-clipped (Huber-style)
location and scale whose memory is stated in time (:mod:`models.timebase`): half-life
``half_life_s`` seconds, never fewer than ``floor_samples`` samples. The row's raw score
is the largest |z| over its channels (NaN channels are neither scored nor learned).

A second, fast baseline (half-life ``fast_half_life_s``, at least ``fast_floor`` samples)
gives the recent context: a row far from the last few minutes, though inside the range
the slow baseline has seen (telemetry that jumps between commanded levels), also scores,
at ``fast_factor`` of its |z| (its scale is never taken below ``fast_scale_min`` of the
slow one, so a quiet minute does not make every wiggle a surprise). On NASA's MSL channels
this raised the event score from 30.4 to 34.6 for 0.004 more false alerts per device-day
on the simulated fleet.

What makes it a *surprise* and not a distance from a fixed baseline is that it always
learns, every row, with the residual clipped at ``clip`` scales: a spike barely moves the
baseline (a short peak in the score), while a lasting level shift or a new regime is
absorbed at a bounded rate and the score falls back once the new behaviour is normal.
Learning does not depend on the score, so a detector that stops adapting (and an alert
that never clears) cannot happen. Slow wear, which such a baseline follows, is the job of
the degradation signal (:mod:`models.degradation`).

The whole recursion runs row by row in one compiled loop, so scoring a file in one call
gives exactly the scores of feeding it one row at a time (score, then learn).

>>> import numpy as np
>>> det = SurpriseDetector(features=["a"])
>>> rng = np.random.default_rng(0)
>>> t = np.arange(600.0)
>>> X = rng.normal(10, 1, (600, 1)); X[500] = 20.0
>>> raw = det.score_learn_many(t, X)
>>> bool(raw[500] > 8 > raw[501:].max())
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from .base import BatchDetector, Matrix, as_matrix, read_state, write_state
from .timebase import memory_weight, next_interval

__all__ = ["SurpriseDetector"]

_MAD_TO_SIGMA = 1.2533  # E|x - mu| = 0.798 sigma for a Gaussian
# rows of the per-channel state
_N, _LOC, _SCALE, _STEP, _LAST, _FLOC, _FSCALE = range(7)
_STATE_ROWS = 7
_WARMUP = 10  # observations of a channel before it is scored


@numba.njit(cache=True, nogil=True)
def _run(
    t: NDArray[np.float64],
    X: NDArray[np.float64],
    state: NDArray[np.float64],
    clock: NDArray[np.float64],
    half_life_s: float,
    floor_samples: float,
    clip: float,
    hot_z: float,
    hot_factor: float,
    fast_half_life_s: float,
    fast_floor: float,
    fast_factor: float,
    fast_scale_min: float,
    learn: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Score each row against the state before it, then (``learn``) fold it in."""
    n, d = X.shape
    raw = np.zeros(n)
    comp = np.full((n, d), np.nan)
    t_last, typical, hot_since = clock[0], clock[1], clock[2]
    for i in range(n):
        dt = t[i] - t_last if not math.isnan(t_last) else math.nan
        best = 0.0
        for j in range(d):
            x = X[i, j]
            if math.isnan(x) or state[_N, j] < _WARMUP:
                continue
            floor = max(0.5 * state[_STEP, j], 1e-6 * abs(state[_LOC, j]), 1e-12)
            z = abs(x - state[_LOC, j]) / max(state[_SCALE, j], floor)
            if fast_factor > 0.0:  # against the recent context: a change the slow baseline spans
                fast_scale = max(state[_FSCALE, j], state[_SCALE, j] * fast_scale_min, floor)
                z = max(z, fast_factor * abs(x - state[_FLOC, j]) / fast_scale)
            comp[i, j] = z
            if z > best:
                best = z
        raw[i] = best
        # A surprising row is learned at a fraction of the usual weight for one half-life
        # from the start of the surprise: a fault is not absorbed in the minutes it takes to
        # see it, yet a lasting change is learned at full weight after that, so nothing
        # stays surprising for ever.
        slow = 1.0
        if best > hot_z:
            if math.isnan(hot_since):
                hot_since = t[i]
            step = typical if typical > 0.0 else 1.0
            if t[i] - hot_since < max(half_life_s, floor_samples * step):
                slow = hot_factor
        else:
            hot_since = math.nan
        for j in range(d):
            x = X[i, j]
            if math.isnan(x) or not learn:
                continue
            cnt = state[_N, j]
            w = slow * memory_weight(dt, typical, half_life_s, floor_samples, cnt)
            if cnt == 0:
                state[_LOC, j] = x
                state[_SCALE, j] = 0.0
                state[_FLOC, j] = x
                state[_FSCALE, j] = 0.0
            else:
                r = x - state[_LOC, j]
                if cnt >= _WARMUP:
                    bound = clip * max(state[_SCALE, j], 1e-12)
                    r = min(max(r, -bound), bound)
                state[_LOC, j] += w * r
                state[_SCALE, j] = (1.0 - w) * state[_SCALE, j] + w * abs(r) * _MAD_TO_SIGMA
                wf = memory_weight(dt, typical, fast_half_life_s, fast_floor, cnt)
                rf = x - state[_FLOC, j]
                if cnt >= _WARMUP:
                    bf = clip * max(state[_FSCALE, j], state[_SCALE, j] * fast_scale_min, 1e-12)
                    rf = min(max(rf, -bf), bf)
                state[_FLOC, j] += wf * rf
                state[_FSCALE, j] = (1.0 - wf) * state[_FSCALE, j] + wf * abs(rf) * _MAD_TO_SIGMA
                step = abs(x - state[_LAST, j])
                if step > 0.0 and (state[_STEP, j] == 0.0 or step < state[_STEP, j]):
                    state[_STEP, j] = step
            state[_LAST, j] = x
            state[_N, j] = cnt + 1.0
        if learn:
            if not math.isnan(dt):
                typical = next_interval(typical, dt)
            t_last = t[i]
    if learn:
        clock[0], clock[1], clock[2] = t_last, typical, hot_since
    return raw, comp


class SurpriseDetector(BatchDetector):
    """Adaptive robust residuals per channel, memory in time; see the module docstring."""

    def __init__(
        self,
        features: list[str] | None = None,
        half_life_s: float = 1800.0,
        floor_samples: float = 100.0,
        clip: float = 3.0,
        hot_z: float = 4.0,
        hot_factor: float = 0.02,
        fast_half_life_s: float = 120.0,
        fast_floor: float = 20.0,
        fast_factor: float = 0.5,
        fast_scale_min: float = 0.25,
    ) -> None:
        self.features = list(features) if features else []
        self.half_life_s = half_life_s
        self.floor_samples = floor_samples
        self.clip = clip
        self.hot_z = hot_z
        self.hot_factor = hot_factor
        self.fast_half_life_s = fast_half_life_s
        self.fast_floor = fast_floor
        self.fast_factor = fast_factor
        self.fast_scale_min = fast_scale_min
        self.state_ = _empty_state(len(self.features))
        self.clock_ = np.array([math.nan, math.nan, math.nan])  # last time, typical step, surprise since

    @property
    def loc_(self) -> NDArray[np.float64]:
        """Each channel's current location (its baseline level)."""
        return np.asarray(self.state_[_LOC], dtype=np.float64)

    @property
    def scale_(self) -> NDArray[np.float64]:
        """Each channel's current scale, never below its resolution floor."""
        floor = np.maximum(np.maximum(0.5 * self.state_[_STEP], 1e-6 * np.abs(self.state_[_LOC])), 1e-12)
        return np.asarray(np.maximum(self.state_[_SCALE], floor), dtype=np.float64)

    # -- timed path: what the pipeline uses --------------------------------------------
    def score_learn_many(self, t: Any, X: Any) -> NDArray[np.float64]:
        """Raw scores of ``X`` (rows at times ``t``), each against the state before it; learns all."""
        X = self._check(X)
        raw, _ = _run(_times(t, len(X)), X, self.state_, self.clock_, *self._params(), True)
        return raw

    def channel_scores(self, X: Any) -> Matrix:
        """Per-channel |z| against the current state (NaN: unobserved or warming up)."""
        X = self._check(X)
        _, comp = _run(np.full(len(X), math.nan), X, self.state_.copy(), self.clock_.copy(),
                       *self._params(), False)
        return comp

    # -- the Detector protocol ------------------------------------------------------------
    def score_many(self, X: Any) -> NDArray[np.float64]:
        X = self._check(X)
        raw, _ = _run(np.full(len(X), math.nan), X, self.state_.copy(), self.clock_.copy(),
                      *self._params(), False)
        return raw

    def learn_many(self, X: Any, where: NDArray[np.bool_] | None = None) -> None:
        X = self._check(X)
        rows = X if where is None else X[np.asarray(where, dtype=bool)]
        # Rows without times: one interval apart, continuing the clock.
        step = self.clock_[1] if self.clock_[1] > 0 else 1.0
        start = self.clock_[0] + step if not math.isnan(self.clock_[0]) else 0.0
        t = np.asarray(start + step * np.arange(len(rows)), dtype=np.float64)
        _run(t, rows, self.state_, self.clock_, *self._params(), True)

    def add_features(self, names: list[str]) -> None:
        new = [n for n in names if n not in self.features]
        if new:
            self.features += new
            self.state_ = np.hstack([self.state_, _empty_state(len(new))])

    # -- checkpoints ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return write_state("surprise", 1, self.features, {"state": self.state_, "clock": self.clock_})

    def restore(self, s: Mapping[str, Any]) -> None:
        shapes = {"state": (_STATE_ROWS, -1), "clock": (3,)}
        self.features, arrays = read_state(s, "surprise", 1, shapes)
        self.state_, self.clock_ = arrays["state"], arrays["clock"]

    # -- internals --------------------------------------------------------------------------
    def _params(self) -> tuple[float, float, float, float, float, float, float, float, float]:
        p = (self.half_life_s, self.floor_samples, self.clip, self.hot_z, self.hot_factor,
             self.fast_half_life_s, self.fast_floor, self.fast_factor, self.fast_scale_min)
        return tuple(float(v) for v in p)  # type: ignore[return-value]

    def _check(self, X: Any) -> Matrix:
        X = np.ascontiguousarray(as_matrix(X))
        if not self.features:
            self.features = [f"x{i}" for i in range(X.shape[1])]
            self.state_ = _empty_state(X.shape[1])
        if X.shape[1] != len(self.features):
            raise ValueError(f"expected {len(self.features)} columns ({self.features}), got {X.shape[1]}")
        return np.asarray(X, dtype=np.float64)


def _empty_state(d: int) -> NDArray[np.float64]:
    s = np.zeros((_STATE_ROWS, d))
    s[_LAST] = np.nan
    return s


def _times(t: Any, n: int) -> NDArray[np.float64]:
    arr = np.ascontiguousarray(np.asarray(t, dtype=np.float64).ravel())
    if len(arr) != n:
        raise ValueError(f"{len(arr)} timestamps for {n} rows")
    return arr
