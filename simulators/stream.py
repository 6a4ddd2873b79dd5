"""Streaming mode: the whole fleet as one time-ordered message stream, paced by a clock.

Every device's rows and messages are numbered (``seq``) in its own time order, then
the devices are merged by timestamp. A :class:`SimClock` maps simulated time to wall
time (``speed`` simulated seconds per second; 0 = as fast as the sinks take them).
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Protocol

import numpy as np

from firmware_bridge import DeviceMessage, Sample

from .device import DeviceChunk, DeviceSimulator
from .fleet import FleetSpec
from .truth import TruthRecord
from .workshop import Workshop

__all__ = ["MessageSink", "SimClock", "fleet_messages", "run_stream"]


class MessageSink(Protocol):
    """Where a device's messages go: a serial line, an MQTT broker, a list in a test."""

    def send(self, msg: DeviceMessage) -> None: ...

    def close(self) -> None: ...


class SimClock:
    """Sleeps so that simulated time ``t`` is reached ``(t - t0) / speed`` seconds after start."""

    def __init__(self, sim_start: float, speed: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.sim_start = sim_start
        self.speed = speed
        self._sleep = sleep
        self._wall_start = time.monotonic()

    def wait_until(self, sim_time: float) -> None:
        if self.speed <= 0:
            return
        ahead = self._wall_start + (sim_time - self.sim_start) / self.speed - time.monotonic()
        if ahead > 0.002:
            self._sleep(ahead)


def _device_messages(chunk: DeviceChunk, channels: tuple[str, ...], next_seq: int) -> list[DeviceMessage]:
    """Rows and messages of one device-day in time order, numbered from ``next_seq``."""
    table = np.column_stack([chunk.values[c] for c in channels]).tolist() if len(chunk.t) else []
    samples = [
        Sample(chunk.device_id, ts, 0, dict(zip(channels, row, strict=True)))
        for ts, row in zip(chunk.t.tolist(), table, strict=True)
    ]
    merged = list(heapq.merge(samples, chunk.messages, key=lambda m: m.timestamp))
    return [replace(m, seq=(next_seq + i) % (1 << 32)) for i, m in enumerate(merged)]


def fleet_messages(
    fleet: FleetSpec,
    on_truth: Callable[[TruthRecord], None] | None = None,
    workshop: Workshop | None = None,
) -> Iterator[DeviceMessage]:
    """Every message of every device, in global time order, a simulated day at a time.

    With a ``workshop``, each device applies the crew's visits before its next day.
    """
    sims = [DeviceSimulator(spec, fleet, i, workshop=workshop) for i, spec in enumerate(fleet.devices)]
    seqs = [0] * len(sims)
    for day in zip(*(sim.chunks() for sim in sims), strict=True):
        per_device = []
        for i, (sim, chunk) in enumerate(zip(sims, day, strict=True)):
            msgs = _device_messages(chunk, sim.model.channels, seqs[i])
            seqs[i] += len(msgs)
            per_device.append(msgs)
            if on_truth is not None:
                for rec in chunk.truth:
                    on_truth(rec)
        yield from heapq.merge(*per_device, key=lambda m: m.timestamp)


def run_stream(
    fleet: FleetSpec,
    sinks: dict[str, MessageSink],
    *,
    speed: float = 0.0,
    loss: float = 0.0,
    on_truth: Callable[[TruthRecord], None] | None = None,
    progress: Callable[[float, int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    workshop: Workshop | None = None,
) -> dict[str, int]:
    """Send the fleet's messages to ``sinks[device_id]``; ``loss`` drops that share at random.

    ``progress(sim_time, sent)`` is called about once per simulated hour.
    """
    rng = np.random.default_rng([fleet.seed, 0x1055])
    clock = SimClock(fleet.start, speed)
    sent = dropped = 0
    next_report = fleet.start
    for msg in fleet_messages(fleet, on_truth, workshop):
        if should_stop():
            break
        clock.wait_until(msg.timestamp)
        if loss > 0 and rng.uniform() < loss:
            dropped += 1
            continue
        sinks[msg.device_id].send(msg)
        sent += 1
        if progress is not None and msg.timestamp >= next_report:
            progress(msg.timestamp, sent)
            next_report = math.floor(msg.timestamp / 3600.0 + 1) * 3600.0
    return {"sent": sent, "lost_on_purpose": dropped}
