"""The edge agent's core, sans-IO: device messages in, contract messages out.

``Agent.handle(msg)`` runs a device's pipeline (created the first time the device is
seen), keeps per-minute telemetry summaries, consumable estimates and the health trend,
and returns the :class:`~edge.outbox.PendingMessage` rows to store. Sources, the outbox
and the uplink are the runner's business (``edge/runner.py``), so this module is tested
without ports, brokers or clocks.
"""

from __future__ import annotations

import math
import pickle
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_bridge import ConsumableUsage, DeviceEvent, DeviceMessage, Sample
from firmware_bridge.contract import (
    AlertMessage,
    ConsumableStatusMessage,
    EvidencePoint,
    FaultEventMessage,
    ModelStatusMessage,
    TelemetrySummaryMessage,
    edge_topic,
    message_id,
)
from models.registry import DEFAULT_DETECTOR, make_detector

from . import deployment as deploy
from .consumables import CONDITION, RATED_LIFE, Condition, ConsumableTracker
from .deployment import Deployment, StatusEvent
from .device_state import DeviceState
from .pending import PendingMessage
from .pipeline import BatchResult, DevicePipeline
from .policy import AlertPolicy, Transition
from .rul import RulTracker, load_rul_model

__all__ = ["Agent", "AgentSettings", "DeviceState"]

_SEVERITY = {1: "warning", 2: "major", 3: "critical"}


@dataclass(frozen=True, slots=True)
class AgentSettings:
    tenant: str = "demo"
    agent_id: str = "edge-1"
    detector: str = DEFAULT_DETECTOR
    model_version: str = f"{DEFAULT_DETECTOR}-1"
    summary_every_s: float = 60.0
    evidence_len: int = 30
    consumable_every_s: float = 3600.0
    rated_life: dict[str, float] = field(default_factory=lambda: dict(RATED_LIFE))
    condition: dict[str, Condition] = field(default_factory=lambda: dict(CONDITION))
    policy: dict[str, float] = field(default_factory=dict)  # AlertPolicy overrides
    rul_model: str | None = None  # a RUL model (prognos models train-rul) for devices with its channels


