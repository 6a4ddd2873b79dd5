"""Per-device sequence tracking: gaps (lost messages), duplicates/replays, restarts.

Devices number every message they send (all types share one counter, mod 2**32).
A reader asks :meth:`SequenceTracker.observe` about each one; the verdict tells it to
pass the message on (``FIRST``, ``NEXT``, ``GAP``, ``RESTART``) or drop it
(``DUPLICATE``). Counts are kept per device so a flaky line can be found.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["SeqStats", "SeqVerdict", "SequenceTracker"]

_MOD = 1 << 32
_HALF = 1 << 31


class SeqVerdict(enum.Enum):
    FIRST = "first"  # first message seen from this device
    NEXT = "next"  # exactly the expected number
    GAP = "gap"  # ahead of the expected number: messages were lost in between
    DUPLICATE = "duplicate"  # already seen (a retransmission or a replay): drop it
    RESTART = "restart"  # the counter went back to near zero: the device rebooted


@dataclass
class SeqStats:
    """Totals over all devices; ``per_device`` holds the same counts by device id."""

    gaps: int = 0
    missing: int = 0
    duplicates: int = 0
    restarts: int = 0
    per_device: dict[str, Counter[str]] = field(default_factory=dict)


class SequenceTracker:
    """Classifies sequence numbers per device.

    A number behind the last one seen is a duplicate (a retransmission, a replay) unless the
    device restarted: its message time is later than the latest seen (the counter went back
    but time moved on: a reboot whose first messages were lost, so the counter is already
    past 16), or, for a device whose clock also restarts, the number is below
    ``restart_below`` and the device was further along than that. A replay carries its old
    time, so it is still caught, also when its number lies ahead of a restarted counter (a
    jump forward to an older time). :meth:`state` and :meth:`restore` carry the tracker over
    an edge restart, so a replay arriving just after one is caught too. Times the gate finds
    implausible (far in the future) are not passed here, so one bad clock reading cannot
    make everything after it look like a replay.
    """

    def __init__(self, restart_below: int = 16) -> None:
        self.restart_below = restart_below
        self.stats = SeqStats()
        self._last: dict[str, int] = {}
        self._latest: dict[str, float] = {}  # the latest message time seen per device

    def observe(self, device_id: str, seq: int, at: float | None = None) -> SeqVerdict:
        """The verdict on ``seq`` from ``device_id``, whose message says it is from ``at``."""
        last = self._last.get(device_id)
        latest = self._latest.get(device_id)
        if at is not None and (latest is None or at > latest):
            self._latest[device_id] = at
        if last is None:
            self._last[device_id] = seq
            return SeqVerdict.FIRST
        delta = (seq - last) % _MOD
        if delta == 1:
            self._last[device_id] = seq
            return SeqVerdict.NEXT
        replayed = at is not None and latest is not None and at < latest
        if 0 < delta < _HALF and not replayed:
            self._last[device_id] = seq
            self._count(device_id, "gaps")
            self.stats.gaps += 1
            self.stats.missing += delta - 1
            self._bump(device_id, "missing", delta - 1)
            return SeqVerdict.GAP
        later = at is not None and latest is not None and at > latest
        if later or seq < self.restart_below <= last:
            self._last[device_id] = seq
            self._count(device_id, "restarts")
            self.stats.restarts += 1
            return SeqVerdict.RESTART
        self._count(device_id, "duplicates")
        self.stats.duplicates += 1
        return SeqVerdict.DUPLICATE

    def _count(self, device_id: str, key: str) -> None:
        self._bump(device_id, key, 1)

    def _bump(self, device_id: str, key: str, n: int) -> None:
        self.stats.per_device.setdefault(device_id, Counter())[key] += n

    def state(self) -> dict[str, list[float]]:
        """Per device: the last number, the latest time and the messages missing so far
        (JSON-ready, for a checkpoint: the losses a device page shows survive a restart)."""
        return {
            d: [float(n), self._latest.get(d, float("nan")), float(self.missing(d))]
            for d, n in self._last.items()
        }

    def restore(self, state: dict[str, list[float]]) -> None:
        for device_id, (seq, latest, *rest) in state.items():
            self._last[device_id] = int(seq)
            if latest == latest:  # not NaN
                self._latest[device_id] = float(latest)
            if rest and rest[0]:
                self._bump(device_id, "missing", int(rest[0]))
                self.stats.missing += int(rest[0])

    def missing(self, device_id: str) -> int:
        """Messages ``device_id`` numbered that never arrived."""
        return int(self.stats.per_device.get(device_id, Counter())["missing"])

    def lost(self) -> dict[str, int]:
        """Devices with missing messages, and how many."""
        return {d: int(c["missing"]) for d, c in self.stats.per_device.items() if c["missing"]}
