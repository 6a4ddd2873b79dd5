"""One simulated device over time: physics, faults, consumable wear, artefacts, messages.

:class:`DeviceSimulator` yields one :class:`DeviceChunk` per simulated day. The chunk
holds the telemetry rows (as arrays, for fast file output), the non-telemetry messages
(firmware trips, consumable counters, heartbeats) and the ground-truth records of what
happened, produced by the same code that made it happen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from firmware_bridge import ConsumableUsage, DeviceEvent, DeviceMessage, Heartbeat

from .fleet import DAY, DeviceSpec, FleetSpec
from .nuisance import NuisanceRates, inject_nuisances, offline_mask
from .physics import ARCHETYPES, ChunkInputs
from .truth import TruthRecord, consumable_record, fault_record
from .workshop import ServiceVisit, Workshop

__all__ = ["DeviceChunk", "DeviceSimulator"]

FIRMWARE = "1.4"
TRIP_SEVERITY = 3
POWER_ON = 0x0001
COUNTER_EVERY = 3600.0  # consumable counters and heartbeats, once an hour


@dataclass(slots=True)
class DeviceChunk:
    """A day of one device. ``t`` and the value arrays hold only delivered rows."""

    device_id: str
    t: NDArray[np.float64]
    values: dict[str, NDArray[np.float64]]
    messages: list[DeviceMessage] = field(default_factory=list)  # no seq yet; see stream.py
    truth: list[TruthRecord] = field(default_factory=list)


class DeviceSimulator:
    """Deterministic for a given fleet seed and device index."""

    def __init__(
        self,
        spec: DeviceSpec,
        fleet: FleetSpec,
        index: int,
        nuisances: NuisanceRates | None = None,
        workshop: Workshop | None = None,
    ) -> None:
        self.spec = spec
        self.fleet = fleet
        self.model = ARCHETYPES[spec.archetype]
        self.nuisances = nuisances or NuisanceRates()
        self.rng = np.random.default_rng([fleet.seed, index, 0xD371CE])
        self.state = self.model.initial_state(self.rng)
        self.wear = dict(spec.initial_wear)
        life = {c.name: c.life for c in self.model.consumables.values()}
        # Usage counters: what the device reports, in the consumable's unit, since replacement.
        self.counter = {c: w * life[c] for c, w in self.wear.items()}
        self.depleted_at: dict[str, float] = {}
        self.replace_at: dict[str, float] = {}
        self.tripped_at: float | None = None
        self.repaired_at: dict[str, float] = {}  # fault mode -> when the crew stopped it
        self.workshop = workshop
        self._next_counter = fleet.start

    @property
    def steps_per_chunk(self) -> int:
        return max(1, round(DAY / self.fleet.interval))

    def chunks(self) -> Iterator[DeviceChunk]:
        n_total = round(self.fleet.days * DAY / self.fleet.interval)
        for k, first in enumerate(range(0, n_total, self.steps_per_chunk)):
            n = min(self.steps_per_chunk, n_total - first)
            t = self.fleet.start + (first + np.arange(n)) * self.fleet.interval
            if self.workshop is not None:
                for visit in self.workshop.take(self.spec.device_id):
                    self.service(visit)
            yield self._chunk(t, first_chunk=k == 0)

    def service(self, visit: ServiceVisit) -> None:
        """A crew's visit: a repaired fault stops developing, a replaced part starts new."""
        if visit.repaired_fault is not None:
            self.repaired_at.setdefault(visit.repaired_fault, visit.at)
        if visit.replaced is not None and visit.replaced in self.wear:
            self.replace_at[visit.replaced] = visit.at

    def _severity(self, t: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        out = {}
        for plan in self.spec.faults:
            shape = self.model.faults[plan.mode].shape
            progress = np.clip((t - plan.onset) / (plan.failure - plan.onset), 0.0, 1.0)
            progress[t >= self.repaired_at.get(plan.mode, np.inf)] = 0.0
            out[plan.mode] = progress**shape
        return out

    def _chunk(self, t: NDArray[np.float64], first_chunk: bool) -> DeviceChunk:
        spec = self.spec
        chunk = DeviceChunk(spec.device_id, t, {})
        if first_chunk:
            chunk.truth += [fault_record(spec, plan, self.fleet.end) for plan in spec.faults]
            chunk.messages.append(DeviceEvent(spec.device_id, float(t[0]), 0, POWER_ON, 0))
        failed = np.zeros(len(t), dtype=bool)
        for plan in spec.faults:  # failed from the failure until a repair, if one came
            failed |= (t >= plan.failure) & (t < self.repaired_at.get(plan.mode, np.inf))
        wear = {c: self._wear_path(c, t) for c in self.wear}
        result = self.model.generate(ChunkInputs(t, self.state, self.rng, self._severity(t), wear, failed))
        self.state = result.state
        if failed.any() and self.tripped_at is None:
            self.tripped_at = float(t[np.argmax(failed)])
            plan = min((p for p in spec.faults if p.failure <= self.tripped_at), key=lambda p: p.failure)
            code = self.model.faults[plan.mode].trip_code
            chunk.messages.append(DeviceEvent(spec.device_id, self.tripped_at, 0, code, TRIP_SEVERITY))
        self._advance_consumables(t, result.usage, result.wear_rate, chunk)
        values = inject_nuisances(result.values, self.rng, self.nuisances)
        present = offline_mask(self.rng, len(t), self.nuisances)
        jitter = self.rng.uniform(-0.4, 0.4, len(t))
        chunk.t = (t + jitter)[present]
        chunk.values = {name: values[name][present] for name in self.model.channels}
        chunk.messages.sort(key=lambda m: m.timestamp)
        return chunk

    def _wear_path(self, name: str, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Wear the physics sees: the day's starting wear, zero after a replacement."""
        path = np.full(len(t), self.wear[name])
        swap = self.replace_at.get(name)
        if swap is not None:
            path[t >= swap] = 0.0
        return path

    def _advance_consumables(
        self,
        t: NDArray[np.float64],
        usage: dict[str, NDArray[np.float64]],
        rate: dict[str, NDArray[np.float64]],
        chunk: DeviceChunk,
    ) -> None:
        dev = self.spec.device_id
        boundaries = np.flatnonzero(np.diff(np.floor((t - self.fleet.start) / COUNTER_EVERY), prepend=-1) > 0)
        for name, model in self.model.consumables.items():
            wear_inc = usage[name] * rate[name] / model.life
            swap = self.replace_at.get(name)
            wear = self.wear[name] + np.cumsum(wear_inc)
            counter = self.counter[name] + np.cumsum(usage[name])
            fresh_from = 0  # depletion is looked for from here (after a replacement)
            if swap is not None and swap <= t[-1] + self.fleet.interval:
                swap = max(swap, float(t[0]))  # a crew's swap during yesterday shows from today on
                after = t >= swap
                fresh_from = int(np.argmax(after)) if after.any() else len(t)
                base_w = wear[~after][-1] if (~after).any() else self.wear[name]
                base_c = counter[~after][-1] if (~after).any() else self.counter[name]
                wear[after] -= base_w
                counter[after] -= base_c
                chunk.messages.append(ConsumableUsage(dev, float(swap), 0, name, model.unit, 0.0, True))
                chunk.truth.append(consumable_record(self.spec, name, "replaced", float(swap)))
                del self.replace_at[name]
                self.depleted_at.pop(name, None)
            crossed = np.flatnonzero(wear[fresh_from:] >= 1.0)
            if name not in self.depleted_at and len(crossed):
                when = float(t[fresh_from + crossed[0]])
                self.depleted_at[name] = when
                chunk.truth.append(consumable_record(self.spec, name, "depleted", when))
                if self.fleet.replace_after_days is not None:
                    self.replace_at[name] = when + self.fleet.replace_after_days * DAY
            for i in boundaries:
                chunk.messages.append(
                    ConsumableUsage(dev, float(t[i]), 0, name, model.unit, round(float(counter[i]), 3))
                )
            self.wear[name], self.counter[name] = float(wear[-1]), float(counter[-1])
        for i in boundaries:
            uptime = int(t[i] - self.fleet.start)
            chunk.messages.append(
                Heartbeat(dev, float(t[i]), 0, uptime, FIRMWARE, int(self.tripped_at is not None))
            )
