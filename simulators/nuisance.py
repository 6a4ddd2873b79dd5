"""Sensor artefacts that are NOT faults: spikes, dropouts (NaN runs) and stuck readings.

A detector that alarms on these is producing false alerts; the simulator injects them
on purpose, at low rates, so benchmarks measure that. Pure functions of (values, rng).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["NuisanceRates", "inject_nuisances", "offline_mask"]


@dataclass(frozen=True, slots=True)
class NuisanceRates:
    """Per-sample probabilities that an artefact starts on a channel."""

    spike: float = 6e-5
    dropout: float = 1e-4  # NaN run of 1..30 samples
    stuck: float = 2e-5  # the last value repeats for 30..300 samples
    offline_per_day: float = 0.03  # chance the device is unreachable for a while on a given day


def _runs(rng: np.random.Generator, n: int, rate: float, lo: int, hi: int) -> list[tuple[int, int]]:
    starts = np.flatnonzero(rng.uniform(size=n) < rate)
    lengths = rng.integers(lo, hi + 1, size=len(starts))
    return [(int(a), min(n, int(a + k))) for a, k in zip(starts, lengths, strict=True)]


def inject_nuisances(
    values: dict[str, NDArray[np.float64]], rng: np.random.Generator, rates: NuisanceRates
) -> dict[str, NDArray[np.float64]]:
    """Return copies of the channel arrays with artefacts injected."""
    out: dict[str, NDArray[np.float64]] = {}
    for name, x in values.items():
        y = x.copy()
        n = len(y)
        spikes = np.flatnonzero(rng.uniform(size=n) < rates.spike)
        if len(spikes):
            spread = float(np.nanstd(x)) if n > 1 else 0.0
            scale = spread if np.isfinite(spread) and spread > 0 else 1.0
            jump = rng.choice([-1.0, 1.0], len(spikes)) * rng.uniform(3.0, 8.0, len(spikes)) * scale
            y[spikes] += jump
            if np.nanmin(x) >= 0.0:  # a non-negative quantity (current, flow, RMS) stays so
                y[spikes] = np.abs(y[spikes])
        for a, b in _runs(rng, n, rates.stuck, 30, 300):
            y[a:b] = y[a]
        for a, b in _runs(rng, n, rates.dropout, 1, 30):
            y[a:b] = np.nan
        out[name] = y
    return out


def offline_mask(rng: np.random.Generator, n: int, rates: NuisanceRates) -> NDArray[np.bool_]:
    """True where a row is delivered; a rare window of 5..120 samples goes missing."""
    present = np.ones(n, dtype=bool)
    if n and rng.uniform() < rates.offline_per_day:
        start = int(rng.integers(0, n))
        present[start : start + int(rng.integers(5, 121))] = False
    return present
