"""Operating modes: one robust baseline per way the machine normally runs.

Duty-cycled equipment (a compressor cycling on a thermostat, a purifier pump running in
bursts, a pump stopped at night) has several normal states whose readings differ by
far more than the noise in any one of them. A single baseline then either alarms at
every start/stop or is so wide that a fault hides in it.

:class:`ModalDetector` starts as one :class:`~models.robust.RobustDetector`. After
``discover_after`` samples (a day of minute data: long enough to see a daily cycle) it
clusters them (k-means on robustly standardised channels) and keeps a clustering only
when its modes are clearly apart: some channel's centroids differ by more than
``separation`` within-mode spreads, and each mode holds at least ``min_share`` of the
samples. If not, it looks again at 2x, 4x... up to 16x the history, using only rows
judged normal. It then trains one detector per mode on that mode's samples and routes
every later sample to its nearest mode. Streams without such modes (SKAB's test rig,
short files) keep the single detector, unchanged.

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> on = rng.uniform(size=(2000, 1)) < 0.4
>>> X = np.where(on, rng.normal(12.0, 0.3, (2000, 1)), rng.normal(0.2, 0.05, (2000, 1)))
>>> det = ModalDetector(features=["current"])
>>> det.learn_many(X)
>>> det.n_modes
2
>>> [round(float(s), 1) for s in det.score_many(np.array([[12.1], [0.21], [6.0]]))]
[0.3, 0.2, 114.9]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .base import BatchDetector, Matrix, as_matrix
from .robust import RobustDetector

__all__ = ["ModalDetector"]


class ModalDetector(BatchDetector):
    _MAX_BUFFER = 4000  # rows kept for clustering (float32: 16 KB per channel per device)

    def __init__(
        self,
        features: list[str] | None = None,
        modes: int = 3,
        discover_after: int = 1440,
        separation: float = 6.0,
        min_share: float = 0.05,
        seed: int = 0,
        restarts: int = 4,
        settle_band: float = 1.0,
        settle_max: int = 240,
    ) -> None:
        self.features = list(features) if features else []
        self.modes = modes
        self.discover_after = discover_after
        self.separation = separation
        self.min_share = min_share
        self.seed = seed
        self.restarts = restarts
        self.settle_band = settle_band
        self.settle_max = settle_max
        self.detectors_: list[Any] = [self._new_member(self.features)]
        self.centroids_: Matrix | None = None  # modes x channels, raw units
        self.spread_: NDArray[np.float64] | None = None  # per-channel scale for the distance
        self.searched_ = False
        self.generation_ = 0
        self._next_discovery = discover_after
        self._buffer: list[Matrix] = []
        self._buffered = 0
        self._switch = _Switch.start(len(self.features))
        self._plan_memo: tuple[Any, ...] | None = None
        # the rows the modes were found in, with their modes (for a per-mode health baseline)
        self.discovered_from_: tuple[Matrix, NDArray[np.float64] | None, NDArray[np.intp]] | None = None

    @property
    def n_modes(self) -> int:
        return len(self.detectors_)

    # -- protocol -----------------------------------------------------------------------
    def score_many(self, X: Any) -> NDArray[np.float64]:
        X = self._check(X)
        mode, settle, _ = self._plan(X)
        steady = np.where(np.isnan(settle), X, np.nan)
        out = np.zeros(len(X))
        for m, idx in _groups(mode):
            out[idx] = self.detectors_[m].score_many(steady[idx])
        with np.errstate(all="ignore"):
            settling = np.nanmax(np.where(np.isnan(settle), -np.inf, settle), axis=1) if len(X) else out
        return np.fmax(out, np.where(np.isfinite(settling), settling, 0.0))

    def channel_scores(self, X: Any) -> Matrix:
        X = self._check(X)
        mode, settle, _ = self._plan(X)
        steady = np.where(np.isnan(settle), X, np.nan)
        out = np.full(X.shape, np.nan)
        for m, idx in _groups(mode):
            out[idx] = self.detectors_[m].channel_scores(steady[idx])
        return np.where(np.isnan(settle), out, settle)

    def learn_many(self, X: Any, where: NDArray[np.bool_] | None = None) -> None:
        X = self._check(X)
        keep = np.ones(len(X), dtype=bool) if where is None else np.asarray(where, dtype=bool)
        mode, settle, self._switch = self._plan(X)
        self._plan_memo = None
        steady = np.where(np.isnan(settle), X, np.nan)  # settling channels are not learned
        for m, idx in _groups(mode):
            self.detectors_[m].learn_many(steady[idx], where=keep[idx])
        if self.centroids_ is None and self.modes > 1 and not self.searched_:
            # The first search clusters every observed row: before modes are known the
            # single baseline flags the rarer mode, and clustering must still see it.
            # Later searches use only rows judged normal, so a fault that develops in the
            # meantime cannot become a "mode" of its own.
            first = self._next_discovery == self.discover_after
            rows = (X if first else X[keep]).astype(np.float32)
            self._buffer.append(rows)
            self._buffered += len(rows)
            if self._buffered >= self._next_discovery:
                data = np.vstack(self._buffer)[-self._MAX_BUFFER :]
                self._buffer, self._buffered = [data], len(data)
                self._discover(data.astype(np.float64))

    def add_features(self, names: list[str]) -> None:
        if not names:
            return
        self.features += [n for n in names if n not in self.features]
        for det in self.detectors_:
            det.add_features(names)
        self._switch = self._switch.grown(len(self.features))
        if self.centroids_ is not None and self.spread_ is not None:
            extra = len(self.features) - self.centroids_.shape[1]
            self.centroids_ = np.hstack([self.centroids_, np.full((len(self.centroids_), extra), np.nan)])
            self.spread_ = np.concatenate([self.spread_, np.ones(extra)])
        self._buffer = [np.hstack([b, np.full((len(b), len(names)), np.nan)]) for b in self._buffer]

    # -- modes ---------------------------------------------------------------------------
    def _check(self, X: Any) -> Matrix:
        X = as_matrix(X)
        if not self.features:
            self.features = [f"x{i}" for i in range(X.shape[1])]
            self.detectors_ = [self._new_member(self.features)]
            self._switch = _Switch.start(X.shape[1])
        if X.shape[1] != len(self.features):
            raise ValueError(f"expected {len(self.features)} columns ({self.features}), got {X.shape[1]}")
        return np.asarray(X, dtype=np.float64)

    def _plan(self, X: Matrix) -> tuple[NDArray[np.intp], Matrix, _Switch]:
        """Modes and settling of a batch. The pipeline scores a batch and then learns the
        same batch with nothing learned in between, so the plan is kept for that second call."""
        memo = self._plan_memo
        if memo is not None and memo[0] is self._switch and np.array_equal(memo[1], X, equal_nan=True):
            return memo[2], memo[3], memo[4]
        mode = self._modes(X)
        settle, after = self._settling(X, mode)
        self._plan_memo = (self._switch, X.copy(), mode, settle, after)
        return mode, settle, after

    def _modes(self, X: Matrix) -> NDArray[np.intp]:
        """The nearest mode of every row (all 0 while there is one mode)."""
        if self.centroids_ is None or self.spread_ is None or len(X) == 0:
            return np.zeros(len(X), dtype=np.intp)
        diff = (X[:, None, :] - self.centroids_[None, :, :]) / self.spread_
        return np.asarray(np.argmin(np.nansum(np.square(diff), axis=2), axis=1), dtype=np.intp)

    def _settling(self, X: Matrix, mode: NDArray[np.intp]) -> tuple[Matrix, _Switch]:
        """z of settling channels (NaN elsewhere), and the switch state after the batch."""
        n, d = X.shape
        z = np.full((n, d), np.nan)
        sw = self._switch
        if self.centroids_ is None or n == 0:
            return z, sw
        edges = np.concatenate([[0], np.flatnonzero(np.diff(mode)) + 1, [n]])
        current, source, settling, age = sw.mode, sw.source, sw.settling, sw.age
        for a, b in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
            m = int(mode[a])
            if m != current:
                source = current  # -1 before the first row: nothing to settle from
                settling = np.full(d, source >= 0)
                current, age = m, 0
            if source >= 0 and settling.any():
                src, dst = self.detectors_[source], self.detectors_[m]
                seg = X[a:b]
                reached = np.logical_or.accumulate(np.abs(seg - dst.loc_) <= self.settle_band * dst.scale_)
                young = (age + np.arange(b - a) < self.settle_max)[:, None]
                still = settling & ~reached & young
                lo, hi = np.minimum(src.loc_, dst.loc_), np.maximum(src.loc_, dst.loc_)
                outside = np.maximum(np.maximum(lo - seg, seg - hi), 0.0)
                z[a:b] = np.where(still, outside / np.maximum(src.scale_, dst.scale_), np.nan)
                settling = still[-1]
            age += b - a
        return z, _Switch(current, source, settling, age)

    def _new_member(self, features: list[str]) -> Any:
        """A fresh per-mode detector (subclasses choose another kind)."""
        return RobustDetector(features=features)

    def _train_member(self, member: Any, data: Matrix, times: NDArray[np.float64] | None) -> None:
        member.learn_many(data)

    def _discover(self, data: Matrix, times: NDArray[np.float64] | None = None) -> None:
        med = np.nanmedian(data, axis=0)
        spread = np.nanmedian(np.abs(data - med), axis=0) * 1.4826
        spread = np.where(spread > 0, spread, np.nanstd(data, axis=0))
        spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
        filled = np.where(np.isnan(data), med, data) / spread
        from scipy.cluster.vq import kmeans2  # here: only a device that searches pays its import

        rng = np.random.default_rng(self.seed)
        best: tuple[Matrix, NDArray[np.int32]] | None = None
        for k in range(2, self.modes + 1):
            for _ in range(self.restarts):  # k-means++ depends on its seeds: try a few
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    # k-means++ on rows with repeated values can leave a cluster empty; that
                    # seed is then judged (and refused) like any other by _acceptable
                    warnings.simplefilter("ignore")
                    centres, labels = kmeans2(filled, k, minit="++", seed=rng)
                if self._acceptable(filled, centres, labels, k):
                    best = (centres, labels)
                    break
        if best is None:
            # One mode so far. The first hours may not show every way the machine runs
            # (a night of standby), so look again with twice the history, a few times.
            self._next_discovery *= 2
            self.searched_ = self._next_discovery > 16 * self.discover_after
            return
        centres, labels = best
        self.generation_ += 1  # scores change scale: a calibrator built on the old ones is stale
        self.searched_ = True
        self._switch = _Switch.start(len(self.features))
        self._buffer, self._buffered = [], 0
        self.spread_ = spread
        self.centroids_ = centres * spread
        self.detectors_ = []
        for m in range(len(centres)):
            det = self._new_member(list(self.features))
            self._train_member(det, data[labels == m], None if times is None else times[labels == m])
            self.detectors_.append(det)
        self.discovered_from_ = (data, times, labels.astype(np.intp))

    def _acceptable(self, filled: Matrix, centres: Matrix, labels: NDArray[np.int32], k: int) -> bool:
        shares = np.bincount(labels, minlength=k) / len(labels)
        if shares.min() < self.min_share:
            return False
        within = np.array(
            [
                np.median(np.abs(filled[labels == m] - np.median(filled[labels == m], axis=0)), axis=0)
                for m in range(k)
            ]
        )
        within = np.maximum(within * 1.4826, 1e-3)
        for a in range(k):
            for b in range(a + 1, k):
                gap = np.abs(centres[a] - centres[b]) / np.maximum(within[a], within[b])
                if gap.max() < self.separation:
                    return False
        return True


@dataclass(frozen=True, slots=True)
class _Switch:
    """Where the stream stands: its mode, the mode it came from and which channels still settle."""

    mode: int
    source: int
    settling: NDArray[np.bool_]
    age: int  # samples since the last switch

    @classmethod
    def start(cls, d: int) -> _Switch:
        return cls(-1, -1, np.zeros(d, dtype=bool), 0)

    def grown(self, d: int) -> _Switch:
        extra = np.zeros(d - len(self.settling), dtype=bool)
        return _Switch(self.mode, self.source, np.concatenate([self.settling, extra]), self.age)


def _groups(mode: NDArray[np.intp]) -> list[tuple[int, NDArray[np.intp]]]:
    """Row indices per mode, for the modes present."""
    if len(mode) and (mode == mode[0]).all():
        return [(int(mode[0]), np.arange(len(mode)))]
    return [(int(m), np.flatnonzero(mode == m)) for m in np.unique(mode)]
