"""Shared pieces of every archetype: fault and consumable descriptions, the chunk result,
and vectorised signal primitives (AR(1) noise, thermal lag, duty cycles, daily profiles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

__all__ = [
    "Archetype",
    "ChunkInputs",
    "ChunkResult",
    "ConsumableModel",
    "FaultMode",
    "ar1",
    "duty_cycle",
    "hour_of_day",
    "lag",
]

Array = NDArray[np.float64]
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class FaultMode:
    """A way this archetype fails: how long it develops and the trip code at failure.

    Severity rises from 0 at onset to 1 at failure as ``progress ** shape``: a shape
    above 1 keeps the early signature faint, as real wear-out is.
    """

    name: str
    min_days: float
    max_days: float
    trip_code: int
    category: str
    shape: float = 2.0


@dataclass(frozen=True, slots=True)
class ConsumableModel:
    """A part that wears with use; ``life`` is in ``unit`` at a condition factor of 1."""

    name: str
    unit: str  # "hours" | "litres" | "cycles"
    life: float


@dataclass(slots=True)
class ChunkResult:
    """One chunk of one device: channel arrays, the running mask, usage per step."""

    values: dict[str, Array]
    running: NDArray[np.bool_]
    usage: dict[str, Array]  # consumable -> usage per step, in its unit
    wear_rate: dict[str, Array]  # consumable -> condition factor per step (1 = nominal)
    state: dict[str, float] = field(default_factory=dict)


class Archetype(Protocol):
    """What the fleet needs from a device model."""

    name: str
    model_names: tuple[str, ...]
    channels: tuple[str, ...]
    faults: dict[str, FaultMode]
    consumables: dict[str, ConsumableModel]

    def initial_state(self, rng: np.random.Generator) -> dict[str, float]: ...

    def generate(self, c: ChunkInputs) -> ChunkResult:
        """Signals for the chunk's timestamps, and the state to carry to the next one."""
        ...


@dataclass(frozen=True, slots=True)
class ChunkInputs:
    """What every archetype's ``generate`` gets for one chunk of one device."""

    t: Array  # timestamps, epoch seconds
    state: dict[str, float]  # carried from the previous chunk; copy before changing
    rng: np.random.Generator
    severity: dict[str, Array]  # active fault -> 0..1 severity per step
    wear: dict[str, Array]  # consumable -> wear per step (1 = end of life)
    failed: NDArray[np.bool_]  # where the device has tripped

    @property
    def n(self) -> int:
        return len(self.t)

    @property
    def dt(self) -> float:
        return float(self.t[1] - self.t[0]) if len(self.t) > 1 else 60.0

    def fault(self, name: str) -> Array:
        """Severity of fault ``name`` per step; zeros when it is not developing."""
        return self.severity.get(name, np.zeros(len(self.t)))


def hour_of_day(t: Array) -> Array:
    return (t % DAY) / 3600.0


def ar1(rng: np.random.Generator, n: int, phi: float, sigma: float, x0: float) -> tuple[Array, float]:
    """AR(1) noise with stationary std ``sigma``, continuing from ``x0``."""
    e = rng.standard_normal(n) * sigma * np.sqrt(1.0 - phi * phi)
    y, _ = lfilter([1.0], [1.0, -phi], e, zi=np.array([phi * x0]))
    return y, float(y[-1]) if n else x0


def lag(x: Array, dt: float, tau: float, y0: float) -> tuple[Array, float]:
    """First-order lag (thermal or hydraulic inertia) with time constant ``tau`` seconds."""
    a = float(np.exp(-dt / tau))
    y, _ = lfilter([1.0 - a], [1.0, -a], x, zi=np.array([a * y0]))
    return y, float(y[-1]) if len(x) else y0


def duty_cycle(
    t: Array, period_s: float, duty: Array, phase0: float, rng: np.random.Generator
) -> tuple[NDArray[np.bool_], float]:
    """On/off cycling at ``duty`` (0..1 per step) with a jittered period, continuing a phase."""
    dt = np.diff(t, prepend=t[0] - (t[1] - t[0] if len(t) > 1 else 60.0))
    step = dt / period_s * (1.0 + 0.25 * rng.standard_normal(len(t)).clip(-2, 2))
    phase = phase0 + np.cumsum(np.maximum(step, 0.0))
    on = (phase % 1.0) < duty
    return on, float(phase[-1] % 1.0) if len(t) else phase0
