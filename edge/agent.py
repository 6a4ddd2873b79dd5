"""The edge agent's core, sans-IO: device messages in, contract messages out.

``Agent.handle(msg)`` routes a message to the :class:`~edge.device_worker.DeviceWorker`
of the device it names (created the first time the device is seen) and returns the
contract messages (``firmware_bridge.contract``) that came of it. What spans devices stays
here: model rollouts (the shadow run and its verdicts, see ``edge/deployment.py``) and
checkpoints (``edge/checkpoint.py``). Sources, the outbox and the uplink are the runner's
business (``edge/runner.py``, which wraps each message for the outbox), so this module is
tested without ports, brokers or clocks.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_bridge import ConsumableUsage, DeviceEvent, DeviceMessage, Sample
from firmware_bridge.contract import (
    ModelStatusMessage,
    message_id,
)
from models.degradation import DegradationTracker
from models.registry import DEFAULT_DETECTOR, make_detector

from . import checkpoint
from . import deployment as deploy
from .consumables import CONDITION, RATED_LIFE, Condition, condition_channels
from .deployment import Deployment, StatusEvent
from .device_state import DeviceState
from .device_worker import DeviceWorker, Header, WorkerSettings
from .pipeline import BatchResult, DevicePipeline
from .policy import AlertPolicy
from .rul import load_rul_model

__all__ = ["Agent", "AgentSettings", "DeviceState"]


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
        self.restore_errors: list[str] = []  # checkpoints that could not be read, and why
        self.rul_model = load_rul_model(settings.rul_model)
        self.header = Header(settings.tenant, settings.agent_id, self.clock)
        self._worker_settings = WorkerSettings(
            settings.summary_every_s, settings.consumable_every_s, settings.rated_life, settings.condition
        )
        self._workers: dict[str, DeviceWorker] = {}

    # -- state ----------------------------------------------------------------------
    def _device(self, device_id: str) -> DeviceState:
        return self._worker(device_id).state

    def _worker(self, device_id: str) -> DeviceWorker:
        """The device's worker, over its state (new, or restored from a checkpoint)."""
        state = self.devices.get(device_id)
        if state is None:
            detector = make_detector(self.settings.detector)
            s = self.settings
            pipeline = DevicePipeline(
                detector,
                policy=AlertPolicy(**s.policy),  # type: ignore[arg-type]
                name=s.detector,
                version=s.model_version,
                # the channels that measure a consumable's condition leave the health index
                degradation=DegradationTracker(ignore=condition_channels(s.condition)),
            )
            state = DeviceState(pipeline, evidence=deque(maxlen=self.settings.evidence_len))
            self.devices[device_id] = state
        worker = self._workers.get(device_id)
        if worker is None or worker.state is not state:
            worker = DeviceWorker(device_id, state, self.header, self._worker_settings, self.rul_model)
            self._workers[device_id] = worker
        return worker

    def checkpoint(self, only_dirty: bool = True) -> dict[str, bytes]:
        """Device states (see :mod:`edge.checkpoint`) to store with the outbox rows they produced."""
        ids = self.dirty if only_dirty else set(self.devices)
        out = {f"device/{d}": checkpoint.encode(self.devices[d]) for d in ids}
        if self.deployment is not None:
            out["deployment"] = checkpoint.encode((self.deployment, self._reporting))
        self.dirty = set()
        return out

    def restore(self, checkpoints: dict[str, bytes]) -> int:
        """Load what :meth:`checkpoint` stored. A state this version cannot read (another
        format, a River of another version) is skipped: that device starts afresh, the others
        carry on, and :attr:`restore_errors` says which and why."""
        for key, blob in checkpoints.items():
            try:
                if key.startswith("device/"):
                    self.devices[key[7:]] = checkpoint.decode(blob)
                elif key == "deployment":
                    self.deployment, self._reporting = checkpoint.decode(blob)
            except (checkpoint.CheckpointError, ValueError, KeyError, TypeError) as exc:
                self.restore_errors.append(f"{key}: {exc}")
        return len(self.devices)

    # -- messages ---------------------------------------------------------------------
    def handle(self, msg: DeviceMessage) -> list[Any]:
        self.dirty.add(msg.device_id)
        if isinstance(msg, Sample):
            return self._samples(msg.device_id, [msg])
        if isinstance(msg, DeviceEvent):
            return [self._worker(msg.device_id).event(msg)]
        if isinstance(msg, ConsumableUsage):
            return self._worker(msg.device_id).consumable(msg)
        return []  # heartbeats only prove liveness; the broker's last will covers the agent

    def handle_many(self, msgs: Sequence[DeviceMessage]) -> list[Any]:
        """Several messages at once, for an agent that has fallen behind its sources.

        Each device's messages keep their order; a run of one device's samples goes
        through its pipeline as one micro-batch (scored against the state at the run's
        start, then learned), which is what lets a busy agent catch up. Devices do not
        affect each other, so their outputs may interleave differently than their inputs.
        """
        by_device: dict[str, list[DeviceMessage]] = {}
        for msg in msgs:
            by_device.setdefault(msg.device_id, []).append(msg)
        out: list[Any] = []
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

    def flush(self) -> list[Any]:
        """Summaries of the open windows (at shutdown)."""
        return [self._worker(d).summary() for d, st in self.devices.items() if st.window.channels]

    def _samples(self, device_id: str, samples: list[Sample]) -> list[Any]:
        """One device's consecutive samples: detect as a batch, judge a rollout in shadow,
        then account row by row."""
        worker = self._worker(device_id)
        t, result = worker.detect(samples)
        shadow = self._deployment_step(device_id, worker.state, samples, t, result)
        return shadow + worker.account(samples, result)

    # -- model rollouts (see edge/deployment.py) ------------------------------------
    def begin_deployment(
        self, dep: Deployment, candidates: dict[str, DevicePipeline], skipped: dict[str, str]
    ) -> list[Any]:
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

    def revert_deployment(self, order: Deployment) -> list[Any]:
        """Undo rollout ``order.rollout_id`` if it is the one this agent carried out last."""
        dep = self.deployment
        if dep is None or dep.rollout_id != order.rollout_id:
            return [self.model_status("reverted", "not running it: nothing to undo", order)]
        if dep.state != "reverted":
            deploy.roll_back(self.devices, dep)
            self.dirty.update(dep.devices)
            dep.state = "reverted"
        return [self.model_status("reverted", "back on the previous model", dep)]

    def model_status(self, state: str, reason: str = "", dep: Deployment | None = None) -> ModelStatusMessage:
        """A report on a rollout (``dep``, by default the current one) for the cloud."""
        dep = dep or self.deployment
        assert dep is not None, "a model status is always about some rollout"
        mid = message_id(self.settings.agent_id, "model", dep.rollout_id, state, self.clock())
        msg = ModelStatusMessage(
            **self.header.fields(None, mid),
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
        return msg

    def _deployment_step(
        self, device_id: str, state: DeviceState, samples: list[Sample], t: np.ndarray, live: BatchResult
    ) -> list[Any]:
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
