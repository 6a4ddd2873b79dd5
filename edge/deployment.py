"""Swapping a device's model while its samples keep coming, and taking it back if it misbehaves.

No sample goes unwatched at any point. For each target device:

1. **warming**: the new model runs in shadow beside the live one on the same samples, until
   its calibrator knows its normal tail (``min_history`` samples). Its alerts go nowhere.
2. **probation**: the new model goes live, taking over the alert state (an open alert stays
   open under its id); the old one now runs in shadow. Both count the alerts they raise on
   the same samples.
3. The deployment is **active** once every device that reported has had
   ``probation_samples`` under the new model with its alert count within
   ``max_alert_factor`` x the old model's (at least one alert of slack). It **rolls back** on
   every device as soon as the count goes beyond that: the old pipeline is live again,
   with the alert state handed back.

The pipeline a device ran before stays beside it, so a later ``revert`` restores it, learned
state and all. This module is sans-IO: the agent feeds it batches; what to report comes
back as :class:`StatusEvent` values for the agent to turn into outbox rows.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .device_state import DeviceState
from .pipeline import BatchResult, DevicePipeline
from .policy import TransitionKind

__all__ = ["Deployment", "StatusEvent", "probation_over", "roll_back", "shadow_step"]


@dataclass(frozen=True, slots=True)
class StatusEvent:
    state: str  # warming | probation | active | failed | rolled_back | reverted
    reason: str = ""


@dataclass
class Deployment:
    rollout_id: int
    version: str
    sha256: str
    devices: list[str]  # the devices it was started on
    probation_samples: int
    max_alert_factor: float
    state: str = "warming"
    samples: int = 0  # scored live by the new model during probation, all devices
    alerts_new: int = 0
    alerts_old: int = 0
    per_device: dict[str, int] = field(default_factory=dict)  # probation samples so far

    @property
    def settled(self) -> bool:
        return self.state in ("active", "rolled_back", "reverted", "failed")

    def bound(self) -> float:
        return self.max_alert_factor * max(self.alerts_old, 1)

    def counters(self) -> dict[str, int]:
        return {"samples": self.samples, "alerts_new": self.alerts_new, "alerts_old": self.alerts_old}


def _raises(result: BatchResult) -> int:
    return sum(tr.kind is TransitionKind.RAISE for tr in result.transitions)


def shadow_step(
    dep: Deployment,
    device_id: str,
    state: DeviceState,
    t: np.ndarray,
    rows: Callable[[DevicePipeline], np.ndarray],
    live: BatchResult,
) -> list[StatusEvent]:
    """After the live pipeline handled a batch: advance warming or probation for one device.

    ``rows(pipeline)`` lays the batch out in that pipeline's channel order; it is asked only
    for the one shadow pipeline this step runs.
    """
    events: list[StatusEvent] = []
    if state.candidate is not None:
        cand = state.candidate
        cand.process_batch(t, rows(cand))
        if cand.calibrator.history >= cand.calibrator.min_history:
            old = state.pipeline
            cand.policy, old.policy = old.policy, copy.deepcopy(old.policy)
            state.pipeline, state.previous, state.candidate = cand, old, None
            if dep.state == "warming":
                dep.state = "probation"
                events.append(StatusEvent("probation", f"live on {device_id} with the old model in shadow"))
        return events
    if dep.state != "probation" or state.previous is None or device_id not in dep.devices:
        return events
    old_result = state.previous.process_batch(t, rows(state.previous))
    dep.samples += len(t)
    dep.per_device[device_id] = dep.per_device.get(device_id, 0) + len(t)
    dep.alerts_new += _raises(live)
    dep.alerts_old += _raises(old_result)
    if dep.alerts_new > dep.bound():
        return [StatusEvent("rolled_back", _jump_reason(dep))]
    return events


def _jump_reason(dep: Deployment) -> str:
    return (
        f"alert rate jumped: {dep.alerts_new} raises by the new model against {dep.alerts_old} by the "
        f"old one on the same {dep.samples} samples (bound {dep.max_alert_factor:g}x)"
    )


def probation_over(dep: Deployment, reporting: set[str]) -> bool:
    """Every target device that has reported since the start has served its probation."""
    seen = [d for d in dep.devices if d in reporting]
    return bool(seen) and all(dep.per_device.get(d, 0) >= dep.probation_samples for d in seen)


def roll_back(states: dict[str, DeviceState], dep: Deployment) -> None:
    """The old pipelines live again on every device, with the current alert state (for a
    rollback, and for a revert after the deployment went active)."""
    for device_id in dep.devices:
        state = states.get(device_id)
        if state is None:
            continue
        if state.candidate is not None:
            state.candidate = None
        elif state.previous is not None:
            new = state.pipeline
            state.previous.policy = new.policy
            state.pipeline, state.previous = state.previous, None
