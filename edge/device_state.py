"""Everything the edge knows about one device, in one record the agent and the deployment
controller both work on (neither needs the other to name it)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .consumables import ConsumableTracker
from .incidents import Incidents
from .pipeline import DevicePipeline
from .rul import RulTracker
from .summaries import SummaryWindow

__all__ = ["DeviceState"]


@dataclass
class DeviceState:
    """One device's pipelines, recent evidence, consumables, open incidents and summary window;
    pickled into checkpoints."""

    pipeline: DevicePipeline
    evidence: deque[tuple[float, dict[str, float], float]] = field(default_factory=lambda: deque(maxlen=30))
    consumables: dict[str, ConsumableTracker] = field(default_factory=dict)
    consumable_sent: dict[str, float] = field(default_factory=dict)
    incidents: Incidents = field(default_factory=Incidents)
    window: SummaryWindow = field(default_factory=SummaryWindow)
    candidate: DevicePipeline | None = None  # a new model warming up in shadow
    previous: DevicePipeline | None = None  # the model before the last swap: shadow, then for revert
    rul: RulTracker | None = None  # the last cycles, when the device reports a RUL model's channels
