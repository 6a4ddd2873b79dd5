"""Remaining useful life on the edge: a device's last cycles through a trained RUL model.

A device that reports the channels a C-MAPSS-style model was trained on (``op1..op3``,
``s1..s21``: one sample per operating cycle) keeps its last ``window`` cycles here. When
the agent raises or updates an alert it asks for the RUL in cycles with its calibrated 90 %
interval, turns them into times with the device's median interval between samples, and
puts them on the alert (``predicted_failure_at``, ``predicted_failure_ci``, and the cycles
themselves in ``rul_cycles``): the cloud's preventive work order is timed by the interval's
lower bound, the latest safe time.

A tree model also wants the unit's age in cycles (:mod:`models.rul_features`): the tracker
counts the cycles it has seen. An agent started in mid-life undercounts, and the model
reads the machine as younger than it is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.cmapss import CHANNELS, Run
from models.rul_onnx import RulPredictor

from .forecast import bounded

__all__ = ["RulCall", "RulTracker", "load_rul_model"]

INTERVAL_LEVEL = 0.9


def load_rul_model(path: Path | str | None) -> RulPredictor | None:
    return RulPredictor(Path(path)) if path else None


@dataclass(frozen=True, slots=True)
class RulCall:
    """What the model says at ``now``: failure times, and the same in cycles."""

    failure_at: float
    failure_ci: tuple[float, float] | None  # the 90 % interval's times, if calibrated
    cycles: tuple[float, float, float] | None  # (lower, point, upper) RUL in cycles


class RulTracker:
    """The last cycles of one device, as the model's preparation expects them."""

    def __init__(self, window: int) -> None:
        self.times: deque[float] = deque(maxlen=window)
        self.rows: deque[list[float]] = deque(maxlen=window)
        self.seen = 0  # cycles observed, the unit's age as far as this agent knows

    @classmethod
    def feed(
        cls, tracker: RulTracker | None, model: RulPredictor, t: float, values: Mapping[str, float]
    ) -> RulTracker | None:
        """Observe a sample; the tracker starts with a device's first sample that has every channel."""
        if not all(c in values for c in CHANNELS):
            return tracker
        tracker = tracker or cls(model.prep.window)
        tracker.observe(t, values)
        return tracker

    def observe(self, t: float, values: Mapping[str, float]) -> None:
        row = [values[c] for c in CHANNELS]
        if np.isfinite(row).all():  # a cycle with a dropout is skipped, not imputed
            self.times.append(t)
            self.rows.append(row)
            self.seen += 1

    def call(self, model: RulPredictor, now: float) -> RulCall | None:
        """When the model expects failure, or None with fewer than two cycles seen (or
        beyond the forecast horizon)."""
        if len(self.rows) < 2:
            return None
        arr = np.asarray(self.rows, dtype=np.float64)
        rul = model.predict_last([Run(0, arr[:, :3], arr[:, 3:])], cycles=[self.seen])
        step = float(np.median(np.diff(np.asarray(self.times))))
        if not step > 0:
            return None
        point = float(rul[0])
        bounds = model.interval(rul, INTERVAL_LEVEL)
        if bounds is None:  # a model trained without folds has no calibrated interval
            at, _ = bounded(now, now + point * step, None)
            return RulCall(at, None, None) if at is not None else None
        low, high = float(bounds[0][0]), float(bounds[1][0])
        at, ci = bounded(now, now + point * step, (now + low * step, now + high * step))
        if at is None:
            return None
        return RulCall(at, ci, (round(low, 1), round(point, 1), round(high, 1)))
