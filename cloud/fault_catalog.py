"""The ways each product family is known to fail, as its maker describes them: a name people
recognise, the trade it needs, the firmware trip code it raises at the end, and its channel
signature, the channels it moves and how strongly (1: first and most; 0.5: follows).

An alert names channels (``fault_key = "filter_dp+outdoor_temp"``); ``services/fault_names.py``
matches them against these signatures to say "air filter clogged" instead. Some channels
are the machine's *conditions*, not its state (the weather outside an air conditioner, the
feed water of a purifier): they never point to a fault and are left out of the match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CONDITION_CHANNELS", "FAULT_MODES", "FaultMode", "fault_mode", "label_of"]


@dataclass(frozen=True, slots=True)
class FaultMode:
    key: str  # stable identifier: what an engineer's finding names
    label: str  # what the service desk and R&D read
    category: str  # the trade it needs (routes to skilled engineers)
    signature: Mapping[str, float] = field(default_factory=dict)  # channel -> weight
    code: int | None = None  # the firmware's protective trip code for it, if any


FAULT_MODES: dict[str, tuple[FaultMode, ...]] = {
    "air_conditioner": (
        FaultMode(
            "refrigerant_leak",
            "refrigerant leak",
            "refrigerant",
            {"suction_pressure": 1.0, "supply_air_temp": 1.0, "discharge_pressure": 0.5},
            0x1002,
        ),
        FaultMode(
            "compressor_bearing_wear",
            "compressor bearing wear",
            "mechanical",
            {"vibration_rms": 1.0, "motor_current": 0.5},
            0x1003,
        ),
        FaultMode(
            "condenser_fouling",
            "condenser coil fouling",
            "heat_exchange",
            {"discharge_pressure": 1.0, "motor_current": 1.0, "supply_air_temp": 0.5},
            0x1001,
        ),
        FaultMode(
            "air_filter_clogged",
            "air filter clogged",
            "heat_exchange",
            {"filter_dp": 1.0, "suction_pressure": 0.5, "supply_air_temp": 0.5},
        ),
    ),
    "water_purifier": (
        FaultMode(
            "pump_wear",
            "booster pump wear",
            "mechanical",
            {"outlet_pressure": 1.0, "flow_rate": 1.0, "motor_current": 1.0},
            0x1001,
        ),
        FaultMode("membrane_breach", "RO membrane breach", "water_quality", {"tds_out": 1.0}, 0x1005),
        FaultMode(
            "sediment_filter_clogged",
            "sediment filter clogged",
            "water_quality",
            {"filter_dp": 1.0, "flow_rate": 0.5},
        ),
    ),
    "industrial_pump": (
        FaultMode(
            "bearing_wear",
            "bearing wear",
            "mechanical",
            {"vibration_rms": 1.0, "bearing_temp": 1.0, "motor_current": 0.5},
            0x1003,
        ),
        FaultMode(
            "cavitation",
            "cavitation",
            "hydraulic",
            {"suction_pressure": 1.0, "vibration_rms": 0.5, "flow_rate": 0.5},
            0x1004,
        ),
        FaultMode(
            "impeller_wear",
            "impeller wear",
            "hydraulic",
            {"flow_rate": 1.0, "discharge_pressure": 1.0, "power": 0.5},
            0x1001,
        ),
        FaultMode(
            "bearing_grease_depleted",
            "bearing grease depleted",
            "mechanical",
            {"bearing_temp": 1.0, "vibration_rms": 0.5},
        ),
    ),
}

#: channels that measure the machine's surroundings or supply, per family
CONDITION_CHANNELS: dict[str, frozenset[str]] = {
    "air_conditioner": frozenset({"outdoor_temp", "return_air_temp"}),
    "water_purifier": frozenset({"tds_in", "inlet_pressure", "water_temp"}),
    "industrial_pump": frozenset(),
}

#: names that are not fault modes of any family
_SPECIAL = {
    "no_fault_found": "no fault found",
    "operating_conditions": "unusual operating conditions",
    "unrecognised": "unrecognised anomaly",
}


def fault_mode(family: str | None, key: str) -> FaultMode | None:
    return next((m for m in FAULT_MODES.get(family or "", ()) if m.key == key), None)


def label_of(family: str | None, key: str) -> str:
    """The readable name of a fault key, also for one an engineer made up ("loose_wiring")."""
    mode = fault_mode(family, key)
    if mode is not None:
        return mode.label
    return _SPECIAL.get(key, key.replace("_", " "))
