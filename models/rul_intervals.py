"""Prediction intervals for remaining useful life that hold what they claim (conformal).

A point RUL is wrong by an amount that depends on where the engine is: late in life the
sensors have moved and the error is a few cycles; early, nothing shows yet and the truth
may lie anywhere above the cap. So the intervals are *Mondrian* split-conformal: the
cross-validation's held-out predictions (engines cut where their true RUL is 5..150, the
test protocol of :mod:`models.rul_train`) are grouped by predicted RUL into :data:`EDGES`
bins, and each bin keeps the quantiles of ``truth - prediction`` that leave ``(1 - level)/2``
out on each side. An interval is ``prediction + those quantiles``, floored at 0: asymmetric
where the errors are (above the cap the truth is only ever higher).

How honest that is, is measured, not assumed: in cross-validation each fold's intervals are
calibrated on the *other* folds' residuals only (cross-conformal), and the share of the
fold's engines whose truth falls inside is the coverage the bench reports. The model that
ships is calibrated on every fold's residuals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["EDGES", "LEVELS", "Intervals", "calibrate", "cross_conformal_coverage"]

EDGES = (25.0, 50.0, 75.0, 100.0)  # predicted RUL bins: [0,25), [25,50), ..., [100, cap]
LEVELS = (0.8, 0.9)
MIN_PER_BIN = 30  # fewer residuals than this in a bin: it borrows all of them instead


@dataclass(frozen=True)
class Intervals:
    """Per level, per bin of predicted RUL: the (low, high) offsets to add to a prediction."""

    edges: tuple[float, ...]
    offsets: dict[float, list[tuple[float, float]]]

    def bounds(
        self, pred: NDArray[np.float64], level: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(lower, upper) RUL at ``level`` for each prediction."""
        table = np.asarray(self.offsets[_key(level)], dtype=np.float64)
        bins = np.searchsorted(np.asarray(self.edges), np.asarray(pred, dtype=np.float64), side="right")
        low = np.maximum(pred + table[bins, 0], 0.0)
        return low, np.maximum(pred + table[bins, 1], low)

    def to_json(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "offsets": {str(k): v for k, v in self.offsets.items()}}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Intervals:
        offsets = {float(k): [(float(a), float(b)) for a, b in v] for k, v in doc["offsets"].items()}
        return cls(tuple(float(e) for e in doc["edges"]), offsets)


def _key(level: float) -> float:
    return round(float(level), 3)


def calibrate(
    pred: NDArray[np.float64], true: NDArray[np.float64], levels: tuple[float, ...] = LEVELS
) -> Intervals:
    """Offsets from held-out predictions and their truth (finite-sample conformal quantiles)."""
    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if len(pred) < MIN_PER_BIN:
        raise ValueError(f"{len(pred)} held-out predictions are too few to calibrate intervals on")
    residual = true - pred
    bins = np.searchsorted(np.asarray(EDGES), pred, side="right")
    offsets: dict[float, list[tuple[float, float]]] = {}
    for level in levels:
        tail = (1.0 - level) / 2
        per_bin = []
        for b in range(len(EDGES) + 1):
            r = residual[bins == b]
            if len(r) < MIN_PER_BIN:
                r = residual
            n = len(r)
            # the conformal rank: ceil((n + 1)(1 - tail)) / n, so coverage holds for n this small
            hi_q = min(1.0, np.ceil((n + 1) * (1 - tail)) / n)
            lo_q = max(0.0, 1.0 - hi_q)
            per_bin.append((float(np.quantile(r, lo_q)), float(np.quantile(r, hi_q))))
        offsets[_key(level)] = per_bin
    return Intervals(EDGES, offsets)


def cross_conformal_coverage(
    pred: NDArray[np.float64],
    true: NDArray[np.float64],
    fold: NDArray[np.int64],
    levels: tuple[float, ...] = LEVELS,
) -> dict[str, dict[str, float]]:
    """Each fold's intervals calibrated on the other folds: the share inside, the mean width."""
    out: dict[str, dict[str, float]] = {}
    for level in levels:
        inside, widths = [], []
        for k in np.unique(fold):
            mine = fold == k
            intervals = calibrate(pred[~mine], true[~mine], (level,))
            low, high = intervals.bounds(pred[mine], level)
            inside.append((true[mine] >= low) & (true[mine] <= high))
            widths.append(high - low)
        out[f"{round(level * 100)}%"] = {
            "coverage": round(float(np.mean(np.concatenate(inside))), 3),
            "mean_width_cycles": round(float(np.mean(np.concatenate(widths))), 1),
        }
    return out
