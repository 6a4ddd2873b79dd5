"""The degradation signal: how far is the device from its own healthy self?

Where the surprise detector (:mod:`models.surprise`) adapts, this one deliberately does
not. It learns a baseline per channel from the device's *early* life (its first day of
data, never fewer than ``min_rows`` rows nor more than ``max_rows``), then freezes it.
From then on each channel's residual from that baseline, in baseline scales, is smoothed
over time (half-life ``smooth_s`` seconds, at least ``smooth_floor`` samples), expressed in
units of its own spread while healthy (never below ``spread_floor`` baseline scales), and
the channels are combined into one *degradation level*: the geometric mean of the two
furthest (see ``_run``). Smoothing over hours averages duty cycles and noise away, so a level that
rises means the machine itself has changed: a bearing wearing, a filter clogging, a
refrigerant charge leaking away, all too slow for the surprise signal to notice.

With operating modes known (:class:`~models.base.ModeReporting`), each mode has its own
baseline, so a compressor's "off" is not a deviation from its "on". The health index is

    health = 1 - (excess - healthy_band) / (failure_excess - healthy_band), clipped to [0, 1]

so 1.0 means "like when it was healthy", and 0 means ``failure_excess`` healthy spreads
away. :meth:`DegradationTracker.reset` starts a new baseline (after a repair or a
replacement, the device's new normal).

Before the baseline is frozen, health is 1.0 and the level is measured against the
baseline as learned so far (the numbers settle once it freezes).

>>> import numpy as np
>>> trk = DegradationTracker(features=["v"])
>>> t = np.arange(3000) * 60.0
>>> x = np.random.default_rng(0).normal(1.0, 0.1, (3000, 1))
>>> x[2000:, 0] += np.linspace(0, 1.5, 1000)  # wear sets in on day 2
>>> health = trk.update(t, x)
>>> bool(health[1500] > 0.9), bool(health[-1] < 0.2)
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from .base import Estimator, as_matrix, read_state, write_state
from .timebase import memory_weight, next_interval

__all__ = ["MAX_MODES", "DegradationTracker"]

# per-(mode, channel) baseline rows
_N, _LOC, _SCALE = range(3)
_BASE_ROWS = 3
# per-channel rows: smoothed residual, its count, healthy mean square of it, its count
_SMOOTH, _SN, _HSQ, _HN = range(4)
_CHAN_ROWS = 4
# device-level state: t_first, t_last, typical interval, frozen (0/1), rows seen
_T0, _TLAST, _TYP, _FROZEN, _ROWS = range(5)
_CLOCK_LEN = 5
_MAD_TO_SIGMA = 1.2533
MAX_MODES = 4


@numba.njit(cache=True, nogil=True)
def _run(
    t: NDArray[np.float64],
    X: NDArray[np.float64],
    modes: NDArray[np.int64],
    base: NDArray[np.float64],
    chan: NDArray[np.float64],
    ck: NDArray[np.float64],
    baseline_s: float,
    min_rows: float,
    max_rows: float,
    smooth_s: float,
    smooth_floor: float,
    spread_floor: float,
    z_clip: float,
    counted: NDArray[np.bool_],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(excess, per-channel excess) after each row: how many healthy spreads the smoothed
    residuals are from the device's own baseline, combined as the geometric mean of the two
    furthest channels: wear moves several channels together (vibration and temperature,
    suction and discharge pressure), while one channel drifting alone is more often the
    environment (the water coming in, the season) than the machine, so it counts for less.
    Measured against the alternatives (largest, mean of two, second-largest) on C-MAPSS and
    the simulated fleet, this caught the most wear for the fewest false trend alerts."""
    n, d = X.shape
    excess = np.full(n, -1.0)  # -1: no baseline yet
    per = np.zeros((n, d))
    for i in range(n):
        ti = t[i]
        m = min(max(modes[i], 0), MAX_MODES - 1)
        if math.isnan(ck[_T0]):
            ck[_T0] = ti
        dt = ti - ck[_TLAST] if not math.isnan(ck[_TLAST]) else math.nan
        frozen = ck[_FROZEN] > 0.5
        settled = ck[_ROWS] > 2.0 * smooth_floor or ck[_ROWS] > 0.5 * min_rows
        for j in range(d):
            x = X[i, j]
            if math.isnan(x):
                continue
            if not frozen:  # running mean and mean absolute deviation of the baseline
                c = base[_N, m, j]
                if c == 0:
                    base[_LOC, m, j] = x
                else:
                    r = x - base[_LOC, m, j]
                    base[_LOC, m, j] += r / (c + 1.0)
                    base[_SCALE, m, j] += (abs(r) * _MAD_TO_SIGMA - base[_SCALE, m, j]) / (c + 1.0)
                base[_N, m, j] = c + 1.0
            if base[_N, m, j] < 5:
                continue
            # never below a millionth of the level: a channel constant in a mode (a stopped
            # fan's 0.08) has no spread, and its baseline may be float32 where the rows are not
            scale = max(base[_SCALE, m, j], 1e-6 * abs(base[_LOC, m, j]), 1e-12)
            z = min(max((x - base[_LOC, m, j]) / scale, -z_clip), z_clip)
            w = memory_weight(dt, ck[_TYP], smooth_s, smooth_floor, chan[_SN, j])
            chan[_SMOOTH, j] += w * (z - chan[_SMOOTH, j])
            chan[_SN, j] += 1.0
            if not frozen and settled:
                chan[_HN, j] += 1.0
                chan[_HSQ, j] += (chan[_SMOOTH, j] ** 2 - chan[_HSQ, j]) / chan[_HN, j]
        ck[_ROWS] += 1.0
        if not frozen:
            old_enough = ti - ck[_T0] >= baseline_s and ck[_ROWS] >= min_rows
            if (old_enough or ck[_ROWS] >= max_rows) and ck[_ROWS] >= 10:
                ck[_FROZEN] = 1.0
        if ck[_FROZEN] > 0.5:
            top1, top2 = 0.0, 0.0
            for j in range(d):
                if chan[_HN, j] < 5:
                    continue
                spread = max(math.sqrt(chan[_HSQ, j]), spread_floor)
                e = abs(chan[_SMOOTH, j]) / spread
                per[i, j] = e
                if not counted[j]:
                    continue  # followed (and named) elsewhere: a consumable's condition
                if e > top1:
                    top1, top2 = e, top1
                elif e > top2:
                    top2 = e
            excess[i] = math.sqrt(top1 * top2) if d > 1 else top1
        if not math.isnan(dt):
            ck[_TYP] = next_interval(ck[_TYP], dt)
        ck[_TLAST] = ti
    return excess, per


