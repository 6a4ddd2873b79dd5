"""Remaining useful life on the edge: a device's last cycles through a trained RUL model.

A device that reports the channels a C-MAPSS-style model was trained on (``op1..op3``,
``s1..s21``: one sample per operating cycle) keeps its last ``window`` cycles here. When
the agent raises or updates an alert it asks for the RUL in cycles, turns it into a time
with the device's median interval between samples, and puts the earlier of that and the
health trend's extrapolation on the alert, which is what the cloud's preventive work order
shows as its predicted failure.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from models.cmapss import CHANNELS, Run
from models.rul_onnx import RulPredictor

from .forecast import bounded

__all__ = ["RulTracker", "load_rul_model"]


def load_rul_model(path: Path | str | None) -> RulPredictor | None:
    return RulPredictor(Path(path)) if path else None


class RulTracker:
    """The last cycles of one device, as the model's preparation expects them."""

    def __init__(self, window: int) -> None:
        self.times: deque[float] = deque(maxlen=window)
        self.rows: deque[list[float]] = deque(maxlen=window)

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

    def failure_at(self, model: RulPredictor, now: float) -> float | None:
        """When the model expects failure, or None with fewer than two cycles seen."""
        if len(self.rows) < 2:
            return None
        arr = np.asarray(self.rows, dtype=np.float64)
        cycles = float(model.predict_last([Run(0, arr[:, :3], arr[:, 3:])])[0])
        step = float(np.median(np.diff(np.asarray(self.times))))
        if not step > 0:
            return None
        at, _ = bounded(now, now + cycles * step, None)
        return at
