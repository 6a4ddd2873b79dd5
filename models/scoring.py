"""Detection metrics as the benchmarks we compare against define them.

* :func:`outlier_counts` / :func:`outlier_metrics`: SKAB's point-wise F1, FAR and MAR,
  with TP/FP/TN/FN pooled over all files before the ratios are taken.
* :func:`fault_metrics`: the simulator's view: share of faults alerted between onset
  and failure, lead time as a share of onset-to-failure, false alerts per device-day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Counts", "fault_metrics", "outlier_counts", "outlier_metrics"]


@dataclass(frozen=True, slots=True)
class Counts:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.tn + other.tn, self.fn + other.fn)


def outlier_counts(truth: NDArray[np.bool_], predicted: NDArray[np.bool_]) -> Counts:
    t, p = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    return Counts(int((t & p).sum()), int((~t & p).sum()), int((~t & ~p).sum()), int((t & ~p).sum()))


def outlier_metrics(counts: Iterable[Counts]) -> dict[str, float]:
    """SKAB's pooled F1 = TP / (TP + (FP + FN) / 2), FAR and MAR in percent."""
    c = sum(counts, Counts())
    f1 = c.tp / (c.tp + 0.5 * (c.fp + c.fn)) if c.tp + c.fp + c.fn else 1.0
    far = 100.0 * c.fp / (c.fp + c.tn) if c.fp + c.tn else 0.0
    mar = 100.0 * c.fn / (c.fn + c.tp) if c.fn + c.tp else 0.0
    return {"f1": round(f1, 4), "far_pct": round(far, 2), "mar_pct": round(mar, 2)}


def fault_metrics(
    faults: Sequence[tuple[str, float, float]],
    alerts: Sequence[tuple[str, float]],
    device_days: float,
) -> dict[str, object]:
    """``faults``: (device, onset, failure); ``alerts``: (device, raised_at).

    A fault is caught when its device raises an alert in [onset, failure). Every alert
    that falls in no such window (before onset or after failure) is a false alert.
    """
    caught, leads, lead_s = 0, [], []
    missed: list[str] = []
    used: set[int] = set()
    for device, onset, failure in faults:
        hits = [i for i, (d, t) in enumerate(alerts) if d == device and onset <= t < failure]
        if not hits:
            missed.append(device)
        if hits:
            caught += 1
            first = min(alerts[i][1] for i in hits)
            leads.append((failure - first) / (failure - onset))
            lead_s.append(failure - first)
        used.update(hits)
    in_window = {
        i
        for i, (d, t) in enumerate(alerts)
        for dev, onset, failure in faults
        if d == dev and onset <= t < failure + 3600.0  # trips right at failure count as the fault's
    }
    false = len(alerts) - len(in_window | used)
    return {
        "faults": len(faults),
        "caught_before_failure": caught,
        "caught_share": round(caught / len(faults), 4) if faults else 1.0,
        "median_lead_share": round(float(np.median(leads)), 4) if leads else 0.0,
        "median_lead_hours": round(float(np.median(lead_s)) / 3600.0, 1) if lead_s else None,
        "false_alerts": false,
        "false_alerts_per_device_day": round(false / device_days, 4) if device_days else 0.0,
        "missed_devices": missed,
    }