class DegradationTracker(Estimator):
    """Distance from the device's frozen early baseline, smoothed in time, as health 0..1."""

    def __init__(
        self,
        features: list[str] | None = None,
        baseline_s: float = 86400.0,
        min_rows: float = 100.0,
        max_rows: float = 1500.0,
        smooth_s: float = 3600.0,
        smooth_floor: float = 10.0,
        healthy_band: float = 3.0,
        failure_excess: float = 15.0,
        spread_floor: float = 0.35,
        z_clip: float = 10.0,
        ignore: tuple[str, ...] = (),
    ) -> None:
        self.features = list(features) if features else []
        self.baseline_s = baseline_s
        self.min_rows = min_rows
        self.max_rows = max_rows
        self.smooth_s = smooth_s
        self.smooth_floor = smooth_floor
        self.healthy_band = healthy_band
        self.failure_excess = failure_excess
        self.spread_floor = spread_floor
        self.z_clip = z_clip
        self.ignore = tuple(ignore)
        self.reset()

    def reset(self) -> None:
        """Forget the baseline: the device was repaired or renewed and has a new normal
        (or its operating modes were found, so the baseline is learned again per mode)."""
        self.base_ = np.zeros((_BASE_ROWS, MAX_MODES, len(self.features)))
        self.chan_ = np.zeros((_CHAN_ROWS, len(self.features)))
        self.clock_ = np.full(_CLOCK_LEN, np.nan)
        self.clock_[[_FROZEN, _ROWS]] = 0.0
        self.last_per_channel_ = np.zeros(len(self.features))

    @property
    def frozen(self) -> bool:
        """Whether the healthy baseline is complete (health means something from then on)."""
        return bool(self.clock_[_FROZEN] > 0.5)

    def add_features(self, names: list[str]) -> None:
        """A channel first seen now gets its own baseline from now on."""
        new = [n for n in names if n not in self.features]
        if new:
            self.features += new
            k = len(new)
            self.base_ = np.concatenate([self.base_, np.zeros((_BASE_ROWS, MAX_MODES, k))], axis=2)
            self.chan_ = np.hstack([self.chan_, np.zeros((_CHAN_ROWS, k))])
            self.last_per_channel_ = np.concatenate([self.last_per_channel_, np.zeros(k)])

    def update(self, t: Any, X: Any, modes: Any = None) -> NDArray[np.float64]:
        """Health (0..1) after each row of ``X`` at times ``t`` (``modes``: each row's
        operating mode, from the detector; all one mode when not given)."""
        return self.health_of(self.update_excess(t, X, modes))

    def update_excess(self, t: Any, X: Any, modes: Any = None) -> NDArray[np.float64]:
        """Excess (healthy spreads from the baseline) after each row; -1 until the baseline is complete."""
        X = np.ascontiguousarray(as_matrix(X))
        if not self.features:
            self.add_features([f"x{i}" for i in range(X.shape[1])])
        if X.shape[1] != len(self.features):
            raise ValueError(f"expected {len(self.features)} columns ({self.features}), got {X.shape[1]}")
        tt = np.ascontiguousarray(np.asarray(t, dtype=np.float64).ravel())
        mm = np.zeros(len(X), dtype=np.int64) if modes is None else np.asarray(modes, dtype=np.int64)
        counted = np.array([f not in self.ignore for f in self.features], dtype=np.bool_)
        excess, per = _run(
            tt, X, np.ascontiguousarray(mm), self.base_, self.chan_, self.clock_,
            float(self.baseline_s), float(self.min_rows), float(self.max_rows), float(self.smooth_s),
            float(self.smooth_floor), float(self.spread_floor), float(self.z_clip), counted,
        )  # fmt: skip
        if len(per):
            self.last_per_channel_ = per[-1]
        return np.asarray(excess, dtype=np.float64)

    def health_of(self, excess: NDArray[np.float64]) -> NDArray[np.float64]:
        """Health of each excess; 1.0 where there is no baseline yet (excess -1)."""
        band, fail = self.healthy_band, self.failure_excess
        return np.clip(1.0 - (np.maximum(excess, 0.0) - band) / (fail - band), 0.0, 1.0)

    def drivers(self, top: int = 2) -> list[str]:
        """The channels furthest from their baseline now (what a trend alert names)."""
        s = np.nan_to_num(self.last_per_channel_)
        s = np.where([f in self.ignore for f in self.features], 0.0, s) if len(s) else s
        if not len(s) or s.max() == 0:
            return []
        order = np.argsort(-s)[:top]
        return [self.features[i] for i in order if s[i] >= 0.5 * s.max()]

    # -- checkpoints ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        arrays = {"base": self.base_, "chan": self.chan_, "clock": self.clock_}
        return write_state("degradation", 1, self.features, arrays)

    def restore(self, s: Mapping[str, Any]) -> None:
        shapes = {"base": (_BASE_ROWS, MAX_MODES, -1), "chan": (_CHAN_ROWS, -1), "clock": (_CLOCK_LEN,)}
        self.features, arrays = read_state(s, "degradation", 1, shapes)
        self.base_, self.chan_, self.clock_ = arrays["base"], arrays["chan"], arrays["clock"]
        self.last_per_channel_ = np.zeros(len(self.features))
