"""Signal models of the device archetypes: pure functions of (state, time grid, rng).

Each archetype turns a chunk of timestamps plus its carried state into channel arrays,
a running mask and consumable usage, without I/O. Chunks are generated one simulated
day at a time in every output mode, so a seed gives the same numbers in a CSV file,
on a serial line and over MQTT.
"""

from __future__ import annotations

from .air_conditioner import AirConditioner
from .base import Archetype, ChunkInputs, ChunkResult, ConsumableModel, FaultMode
from .pump import IndustrialPump
from .water_purifier import WaterPurifier

ARCHETYPES: dict[str, Archetype] = {a.name: a for a in (AirConditioner(), WaterPurifier(), IndustrialPump())}

__all__ = [
    "ARCHETYPES",
    "AirConditioner",
    "Archetype",
    "ChunkInputs",
    "ChunkResult",
    "ConsumableModel",
    "FaultMode",
    "IndustrialPump",
    "WaterPurifier",
]