class Agent:
    def __init__(self, settings: AgentSettings, clock: Any = None) -> None:
        import time

        self.settings = settings
        self.clock = clock or time.time
        self.devices: dict[str, DeviceState] = {}
        self.dirty: set[str] = set()  # devices changed since the last checkpoint
        self.deployment: Deployment | None = None  # the latest model rollout to this agent
        self._reporting: set[str] = set()  # devices that sent samples since it began
        self.rul_model = load_rul_model(settings.rul_model)

    # -- state ----------------------------------------------------------------------
    def _device(self, device_id: str) -> DeviceState:
        state = self.devices.get(device_id)
        if state is None:
            detector = make_detector(self.settings.detector)
            s = self.settings
            pipeline = DevicePipeline(
                detector, policy=AlertPolicy(**s.policy), name=s.detector, version=s.model_version  # type: ignore[arg-type]
            )
            state = DeviceState(pipeline, evidence=deque(maxlen=self.settings.evidence_len))
            self.devices[device_id] = state
        return state

    def checkpoint(self, only_dirty: bool = True) -> dict[str, bytes]:
        """Pickled device states to store with the outbox rows they produced."""
        ids = self.dirty if only_dirty else set(self.devices)
        out = {f"device/{d}": pickle.dumps(self.devices[d], protocol=pickle.HIGHEST_PROTOCOL) for d in ids}
        if self.deployment is not None:
            out["deployment"] = pickle.dumps((self.deployment, self._reporting))
        self.dirty = set()
        return out

    def restore(self, checkpoints: dict[str, bytes]) -> int:
        for key, blob in checkpoints.items():
            if key.startswith("device/"):
                self.devices[key[7:]] = pickle.loads(blob)  # noqa: S301 - our own file
            elif key == "deployment":
                self.deployment, self._reporting = pickle.loads(blob)  # noqa: S301
        return len(self.devices)

    # -- messages ---------------------------------------------------------------------
    def handle(self, msg: DeviceMessage) -> list[PendingMessage]:
        self.dirty.add(msg.device_id)
        if isinstance(msg, Sample):
            return self._samples(msg.device_id, [msg])
        if isinstance(msg, DeviceEvent):
            if msg.name == "service_done":
                # repaired or renewed: health is measured against the machine as it is now
                self._device(msg.device_id).pipeline.reset_baseline()
            return [self._fault(msg)]
        if isinstance(msg, ConsumableUsage):
            return self._consumable(msg)
        return []  # heartbeats only prove liveness; the broker's last will covers the agent

    def handle_many(self, msgs: Sequence[DeviceMessage]) -> list[PendingMessage]:
        """Several messages at once, for an agent that has fallen behind its sources.

        Each device's messages keep their order; a run of one device's samples goes
        through its pipeline as one micro-batch (scored against the state at the run's
        start, then learned), which is what lets a busy agent catch up. Devices do not
        affect each other, so their outputs may interleave differently than their inputs.
        """
        by_device: dict[str, list[DeviceMessage]] = {}
        for msg in msgs:
            by_device.setdefault(msg.device_id, []).append(msg)
        out: list[PendingMessage] = []
        for device_id, own in by_device.items():
            self.dirty.add(device_id)
            run: list[Sample] = []
            for msg in own:
                if isinstance(msg, Sample):
                    run.append(msg)
                    continue
                if run:
                    out += self._samples(device_id, run)
                    run = []
                out += self.handle(msg)
            if run:
                out += self._samples(device_id, run)
        return out

    def flush(self) -> list[PendingMessage]:
        """Summaries of the open windows (at shutdown)."""
        out = []
        for device_id, state in self.devices.items():
            if state.window.channels:
                out.append(self._summary(device_id, state))
        return out

    def _pending(self, m: Any) -> PendingMessage:
        topic = edge_topic(self.settings.tenant, self.settings.agent_id, m.kind)
        return PendingMessage(m.message_id, m.kind, topic, m.model_dump_json().encode(), m.created_at)

    def _base(self, device_id: str | None, mid: str) -> dict[str, Any]:
        """The fields every outgoing message has; agent-level ones (model status) name no device."""
        s = self.settings
        base = {"message_id": mid, "tenant": s.tenant, "agent_id": s.agent_id, "created_at": self.clock()}
        return base if device_id is None else {**base, "device_id": device_id}

    def _samples(self, device_id: str, samples: list[Sample]) -> list[PendingMessage]:
        """One device's consecutive samples: detect as a batch, then account row by row."""
        state = self._device(device_id)
        pipe = state.pipeline
        new = [n for s in samples for n in s.values if n not in pipe.detector.features]
        if new:
            pipe.add_features(list(dict.fromkeys(new)))
        features = pipe.detector.features
        X = np.array([[s.values.get(f, math.nan) for f in features] for s in samples], dtype=np.float64)
        t = np.array([s.timestamp for s in samples])
        result = pipe.process_batch(t, X)
        transitions = list(zip(result.transition_rows, result.transitions, strict=True))
        out: list[PendingMessage] = self._deployment_step(device_id, state, samples, t, result)
        every = self.settings.summary_every_s
        rows = zip(samples, result.score.tolist(), result.health.tolist(), strict=True)
        for i, (sample, score, health) in enumerate(rows):
            if state.window.due(sample.timestamp, every):
                out.append(self._summary(device_id, state))
            state.window.add(sample.timestamp, sample.values, score, health, every)
            state.evidence.append((sample.timestamp, dict(sample.values), score))
            if self.rul_model is not None:
                state.rul = RulTracker.feed(state.rul, self.rul_model, sample.timestamp, sample.values)
            for tracker in state.consumables.values():
                if tracker.condition is not None and tracker.condition.channel in sample.values:
                    tracker.observe(sample.timestamp, sample.values[tracker.condition.channel])
            while transitions and transitions[0][0] == i:
                tr = transitions.pop(0)[1]
                out.append(self._transition(device_id, state, pipe, tr, X[i : i + 1]))
        return out

    # -- model rollouts (see edge/deployment.py) ------------------------------------
    def begin_deployment(
        self, dep: Deployment, candidates: dict[str, DevicePipeline], skipped: dict[str, str]
    ) -> list[PendingMessage]:
        """Start warming ``candidates`` (device -> new pipeline) in shadow; a rollout still
        under way is rolled back first, as this one supersedes it."""
        if self.deployment is not None and not self.deployment.settled:
            deploy.roll_back(self.devices, self.deployment)
        self.deployment, self._reporting = dep, set()
        dep.devices = sorted(candidates)
        for device_id, candidate in candidates.items():
            self._device(device_id).candidate = candidate  # warms in shadow beside the live one
            self.dirty.add(device_id)
        why = "; ".join(f"{d}: {r}" for d, r in sorted(skipped.items()))
        if not candidates:
            dep.state = "failed"
            return [self.model_status("failed", f"no device can run it ({why or 'none targeted here'})")]
        return [
            self.model_status("warming", f"{len(candidates)} device(s)" + (f"; skipped {why}" if why else ""))
        ]

    def revert_deployment(self, order: Deployment) -> list[PendingMessage]:
        """Undo rollout ``order.rollout_id`` if it is the one this agent carried out last."""
        dep = self.deployment
        if dep is None or dep.rollout_id != order.rollout_id:
            return [self.model_status("reverted", "not running it: nothing to undo", order)]
        if dep.state != "reverted":
            deploy.roll_back(self.devices, dep)
            self.dirty.update(dep.devices)
            dep.state = "reverted"
        return [self.model_status("reverted", "back on the previous model", dep)]

    def model_status(self, state: str, reason: str = "", dep: Deployment | None = None) -> PendingMessage:
        """A report on a rollout (``dep``, by default the current one) for the cloud."""
        dep = dep or self.deployment
        assert dep is not None, "a model status is always about some rollout"
        mid = message_id(self.settings.agent_id, "model", dep.rollout_id, state, self.clock())
        msg = ModelStatusMessage(
            **self._base(None, mid),
            rollout_id=dep.rollout_id,
            version=dep.version,
            sha256=dep.sha256,
            state=state,  # type: ignore[arg-type]
            reason=reason[:2000],
            devices=len(dep.devices),
            samples=dep.samples,
            alerts_new=dep.alerts_new,
            alerts_old=dep.alerts_old,
        )
        return self._pending(msg)

    def _deployment_step(
        self, device_id: str, state: DeviceState, samples: list[Sample], t: np.ndarray, live: BatchResult
    ) -> list[PendingMessage]:
        dep = self.deployment
        if dep is None or dep.settled or device_id not in dep.devices:
            return []
        self._reporting.add(device_id)

        def rows(p: DevicePipeline) -> np.ndarray:  # the batch in that pipeline's channel order
            return np.array([[s.values.get(f, math.nan) for f in p.detector.features] for s in samples])

        events = deploy.shadow_step(dep, device_id, state, t, rows, live)
        if not events and dep.state == "probation" and deploy.probation_over(dep, self._reporting):
            dep.state = "active"  # the old pipelines stop scoring but stay for a revert
            events = [StatusEvent("active", f"probation passed on {len(dep.per_device)} device(s)")]
        for ev in events:
            if ev.state == "rolled_back":
                deploy.roll_back(self.devices, dep)
                dep.state = "rolled_back"
                self.dirty.update(dep.devices)
        return [self.model_status(ev.state, ev.reason) for ev in events]

    def _transition(
        self, device_id: str, state: DeviceState, pipe: DevicePipeline, tr: Transition, row: np.ndarray
    ) -> PendingMessage:
        alert_id, key = state.incidents.follow(device_id, pipe, tr, row)
        return self._alert(device_id, state, tr, alert_id, key, pipe)

    def _alert(
        self,
        device_id: str,
        state: DeviceState,
        tr: Transition,
        alert_id: str,
        fault_key: str,
        pipe: DevicePipeline,
    ) -> PendingMessage:
        health = pipe.trend.tracker.estimate(tr.at)
        failure_at, failure_ci = health.predicted_failure_at, health.ci
        if state.rul is not None and self.rul_model is not None:
            rul_at = state.rul.failure_at(self.rul_model, tr.at)
            if rul_at is not None:
                # A model trained on this kind of machine's run-to-failure history knows more
                # than a straight line through the health index: its call wins.
                failure_at, failure_ci = rul_at, None
        evidence = [
            EvidencePoint(t=t, values={k: (None if math.isnan(v) else v) for k, v in vals.items()}, score=s)
            for t, vals, s in state.evidence
        ]
        msg = AlertMessage(
            **self._base(device_id, message_id(alert_id, tr.kind.value, tr.at)),
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
        )
        return self._pending(msg)

    def _summary(self, device_id: str, state: DeviceState) -> PendingMessage:
        start, channels, max_score, health = state.window.take()
        end = start + self.settings.summary_every_s
        forecast = state.pipeline.trend.tracker.estimate(end)
        msg = TelemetrySummaryMessage(
            **self._base(device_id, message_id(device_id, "summary", start)),
            window_start=start,
            window_end=end,
            channels=channels,
            max_score=max_score,
            health=health,
            predicted_failure_at=forecast.predicted_failure_at,
        )
        return self._pending(msg)

    def _fault(self, ev: DeviceEvent) -> PendingMessage:
        msg = FaultEventMessage(
            **self._base(ev.device_id, message_id(ev.device_id, "fault", ev.code, ev.timestamp)),
            code=ev.code,
            name=ev.name,
            severity=ev.severity,
            at=ev.timestamp,
        )
        return self._pending(msg)

    def _consumable(self, cu: ConsumableUsage) -> list[PendingMessage]:
        state = self._device(cu.device_id)
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
        msg = ConsumableStatusMessage(
            **self._base(cu.device_id, message_id(cu.device_id, cu.consumable, cu.timestamp, cu.replaced)),
            consumable=cu.consumable,
            unit=cu.unit,
            usage=max(est.usage, 0.0),
            remaining_fraction=est.remaining_fraction,
            predicted_depletion_at=est.predicted_depletion_at,
            predicted_depletion_ci=est.ci,
            replaced=cu.replaced,
            at=cu.timestamp,
        )
        return [self._pending(msg)]
