"""Which incident an alert transition belongs to, and what fault it names.

A device can have two open alerts at once, one per cause: a *surprise* (the anomaly score
rose) and a *trend* (the health index fell). Each is its own incident with its own id,
the same for its raise, updates and clear, so the cloud can follow it. Both name their
fault by the channels behind it, so the cloud's "one work order per device and fault"
joins a sudden symptom and the slow wear behind it into one order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from firmware_bridge.contract import message_id
from models.base import ExplainingDetector

from .pipeline import DevicePipeline
from .policy import Transition, TransitionKind

__all__ = ["Incidents", "fault_key"]


def fault_key(pipe: DevicePipeline, row: np.ndarray, cause: str) -> str:
    """The one or two channels that drove a transition (``multivariate`` when none stands out)."""
    if cause == "trend":
        return "+".join(sorted(pipe.degradation.drivers())) or "multivariate"
    if not isinstance(pipe.detector, ExplainingDetector):
        return "multivariate"
    comp = pipe.detector.channel_scores(row)[0]
    if np.isnan(comp).all():
        return "multivariate"
    top = np.argsort(-np.nan_to_num(comp, nan=-1.0))[:2]
    names = [pipe.detector.features[i] for i in top if comp[i] >= 0.5 * np.nanmax(comp)]
    return "+".join(sorted(names))


@dataclass
class Incidents:
    """The open incident of each cause on one device."""

    ids: dict[str, str] = field(default_factory=dict)  # cause -> alert id
    keys: dict[str, str] = field(default_factory=dict)  # cause -> fault key

    def follow(
        self, device_id: str, pipe: DevicePipeline, tr: Transition, row: np.ndarray
    ) -> tuple[str, str]:
        """(alert id, fault key) for this transition; a clear closes the incident."""
        cause = tr.cause
        if tr.kind is TransitionKind.RAISE or cause not in self.ids:
            key = fault_key(pipe, row, cause)
            # a surprise's id is (device, fault, time) as it always was; a trend's says so
            parts = (device_id, key, tr.at) if cause == "surprise" else (device_id, cause, key, tr.at)
            self.ids[cause], self.keys[cause] = message_id(*parts), key
        alert_id, key = self.ids[cause], self.keys[cause]
        if tr.kind is TransitionKind.CLEAR:
            del self.ids[cause], self.keys[cause]
        return alert_id, key
