"""Product knowledge the service needs to route work: which fault category a channel or a
firmware fault code points to, per product family, and the part a consumable is.

A work order's *category* decides which engineers are skilled for it. Alerts name the
channels that drove them (``fault_key = "discharge_pressure+suction_pressure"``); the same
channel means different trades on different machines (pressure is refrigerant work on an air
conditioner and hydraulic work on a pump), so the table is per family.
"""

from __future__ import annotations

__all__ = ["CONSUMABLE_PARTS", "category_for_alert", "category_for_fault_code", "family_of"]

_FAMILY_PREFIX = {"AC": "air_conditioner", "RO": "water_purifier", "CP": "industrial_pump"}

_CHANNEL_CATEGORY: dict[str, dict[str, str]] = {
    "air_conditioner": {
        "suction_pressure": "refrigerant",
        "discharge_pressure": "refrigerant",
        "supply_air_temp": "heat_exchange",
        "return_air_temp": "heat_exchange",
        "outdoor_temp": "heat_exchange",
        "filter_dp": "heat_exchange",
        "motor_current": "mechanical",
        "vibration_rms": "mechanical",
    },
    "water_purifier": {
        "tds_in": "water_quality",
        "tds_out": "water_quality",
        "inlet_pressure": "mechanical",
        "outlet_pressure": "mechanical",
        "flow_rate": "mechanical",
        "motor_current": "mechanical",
        "filter_dp": "water_quality",
        "water_temp": "water_quality",
    },
    "industrial_pump": {
        "vibration_rms": "mechanical",
        "bearing_temp": "mechanical",
        "motor_current": "mechanical",
        "suction_pressure": "hydraulic",
        "discharge_pressure": "hydraulic",
        "flow_rate": "hydraulic",
        "power": "hydraulic",
    },
}

# firmware fault codes (see docs/protocol.md); the same code means different things per family
_FAULT_CODES: dict[str, dict[int, str]] = {
    "air_conditioner": {0x1001: "heat_exchange", 0x1002: "refrigerant", 0x1003: "mechanical"},
    "water_purifier": {0x1001: "mechanical", 0x1005: "water_quality"},
    "industrial_pump": {0x1003: "mechanical", 0x1004: "hydraulic", 0x1001: "hydraulic"},
}

#: consumable name -> (part number, description): what a replacement order asks to bring
CONSUMABLE_PARTS: dict[str, tuple[str, str]] = {
    "air_filter": ("AF-200", "air filter"),
    "sediment_filter": ("SF-10", "sediment filter cartridge"),
    "carbon_filter": ("CF-10", "carbon filter cartridge"),
    "ro_membrane": ("ROM-75", "RO membrane"),
    "mechanical_seal": ("MS-40", "mechanical seal kit"),
    "bearing_grease": ("BG-1", "bearing grease cartridge"),
}

GENERAL = "general"


def family_of(model: str | None) -> str | None:
    if not model:
        return None
    return _FAMILY_PREFIX.get(model.split("-", 1)[0].upper())


def category_for_alert(model: str | None, fault_key: str) -> str:
    """The trade an alert calls for: the category most of its channels map to."""
    table = _CHANNEL_CATEGORY.get(family_of(model) or "", {})
    votes: dict[str, int] = {}
    for channel in fault_key.split("+"):
        cat = table.get(channel)
        if cat is not None:
            votes[cat] = votes.get(cat, 0) + 1
    if not votes:
        return GENERAL
    return max(sorted(votes), key=lambda c: votes[c])


def category_for_fault_code(model: str | None, code: int) -> str:
    return _FAULT_CODES.get(family_of(model) or "", {}).get(code, GENERAL)
