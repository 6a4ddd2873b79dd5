"""One device's stage of the agent: its messages in, its contract messages out.

The agent (``edge/agent.py``) routes each message to the worker of the device it names and
keeps what spans devices (model rollouts, checkpoints). A worker owns the device's
:class:`~edge.device_state.DeviceState` and does the device's jobs in order: detect a run
of samples as one batch, then account for them row by row (summary windows, evidence,
the RUL window, consumable condition), turn the pipeline's transitions into alerts, and
report device events and consumable usage.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from firmware_bridge import ConsumableUsage, DeviceEvent, Sample
from firmware_bridge.contract import (
    AlertMessage,
    ConsumableStatusMessage,
    EvidencePoint,
    FaultEventMessage,
    TelemetrySummaryMessage,
    message_id,
)
from models.rul_onnx import RulPredictor

from .consumables import Condition, ConsumableTracker
from .device_state import DeviceState
from .pipeline import BatchResult
from .policy import Transition
from .rul import RulTracker

__all__ = ["DeviceWorker", "Header"]

_SEVERITY = {1: "warning", 2: "major", 3: "critical"}


@dataclass(frozen=True, slots=True)
class Header:
    """The fields every outgoing message has: who sends it, and when."""

    tenant: str
    agent_id: str
    clock: Callable[[], float]

    def fields(self, device_id: str | None, mid: str) -> dict[str, Any]:
        """Agent-level messages (model status) name no device."""
        base: dict[str, Any] = {"message_id": mid, "tenant": self.tenant, "agent_id": self.agent_id}
        base["created_at"] = self.clock()
        return base if device_id is None else {**base, "device_id": device_id}


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """What a worker needs from the agent's settings."""

    summary_every_s: float
    consumable_every_s: float
    rated_life: dict[str, float]
    condition: dict[str, Condition]


