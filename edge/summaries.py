"""Telemetry summaries: per device, per window of ``every`` seconds, min / mean / max / count
of each channel and the highest anomaly score, so the cloud keeps trends without every sample."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from firmware_bridge.contract import ChannelStats

__all__ = ["SummaryWindow"]


@dataclass
class SummaryWindow:
    start: float | None = None
    channels: dict[str, list[float]] = field(default_factory=dict)  # channel -> [min, sum, max, count]
    max_score: float = 0.0
    health: float | None = None  # the latest in the window

    def due(self, t: float, every: float) -> bool:
        """Whether a sample at ``t`` falls outside the open window (so it must be sent first):
        past its end, or before its start (the device clock went back after a jump ahead;
        without this the window would wait in the future and no summary would go out)."""
        return self.start is not None and bool(self.channels) and not self.start <= t < self.start + every

    def add(self, t: float, values: Mapping[str, float], score: float, health: float, every: float) -> None:
        if self.start is None or not self.channels:
            self.start = math.floor(t / every) * every
        for k, v in values.items():
            if math.isnan(v):
                continue
            acc = self.channels.get(k)
            if acc is None:
                self.channels[k] = [v, v, v, 1.0]
            else:
                acc[0], acc[1], acc[2], acc[3] = min(acc[0], v), acc[1] + v, max(acc[2], v), acc[3] + 1
        self.max_score = max(self.max_score, score)
        self.health = health

    def take(self) -> tuple[float, dict[str, ChannelStats], float, float | None]:
        """(window start, channel stats, max score, health) of the open window, which starts over."""
        start = self.start or 0.0
        stats = {
            k: ChannelStats(min=a[0], mean=a[1] / a[3], max=a[2], count=int(a[3]))
            for k, a in self.channels.items()
        }
        health = None if self.health is None else min(max(self.health, 0.0), 1.0)
        out = (start, stats, min(max(self.max_score, 0.0), 1.0), health)
        self.channels, self.max_score = {}, 0.0
        return out
