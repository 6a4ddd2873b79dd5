"""The default detector: surprise per operating mode, with memories in time.

Duty-cycled machines (a pump stopped at night, a compressor cycling on its thermostat, a
purifier running in bursts) have several normal states. One adaptive baseline would call
every start and stop a surprise; :class:`~models.modal.ModalDetector` finds the modes and
keeps one baseline per mode. This is the same structure with
:class:`~models.surprise.SurpriseDetector` members, driven by the timestamps:

* modes are searched for after a day of data (``discover_s``; at least
  ``discover_min_rows`` rows) or ``discover_after`` rows, whichever comes first, so the
  search sees a daily cycle at any sampling rate; a stream without clear modes (a test
  rig, a short file) keeps its single baseline;
* each mode's member keeps its own clock, which advances by the stream's own steps while
  the machine is in that mode, so a night spent "off" is not forgotten time for "on";
* a batch is cut where the mode changes, so the settling between modes (see
  :class:`~models.modal.ModalDetector`) sees the baselines exactly as a row-by-row
  stream would;
* a search is due at a row count (or, for the first, a day of data), and the batch is
  split at that row, so a file scored in large batches restructures at the same row as a
  stream fed one row at a time; searches after a failed one wait for twice the rows, up
  to ``_SEARCHES`` searches in all.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .base import Matrix
from .modal import ModalDetector
from .surprise import SurpriseDetector

__all__ = ["ModalSurpriseDetector"]


class ModalSurpriseDetector(ModalDetector):
    _SEARCHES = 5

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
        discover_s: float = 86400.0,
        discover_min_rows: int = 300,
        hot_z: float = 4.0,
    ) -> None:
        self.discover_s = discover_s
        self.discover_min_rows = discover_min_rows
        self.hot_z = hot_z
        super().__init__(
            features, modes, discover_after, separation, min_share, seed, restarts, settle_band, settle_max
        )
        self._t_first = math.nan
        self._t_last = math.nan
        self._clocks: dict[int, float] = {}  # mode -> its member's clock
        self._times: list[NDArray[np.float64]] = []  # times of the rows buffered for a search
        self._searches = 0
        self._rows_seen = 0
        self._due_row = discover_after  # rows seen at which the next search is due
        self.last_modes_ = np.zeros(0, dtype=np.intp)

    def _new_member(self, features: list[str]) -> Any:
        return SurpriseDetector(features=features)

    def _train_member(self, member: Any, data: Matrix, times: NDArray[np.float64] | None) -> None:
        """Learn a mode's rows on an even clock (the gaps between them were other modes)."""
        step = self._typical_step()
        member.score_learn_many(step * np.arange(len(data), dtype=np.float64), data)

    def score_learn_many(self, t: Any, X: Any) -> NDArray[np.float64]:
        X = self._check(X)
        t = np.ascontiguousarray(np.asarray(t, dtype=np.float64).ravel())
        if math.isnan(self._t_first) and len(t):
            self._t_first = float(t[0])
        out = np.zeros(len(X))
        self.last_modes_ = np.zeros(len(X), dtype=np.intp)
        start = 0
        mode = self._modes(X)
        while start < len(X):
            stop = min(self._first_search_row(t, start, len(X)), _run_end(mode, start))
            self.last_modes_[start:stop] = mode[start:stop]
            out[start:stop] = self._part(t[start:stop], X[start:stop], mode[start:stop])
            if self.generation_ and self.centroids_ is not None and stop < len(X):
                mode[stop:] = self._modes(X[stop:])  # modes were just found
            start = stop
        return out

    def rows_before_restructuring(self, t: NDArray[np.float64]) -> int:
        """How many of these rows to score before a mode search may change the structure."""
        return self._first_search_row(np.asarray(t, dtype=np.float64), 0, len(t))

    # -- internals ------------------------------------------------------------------------
    def _searching(self) -> bool:
        return self.centroids_ is None and self.modes > 1 and not self.searched_

    def _first_search_row(self, t: NDArray[np.float64], start: int, end: int) -> int:
        """End of the part to score before the next mode search is due (``end`` if not in it)."""
        if not self._searching():
            return end
        rows = self._rows_seen + np.arange(1, end - start + 1)
        due = rows >= self._due_row
        if self._searches == 0:
            due |= (t[start:end] - self._t_first >= self.discover_s) & (rows >= self.discover_min_rows)
        return start + int(np.argmax(due)) + 1 if due.any() else end

    def _part(self, t: NDArray[np.float64], X: Matrix, mode: NDArray[np.intp]) -> NDArray[np.float64]:
        """Rows in one mode (the caller cut the batch there): route, settle, score and learn."""
        settle, self._switch = self._settling(X, mode)
        calm = bool(np.isnan(settle).all())  # the usual case: no channel is settling
        steady = X if calm else np.where(np.isnan(settle), X, np.nan)  # settling ones are not learned
        prev = self._t_last if not math.isnan(self._t_last) else float(t[0])
        dt = np.maximum(np.diff(t, prepend=prev), 0.0)
        m = int(mode[0])
        clock = self._clocks.get(m, float(t[0]) - float(dt[0])) + np.cumsum(dt)
        raw = self.detectors_[m].score_learn_many(clock, steady)
        self._clocks[m] = float(clock[-1])
        if not calm:
            with np.errstate(all="ignore"):
                settling = np.nanmax(np.where(np.isnan(settle), -np.inf, settle), axis=1)
            raw = np.fmax(raw, np.where(np.isfinite(settling), settling, 0.0))
        self._t_last = float(t[-1])
        if self._searching():
            self._buffer_for_search(t, X, raw)
        return np.asarray(raw, dtype=np.float64)

    def _buffer_for_search(self, t: NDArray[np.float64], X: Matrix, raw: NDArray[np.float64]) -> None:
        # The first search clusters every row (before modes are known the single baseline
        # flags the rarer mode); later ones only rows that were not surprising, so a fault
        # developing meanwhile cannot become a mode of its own.
        first = self._searches == 0
        keep = np.ones(len(X), dtype=bool) if first else raw < self.hot_z
        self._buffer.append(X[keep].astype(np.float32))
        self._times.append(t[keep])
        self._buffered += int(keep.sum())
        self._rows_seen += len(X)
        elapsed = float(t[-1]) - self._t_first
        due = self._rows_seen >= self._due_row or (
            first and elapsed >= self.discover_s and self._rows_seen >= self.discover_min_rows
        )
        if not due:
            return
        data = np.vstack(self._buffer)[-self._MAX_BUFFER :]
        times = np.concatenate(self._times)[-self._MAX_BUFFER :]
        self._buffer, self._times, self._buffered = [data], [times], len(data)
        self._searches += 1
        self._discover(data.astype(np.float64), times)
        if self.centroids_ is not None:  # modes found: each member's clock is its own
            self._times = []
            self._clocks = {m: float(det.clock_[0]) for m, det in enumerate(self.detectors_)}
            return
        self._due_row = 2 * self._rows_seen  # one mode so far: look again with twice the history
        self.searched_ = self._searches >= self._SEARCHES

    def _typical_step(self) -> float:
        if self._times:
            times = np.concatenate(self._times)
            steps = np.diff(times)
            steps = steps[steps > 0]
            if len(steps):
                return float(np.median(steps))
        return 1.0


def _run_end(mode: NDArray[np.intp], start: int) -> int:
    """End of the run of rows in the same mode that begins at ``start``."""
    change = np.flatnonzero(mode[start:] != mode[start])
    return start + int(change[0]) if len(change) else len(mode)