class DeviceWorker:
    def __init__(
        self,
        device_id: str,
        state: DeviceState,
        header: Header,
        settings: WorkerSettings,
        rul_model: RulPredictor | None = None,
    ) -> None:
        self.device_id = device_id
        self.state = state
        self.header = header
        self.settings = settings
        self.rul_model = rul_model

    # -- samples: detect, then account ------------------------------------------------
    def detect(self, samples: list[Sample]) -> tuple[NDArray[np.float64], BatchResult]:
        """A run of this device's samples through its pipeline as one batch."""
        pipe = self.state.pipeline
        new = [n for s in samples for n in s.values if n not in pipe.detector.features]
        if new:
            pipe.add_features(list(dict.fromkeys(new)))
        features = pipe.detector.features
        X = np.array([[s.values.get(f, math.nan) for f in features] for s in samples], dtype=np.float64)
        t = np.array([s.timestamp for s in samples])
        return t, pipe.process_batch(t, X)

    def account(self, samples: list[Sample], result: BatchResult) -> list[Any]:
        """Row by row: summaries when a window closes, evidence, RUL and consumable condition,
        and an alert for each transition the batch made."""
        state, pipe = self.state, self.state.pipeline
        out: list[Any] = []
        transitions = list(zip(result.transition_rows, result.transitions, strict=True))
        every = self.settings.summary_every_s
        rows = zip(samples, result.score.tolist(), result.health.tolist(), strict=True)
        features = pipe.detector.features
        for i, (sample, score, health) in enumerate(rows):
            if state.window.due(sample.timestamp, every):
                out.append(self.summary())
            state.window.add(sample.timestamp, sample.values, score, health, every)
            state.evidence.append((sample.timestamp, dict(sample.values), score))
            if self.rul_model is not None:
                state.rul = RulTracker.feed(state.rul, self.rul_model, sample.timestamp, sample.values)
            for tracker in state.consumables.values():
                if tracker.condition is not None and tracker.condition.channel in sample.values:
                    tracker.observe(sample.timestamp, sample.values[tracker.condition.channel])
            while transitions and transitions[0][0] == i:
                tr = transitions.pop(0)[1]
                row = np.array([[sample.values.get(f, math.nan) for f in features]])
                out.append(self.alert(tr, row))
        return out

    def alert(self, tr: Transition, row: NDArray[np.float64]) -> AlertMessage:
        state, pipe = self.state, self.state.pipeline
        alert_id, fault_key = state.incidents.follow(self.device_id, pipe, tr, row)
        health = pipe.trend.tracker.estimate(tr.at)
        failure_at, failure_ci = health.predicted_failure_at, health.ci
        rul_cycles = None
        if state.rul is not None and self.rul_model is not None:
            call = state.rul.call(self.rul_model, tr.at)
            if call is not None:
                # A model trained on this kind of machine's run-to-failure history knows more
                # than a straight line through the health index: its call wins.
                failure_at, failure_ci, rul_cycles = call.failure_at, call.failure_ci, call.cycles
        evidence = [
            EvidencePoint(t=t, values={k: (None if math.isnan(v) else v) for k, v in vals.items()}, score=s)
            for t, vals, s in state.evidence
        ]
        return AlertMessage(
            **self.header.fields(self.device_id, message_id(alert_id, tr.kind.value, tr.at)),
            alert_id=alert_id,
            transition=tr.kind.value,
            fault_key=fault_key or "multivariate",
            severity=_SEVERITY[int(tr.severity)],  # type: ignore[arg-type]
            score=min(max(tr.score, 0.0), 1.0),
            peak=min(max(tr.peak, 0.0), 1.0),
            at=tr.at,
            detector=pipe.name,
            model_version=pipe.version,
            cause=tr.cause,  # type: ignore[arg-type]
            evidence=evidence,
            health=health.health,
            predicted_failure_at=failure_at,
            predicted_failure_ci=failure_ci,
            rul_cycles=rul_cycles,
        )

    def summary(self) -> TelemetrySummaryMessage:
        """The summary of the window that just closed (or, at shutdown, the open one)."""
        start, channels, max_score, health = self.state.window.take()
        end = start + self.settings.summary_every_s
        forecast = self.state.pipeline.trend.tracker.estimate(end)
        # the samples it covers are part of its identity: a window cut short by a graceful
        # restart and the same window completed later are two summaries, not a duplicate
        covered = sum(c.count for c in channels.values())
        rul = self.state.rul.call(self.rul_model, end) if self.state.rul and self.rul_model else None
        return TelemetrySummaryMessage(
            **self.header.fields(self.device_id, message_id(self.device_id, "summary", start, covered)),
            window_start=start,
            window_end=end,
            channels=channels,
            max_score=max_score,
            health=health,
            predicted_failure_at=forecast.predicted_failure_at,
            rul_cycles=rul.cycles if rul is not None else None,
        )

    # -- events and consumables ---------------------------------------------------------
    def event(self, ev: DeviceEvent) -> FaultEventMessage:
        if ev.name == "service_done":
            # repaired or renewed: health is measured against the machine as it is now
            self.state.pipeline.reset_baseline()
        return FaultEventMessage(
            **self.header.fields(ev.device_id, message_id(ev.device_id, "fault", ev.code, ev.timestamp)),
            code=ev.code,
            name=ev.name,
            severity=ev.severity,
            at=ev.timestamp,
        )

    def consumable(self, cu: ConsumableUsage) -> list[ConsumableStatusMessage]:
        state = self.state
        tracker = state.consumables.get(cu.consumable)
        if tracker is None:
            life = self.settings.rated_life.get(cu.consumable)
            if life is None:
                return []  # no rated life known: nothing to predict; usage still in summaries
            condition = self.settings.condition.get(cu.consumable)
            tracker = state.consumables[cu.consumable] = ConsumableTracker(life, condition)
        est = tracker.update(cu.timestamp, cu.value, cu.replaced)
        last = state.consumable_sent.get(cu.consumable, -math.inf)
        if not cu.replaced and cu.timestamp - last < self.settings.consumable_every_s:
            return []
        state.consumable_sent[cu.consumable] = cu.timestamp
        mid = message_id(cu.device_id, cu.consumable, cu.timestamp, cu.replaced)
        return [
            ConsumableStatusMessage(
                **self.header.fields(cu.device_id, mid),
                consumable=cu.consumable,
                unit=cu.unit,
                usage=max(est.usage, 0.0),
                remaining_fraction=est.remaining_fraction,
                predicted_depletion_at=est.predicted_depletion_at,
                predicted_depletion_ci=est.ci,
                replaced=cu.replaced,
                at=cu.timestamp,
            )
        ]
