"""The ground truth of a load run: what the simulated devices sent against what the cloud's
database holds, window by window.

An edge summarises each device per aligned window (``floor(t / every)``), so the windows a
device's sent samples fall in are the summaries the cloud must end up with, each once. Only
samples with a value count (events, heartbeats and all-NaN rows make no summary), at the
time the wire carries (a serial frame's milliseconds can move a sample 0.5 ms into the next
window). The last window of each device is still open at the edge when the fleet stops (it
closes on the next sample), so it is not owed yet.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from cloud.db import Device, InboxMessage, TelemetrySummary, make_engine, make_session_factory
from firmware_bridge import Sample
from simulators.stream import MessageSink

__all__ = ["SentLog", "tally"]


@dataclass
class SentLog:
    """What the fleet sent, per device (its windows) and per agent (its samples)."""

    every: float
    windows: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    per_agent: Counter[str] = field(default_factory=Counter)

    def wrap(
        self, sinks: dict[str, MessageSink], agent_of: dict[str, str], millisecond_wire: set[str]
    ) -> dict[str, MessageSink]:
        """Each device's sink, counting what passes through it; ``millisecond_wire``: the
        devices whose wire rounds times to milliseconds (serial frames; JSON keeps them)."""
        return {
            device: _Counted(sink, self, agent_of[device], device in millisecond_wire)
            for device, sink in sinks.items()
        }

    @property
    def samples(self) -> int:
        return sum(self.per_agent.values())

    def owed(self) -> dict[str, set[int]]:
        """Per device, the windows the cloud must hold: all but the one still open."""
        return {d: w - {max(w)} for d, w in self.windows.items() if w}


@dataclass
class _Counted:
    inner: MessageSink
    log: SentLog
    agent: str
    milliseconds: bool

    def send(self, msg: Any) -> None:
        self.inner.send(msg)
        self.log.per_agent[self.agent] += 1
        if isinstance(msg, Sample) and any(not math.isnan(v) for v in msg.values.values()):
            t = round(msg.timestamp * 1000) / 1000 if self.milliseconds else msg.timestamp
            self.log.windows[msg.device_id].add(math.floor(t / self.log.every))

    def close(self) -> None:
        self.inner.close()


def tally(db_url: str, sent: SentLog) -> dict[str, Any]:
    """Summaries owed, stored, lost (owed, not stored), unexpected (stored, never owed) and
    duplicated (a device's window stored more than once), plus the inbox's message count."""
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as s:
            rows = s.execute(
                select(Device.key, TelemetrySummary.window_start).join(
                    Device, Device.id == TelemetrySummary.device_id
                )
            ).all()
            inbox = s.scalar(select(func.count()).select_from(InboxMessage)) or 0
    finally:
        engine.dispose()
    stored: dict[str, Counter[int]] = defaultdict(Counter)
    for key, start in rows:
        stored[key][math.floor(start.timestamp() / sent.every)] += 1
    owed = sent.owed()
    missing = sorted((d, w * sent.every) for d, ws in owed.items() for w in ws - set(stored.get(d, ())))
    lost = len(missing)
    unexpected = sum(1 for d, c in stored.items() for w in c if w not in sent.windows.get(d, set()))
    duplicated = sum(n - 1 for c in stored.values() for n in c.values() if n > 1)
    return {
        "summaries_owed": sum(len(w) for w in owed.values()),
        "summaries_stored": len(rows),
        "lost": lost,
        "unexpected": unexpected,
        "duplicated": duplicated,
        "inbox_messages": inbox,
        "first_missing": [f"{d} window at {start:.0f}" for d, start in missing[:5]],
    }
