"""What a tree model sees of a unit's recent cycles: levels and trends at several scales.

Trees cannot read a raw window the way a network does; they need its shape summarised.
From the prepared window (``models.cmapss.Prep``: standardised sensors, the last ``window``
cycles) each prediction gets, for every kept sensor and for a *health index*:

* the mean of the last ``k`` cycles, for each ``k`` in :data:`SCALES` up to the window:
  the level now, less noisy with larger ``k``;
* the least-squares slope over the last ``k`` cycles (``k >= 10``): how fast it moves;
* the spread of the last 30 cycles;
* and how many cycles the unit has run, which the window alone cannot tell.

The health index is the linear combination of the standardised sensors that best fits the
capped RUL on the training units (least squares, fitted with the rest of the preparation):
one channel in which the sensors' common drift adds up and their noise averages out. On
FD001 it moves the cross-validated RMSE from 12.1 to 11.7 (docs/models.md).

The cycle count is the unit's age as far as its data goes: C-MAPSS files start at a unit's
first cycle, and the edge counts the cycles it has seen (``edge/rul.py``), so an agent
started in mid-life undercounts and the model reads the unit as younger than it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .cmapss import Prep, Run, rul_targets

__all__ = ["SCALES", "RulFeatures", "fit_features"]

SCALES = (5, 10, 20, 40, 60, 80)
SPREAD = 30  # cycles whose standard deviation is a feature


def _slope(W: NDArray[np.float64]) -> NDArray[np.float64]:
    """Least-squares slope along axis 1 (cycles) of ``n x k x c``, per unit and channel."""
    t = np.arange(W.shape[1], dtype=np.float64) - (W.shape[1] - 1) / 2
    return np.asarray(np.einsum("nkc,k->nc", W, t) / float((t**2).sum()))


@dataclass(frozen=True)
class RulFeatures:
    """The preparation's windows turned into a feature matrix, repeatably."""

    prep: Prep
    health_weights: NDArray[np.float64]  # one per kept sensor

    @property
    def scales(self) -> tuple[int, ...]:
        return tuple(k for k in SCALES if k <= self.prep.window)

    def of_windows(self, windows: NDArray[np.float64], cycles: NDArray[np.float64]) -> NDArray[np.float64]:
        """``windows``: ``n x window x sensors`` from the preparation; ``cycles``: the cycle
        count at each window's end."""
        H = windows @ self.health_weights
        channels = np.concatenate([windows, H[:, :, None]], axis=2)  # n x window x (sensors + 1)
        parts = []
        for k in self.scales:
            recent = channels[:, -k:]
            parts.append(recent.mean(axis=1))
            if k >= 10:
                parts.append(_slope(recent))
        parts.append(channels[:, -SPREAD:].std(axis=1))
        parts.append(np.asarray(cycles, dtype=np.float64).reshape(-1, 1))
        return np.hstack(parts)

    def of_run(self, run: Run, last_only: bool = False) -> NDArray[np.float64]:
        """Features at every cycle of a run (or at its last)."""
        n = len(run.sensors)
        cycles = np.array([n], dtype=np.float64) if last_only else np.arange(1, n + 1, dtype=np.float64)
        return self.of_windows(self.prep.windows(run, last_only=last_only), cycles)

    def names(self) -> list[str]:
        channels = [*self.prep.to_json()["sensors"], "health"]
        out = []
        for k in self.scales:
            out += [f"{c}_mean{k}" for c in channels]
            if k >= 10:
                out += [f"{c}_slope{k}" for c in channels]
        return [*out, *(f"{c}_std{SPREAD}" for c in channels), "cycles"]

    def to_json(self) -> dict[str, Any]:
        return {"health_weights": self.health_weights.tolist(), "scales": list(self.scales), "spread": SPREAD}

    @classmethod
    def from_json(cls, prep: Prep, doc: dict[str, Any]) -> RulFeatures:
        features = cls(prep, np.asarray(doc["health_weights"], dtype=np.float64))
        if list(features.scales) != list(doc["scales"]) or doc.get("spread", SPREAD) != SPREAD:
            raise ValueError("the model's features were computed differently from this version's")
        return features


def fit_features(prep: Prep, runs: Sequence[Run], cap: float) -> RulFeatures:
    """The health index's weights, by least squares on the training units' cycles."""
    Z = np.concatenate([prep.normalise(r) for r in runs])
    y = np.concatenate([rul_targets(r, cap) for r in runs])
    A = np.hstack([Z, np.ones((len(Z), 1))])
    weights = np.linalg.lstsq(A, y, rcond=None)[0][:-1]
    return RulFeatures(prep, np.asarray(weights, dtype=np.float64))
