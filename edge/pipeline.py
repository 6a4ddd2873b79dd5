"""Per-device detection pipeline: two signals, two jobs, one stream of alert transitions.

* **Surprise** (``anomaly_score``): the detector's raw score, calibrated to [0, 1] by the
  device's own recent history (:class:`~models.calibration.TailCalibrator`), stepped
  through the :class:`~edge.policy.AlertPolicy`: raise when high and persistent, update
  while it stays high, clear when it is back. A timed detector
  (:class:`~models.base.TimedDetector`, the default) learns every row itself and adapts,
  so a level shift or a new regime stops being surprising and its alert clears.
* **Degradation** (``health``): distance from the device's frozen early baseline
  (:class:`~models.degradation.DegradationTracker`), which does not adapt; the
  :class:`~edge.trend.TrendPolicy` raises a *trend* alert when health stays low, which
  is how slow wear that never surprises the detector still opens a work order.

The same code runs in the edge agent (sample by sample or in micro-batches) and in
``prognos detect`` (a file in large batches), with the same results either way. Until the calibrator holds
``min_history`` scores the device is still learning and raises no surprise alert.

Detectors without timestamps (River, ONNX models, ensembles) keep the older contract:
scored first, then taught only the rows below ``raise_at`` (River's ``AnomalyFilter``
idea); an alert that stays up for ``rebaseline_after`` rows is taken as the new normal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from models.base import (
    Detector,
    GrowingDetector,
    ModeReporting,
    RestructuringDetector,
    ScheduledRestructuring,
    TimedDetector,
)
from models.calibration import TailCalibrator
from models.degradation import DegradationTracker

from .consumables import CONDITION_CHANNELS
from .policy import AlertPolicy, Transition, TransitionKind
from .trend import TrendPolicy

__all__ = ["BatchResult", "DevicePipeline"]

_CHUNK = 4096  # rows the detector scores at a time
Vector = NDArray[np.float64]


@dataclass(slots=True)
class BatchResult:
    raw: NDArray[np.float64]
    score: NDArray[np.float64]  # calibrated surprise, 0..1
    alert: NDArray[np.bool_]  # some alert (surprise or trend) active after each row
    health: NDArray[np.float64]  # 0..1, 1 = like when the device was healthy
    transitions: list[Transition] = field(default_factory=list)
    transition_rows: list[int] = field(default_factory=list)  # the row that caused each transition

    @property
    def raised(self) -> NDArray[np.bool_]:
        """Rows where an alert was raised: one per incident."""
        out = np.zeros(len(self.score), dtype=bool)
        for row, tr in zip(self.transition_rows, self.transitions, strict=True):
            if tr.kind is TransitionKind.RAISE:
                out[row] = True
        return out


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a detector can do, checked once: a runtime protocol check costs tens of
    microseconds, which the one-row path of a busy agent cannot pay on every row."""

    timed: bool
    growing: bool
    scheduled: bool
    modes: bool
    restructuring: bool

    @classmethod
    def of(cls, detector: object) -> Capabilities:
        return cls(
            isinstance(detector, TimedDetector),
            isinstance(detector, GrowingDetector),
            isinstance(detector, ScheduledRestructuring),
            isinstance(detector, ModeReporting),
            isinstance(detector, RestructuringDetector),
        )


