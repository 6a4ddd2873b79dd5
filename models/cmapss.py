"""NASA C-MAPSS turbofan data and the usual preparation for remaining-useful-life models.

A file is whitespace-separated rows ``unit cycle op1 op2 op3 s1 .. s21``; training files run
every engine to failure, test files stop some time before it. Preparation, fitted on
training data and stored with the model so prediction repeats it exactly:

* **Operating conditions.** FD002 and FD004 fly six regimes that move every sensor far
  more than wear does. The settings are clustered (k-means) and each sensor is
  standardised by its own condition's mean and deviation. FD001 and FD003 have one
  condition and this is plain standardisation.
* **Sensors.** Channels with fewer than 10 distinct values in training are dropped (in
  FD001: s1, s5, s6, s10, s16, s18, s19, which are constant or toggle between two values).
* **Windows.** A prediction sees the last ``window`` cycles; the cycles before a unit's
  first are taken to look like its first.
* **Target.** RUL is capped at 125 cycles: early in life wear does not show, so any RUL
  above that is indistinguishable, and the cap is the piecewise-linear target the
  literature scores against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.cluster.vq import kmeans2

__all__ = ["CHANNELS", "Prep", "Run", "fit_prep", "load_runs", "rul_targets"]

N_SETTINGS, N_SENSORS = 3, 21
SENSOR_NAMES = [f"s{i}" for i in range(1, N_SENSORS + 1)]
#: a C-MAPSS engine as a device: one sample per cycle with these channels
CHANNELS = ["op1", "op2", "op3", *SENSOR_NAMES]
RUL_CAP = 125.0


@dataclass(frozen=True)
class Run:
    """One engine's cycles, in order."""

    unit: int
    settings: NDArray[np.float64]  # cycles x 3
    sensors: NDArray[np.float64]  # cycles x 21


def load_runs(path: Path) -> list[Run]:
    """Read a C-MAPSS text file; any malformed row is an error naming its line."""
    try:
        data = np.loadtxt(path, ndmin=2)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path}: not a C-MAPSS file ({exc})") from None
    if data.shape[1] != 2 + N_SETTINGS + N_SENSORS:
        raise ValueError(
            f"{path}: expected 26 columns (unit, cycle, 3 settings, 21 sensors), got {data.shape[1]}"
        )
    if not np.isfinite(data).all():
        raise ValueError(f"{path}: has values that are not finite numbers")
    runs = []
    for unit in np.unique(data[:, 0]):
        rows = data[data[:, 0] == unit]
        rows = rows[np.argsort(rows[:, 1], kind="stable")]
        runs.append(Run(int(unit), rows[:, 2:5], rows[:, 5:]))
    return runs


def rul_targets(run: Run, cap: float = RUL_CAP) -> NDArray[np.float64]:
    """Cycles left after each cycle of a run-to-failure unit, capped."""
    n = len(run.sensors)
    return np.minimum(np.arange(n - 1, -1, -1, dtype=np.float64), cap)


@dataclass(frozen=True)
class Prep:
    """Everything prediction needs to prepare raw cycles the way training did."""

    sensors: list[int]  # indices into s1..s21
    centres: NDArray[np.float64]  # conditions x 3 operating settings
    settings_scale: NDArray[np.float64]  # 3
    mean: NDArray[np.float64]  # conditions x kept sensors
    std: NDArray[np.float64]
    window: int

    def condition(self, settings: NDArray[np.float64]) -> NDArray[np.int64]:
        d = ((settings[:, None, :] - self.centres[None]) / self.settings_scale) ** 2
        return np.asarray(d.sum(axis=2).argmin(axis=1))

    def normalise(self, run: Run) -> NDArray[np.float64]:
        c = self.condition(run.settings)
        return (run.sensors[:, self.sensors] - self.mean[c]) / self.std[c]

    def windows(self, run: Run, last_only: bool = False) -> NDArray[np.float64]:
        """One window ending at every cycle (``cycles x window x sensors``), or only the last.

        The run is padded at its start with copies of its first cycle, so the early
        cycles (and a unit shorter than the window) still have a full window."""
        Z = self.normalise(run)
        Z = np.vstack([np.repeat(Z[:1], self.window - 1, axis=0), Z])
        if last_only:
            return Z[None, -self.window :]
        view = np.lib.stride_tricks.sliding_window_view(Z, self.window, axis=0)  # cycles x s x w
        return np.ascontiguousarray(view.transpose(0, 2, 1))

    def to_json(self) -> dict[str, Any]:
        return {
            "sensors": [SENSOR_NAMES[i] for i in self.sensors],
            "centres": self.centres.tolist(),
            "settings_scale": self.settings_scale.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "window": self.window,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Prep:
        return cls(
            [SENSOR_NAMES.index(s) for s in doc["sensors"]],
            np.asarray(doc["centres"], dtype=np.float64),
            np.asarray(doc["settings_scale"], dtype=np.float64),
            np.asarray(doc["mean"], dtype=np.float64),
            np.asarray(doc["std"], dtype=np.float64),
            int(doc["window"]),
        )


def fit_prep(runs: list[Run], window: int = 30, seed: int = 0) -> Prep:
    settings = np.vstack([r.settings for r in runs])
    sensors = np.vstack([r.sensors for r in runs])
    keep = [j for j in range(N_SENSORS) if len(np.unique(sensors[:, j])) >= 10]
    scale = settings.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    if settings.std(axis=0).max() > 1.0:  # several flight regimes (FD002, FD004)
        centres, _ = kmeans2(settings / scale, 6, seed=seed, minit="++")
        centres = centres * scale
    else:
        centres = settings.mean(axis=0, keepdims=True)
    prep = Prep(
        keep, centres, scale, np.zeros((len(centres), len(keep))), np.ones((len(centres), len(keep))), window
    )
    c = prep.condition(settings)
    mean = np.vstack(
        [
            sensors[c == k][:, keep].mean(axis=0) if (c == k).any() else np.zeros(len(keep))
            for k in range(len(centres))
        ]
    )
    std = np.vstack(
        [
            sensors[c == k][:, keep].std(axis=0) if (c == k).sum() > 1 else np.ones(len(keep))
            for k in range(len(centres))
        ]
    )
    return Prep(keep, centres, scale, mean, np.where(std > 1e-9, std, 1.0), window)
