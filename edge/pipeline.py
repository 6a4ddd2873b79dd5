"""Per-device detection pipeline: detector -> calibration -> alert policy, learning as it goes.

The same code runs in the edge agent (sample by sample or in micro-batches) and in
``prognos detect`` (a CSV replayed in batches), so a file replay shows exactly what the
agent would have done. Samples scoring at or above the policy's ``raise_at`` are not
learned (River's ``AnomalyFilter`` idea), so a slowly developing fault is not absorbed
into "normal"; an alert that stays up for ``rebaseline_after`` samples is taken as the
new normal and learned from again, so a permanent change of regime does not alarm forever.
Until the calibrator holds ``min_history`` normal scores the device is still learning
and raises nothing; that happens again when the detector restructures itself (operating
modes discovered), since its scores then change scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from models.base import Detector
from models.calibration import TailCalibrator

from .policy import AlertPolicy, Transition

__all__ = ["BatchResult", "DevicePipeline"]


@dataclass(slots=True)
class BatchResult:
    raw: NDArray[np.float64]
    score: NDArray[np.float64]  # calibrated, 0..1
    alert: NDArray[np.bool_]  # alert active after each sample
    transitions: list[Transition] = field(default_factory=list)
    transition_rows: list[int] = field(default_factory=list)  # the row that caused each transition


class DevicePipeline:
    def __init__(
        self,
        detector: Detector,
        calibrator: TailCalibrator | None = None,
        policy: AlertPolicy | None = None,
        rebaseline_after: int = 5000,
    ) -> None:
        self.detector = detector
        self.calibrator = calibrator or TailCalibrator()
        self.policy = policy or AlertPolicy()
        self.rebaseline_after = rebaseline_after
        self.samples = 0
        self._hot_run = 0

    def process_batch(self, t: NDArray[np.float64], X: NDArray[np.float64]) -> BatchResult:
        """Score a batch with the state at its start, step the policy, then learn the normal rows."""
        raw = self.detector.score_many(X)
        score = self.calibrator.transform(raw)
        alert = np.zeros(len(X), dtype=bool)
        learn = np.zeros(len(X), dtype=bool)
        transitions, rows = [], []
        raise_at = self.policy.raise_at
        # A new device first learns what normal looks like: no alerts until the
        # calibrator has seen enough normal scores to know its own tail.
        learning = self.calibrator.history < self.calibrator.min_history
        for i, (ti, si) in enumerate(zip(t.tolist(), score.tolist(), strict=True)):
            tr = self.policy.step(ti, 0.0 if learning else si)
            if tr is not None:
                transitions.append(tr)
                rows.append(i)
            alert[i] = self.policy.active
            self._hot_run = self._hot_run + 1 if si >= raise_at else 0
            learn[i] = si < raise_at or self._hot_run >= self.rebaseline_after
        generation = getattr(self.detector, "generation_", 0)
        self.detector.learn_many(X, where=learn)
        if getattr(self.detector, "generation_", 0) != generation:
            # The detector restructured itself (operating modes found): its scores are on
            # a new scale, so the calibration starts over, with a new learning period.
            self.calibrator = self.calibrator.clone()
        elif learn.any():
            self.calibrator.update(raw[learn])
        self.samples += len(X)
        return BatchResult(raw, score, alert, transitions, rows)