class DevicePipeline:
    def __init__(
        self,
        detector: Detector,
        calibrator: TailCalibrator | None = None,
        policy: AlertPolicy | None = None,
        rebaseline_after: int = 5000,
        degradation: DegradationTracker | None = None,
        trend: TrendPolicy | None = None,
        name: str = "",
        version: str = "",
    ) -> None:
        self.detector = detector
        self.name = name or type(detector).__name__  # what alerts say produced them
        self.version = version or self.name
        self.calibrator = calibrator or TailCalibrator()
        self.policy = policy or AlertPolicy()
        self.rebaseline_after = rebaseline_after
        self.degradation = degradation or DegradationTracker(
            features=list(detector.features), ignore=CONDITION_CHANNELS
        )
        self.trend = trend or TrendPolicy()
        self.samples = 0
        self._hot_run = 0
        self._caps: tuple[int, Capabilities] | None = None

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_caps": None}  # keyed by the detector's id(), new after a restore

    @property
    def caps(self) -> Capabilities:
        if self._caps is None or self._caps[0] != id(self.detector):
            self._caps = (id(self.detector), Capabilities.of(self.detector))
        return self._caps[1]

    def add_features(self, names: list[str]) -> None:
        """A device started reporting new channels: every stage tracks them from now on."""
        if self.caps.growing:
            self.detector.add_features(names)  # type: ignore[attr-defined]
        self.degradation.add_features(names)

    def reset_baseline(self) -> None:
        """The device was repaired or renewed: its health is measured from a new baseline."""
        self.degradation.reset()

    def process_batch(self, t: NDArray[np.float64], X: NDArray[np.float64]) -> BatchResult:
        """Score, calibrate, step both policies, learn; rows in time order."""
        t = np.asarray(t, dtype=np.float64)
        if len(self.degradation.features) < X.shape[1]:
            self.degradation.add_features(list(self.detector.features))
        if self.caps.timed:
            raw, score, active, transitions, rows, excess = self._timed(self.detector, t, X)  # type: ignore[arg-type]
        else:
            raw, score, active, transitions, rows = self._untimed(t, X)
            excess = self.degradation.update_excess(t, X)
        health = self.degradation.health_of(excess)
        trend = self.trend.run(t, health, excess >= 0.0)
        for i, tr in trend.transitions:
            transitions.append(tr)
            rows.append(i)
        order = np.argsort(rows, kind="stable")
        transitions = [transitions[k] for k in order]
        rows = [rows[k] for k in order]
        alert = active | trend.active
        self.samples += len(X)
        return BatchResult(raw, score, alert, health, transitions, rows)

    # -- stages ------------------------------------------------------------------------
    def _timed(
        self, detector: TimedDetector, t: NDArray[np.float64], X: NDArray[np.float64]
    ) -> tuple[Vector, Vector, NDArray[np.bool_], list[Transition], list[int], Vector]:
        """Chunk by chunk: the detector scores and learns, the degradation tracker follows
        each row in its operating mode, then the scores are calibrated and stepped."""
        n = len(X)
        raw, score, excess = np.zeros(n), np.zeros(n), np.zeros(n)
        active = np.zeros(n, dtype=bool)
        transitions: list[Transition] = []
        rows: list[int] = []
        caps = self.caps
        a = 0
        while a < n:
            b = min(n, a + _CHUNK)
            if caps.scheduled:
                b = a + max(1, detector.rows_before_restructuring(t[a:b]))  # type: ignore[attr-defined]
            before = self._generation()
            raw[a:b] = detector.score_learn_many(t[a:b], X[a:b])
            modes = detector.last_modes_ if caps.modes else np.zeros(b - a, np.intp)  # type: ignore[attr-defined]
            # A restructuring happens on the chunk's last row (the detector schedules it):
            # the rows before it are judged as they were, that row on the new structure.
            last = b - 1 if self._generation() != before else b
            excess[a:last] = self.degradation.update_excess(t[a:last], X[a:last], modes[: last - a])
            self._calibrate(t, raw, score, active, transitions, rows, a, last)
            if last < b:
                # Modes found: scores on a new scale (calibration starts over) and a baseline
                # to learn per mode (health starts over).
                self.calibrator = self.calibrator.clone()
                self._rebaseline_per_mode(detector)
                excess[last:b] = self.degradation.update_excess(t[last:b], X[last:b], modes[last - a :])
                self._calibrate(t, raw, score, active, transitions, rows, last, b)
            a = b
        return raw, score, active, transitions, rows, excess

    def _calibrate(
        self,
        t: NDArray[np.float64],
        raw: NDArray[np.float64],
        score: NDArray[np.float64],
        active: NDArray[np.bool_],
        transitions: list[Transition],
        rows: list[int],
        a: int,
        b: int,
    ) -> None:
        """Rows a..b: calibrate and teach the calibrator row by row (the rows that were not
        surprising; every row while it is still learning, when the policy sees nothing), then
        step the policy. Row by row, so the batch size changes nothing."""
        part, learning = self.calibrator.calibrate_learn(raw[a:b], self.policy.raise_at)
        score[a:b] = part
        steps = self.policy.run(t[a:b], np.where(learning, 0.0, part))
        active[a:b] = steps.active
        for k, tr in steps.transitions:
            transitions.append(tr)
            rows.append(a + k)

    def _rebaseline_per_mode(self, detector: object) -> None:
        """Learn the health baseline again, per mode, from the early rows the modes were found
        in: health keeps meaning "like the device's first day", with no blind period."""
        self.reset_baseline()
        found = detector.discovered_from_ if self.caps.modes else None  # type: ignore[attr-defined]
        if found is None or found[1] is None:
            return
        data, times, modes = found
        self.degradation.update_excess(times, np.asarray(data, dtype=np.float64), modes)

    def _generation(self) -> int:
        return self.detector.generation_ if self.caps.restructuring else 0  # type: ignore[attr-defined]

    def _untimed(
        self, t: NDArray[np.float64], X: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], list[Transition], list[int]]:
        raw = self.detector.score_many(X)
        score = self.calibrator.transform(raw)
        learning = self.calibrator.history < self.calibrator.min_history
        steps = self.policy.run(t, np.zeros(len(X)) if learning else score)
        raise_at = self.policy.raise_at
        learn = np.zeros(len(X), dtype=bool)
        for i, si in enumerate(score.tolist()):
            self._hot_run = self._hot_run + 1 if si >= raise_at else 0
            learn[i] = si < raise_at or self._hot_run >= self.rebaseline_after
        before = self._generation()
        self.detector.learn_many(X, where=learn)
        if self._generation() != before:
            # The detector restructured itself (operating modes found): its scores are on
            # a new scale, so the calibration starts over, with a new learning period.
            self.calibrator = self.calibrator.clone()
        elif learn.any():
            self.calibrator.update(raw[learn])
        transitions = [tr for _, tr in steps.transitions]
        rows = [i for i, _ in steps.transitions]
        return raw, score, steps.active, transitions, rows
