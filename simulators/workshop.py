"""Service done on the simulated devices, handed from the simulated field crew to the fleet.

When an engineer replaces a part or repairs a fault, the machine should change: the filter
is clean again, the bearing stops grinding. The crew (``simulators/field_crew.py``) records
each visit here; every :class:`~simulators.device.DeviceSimulator` takes its own visits
before it simulates its next day, so the repair shows from that day's first sample on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["ServiceVisit", "Workshop"]


@dataclass(frozen=True, slots=True)
class ServiceVisit:
    device_id: str
    at: float  # epoch seconds, simulated time
    repaired_fault: str | None = None  # a fault mode, stopped from ``at`` on
    replaced: str | None = None  # a consumable, renewed at ``at``


class Workshop:
    def __init__(self) -> None:
        self._pending: dict[str, list[ServiceVisit]] = {}
        self._lock = threading.Lock()

    def record(self, visit: ServiceVisit) -> None:
        with self._lock:
            self._pending.setdefault(visit.device_id, []).append(visit)

    def take(self, device_id: str) -> list[ServiceVisit]:
        """The visits to ``device_id`` not yet applied, oldest first."""
        with self._lock:
            return self._pending.pop(device_id, [])
