"""Names behind the numbers on the wire: channel, consumable, unit and event codes.

Frames carry one-byte ids to stay small; everything above the codec uses names. The
tables are append-only: an id, once shipped in firmware, never changes meaning.
Ids not in a table still decode, as ``ch<id>`` / ``consumable<id>`` / ``unit<id>``,
so a newer firmware never breaks an older gateway.
"""

from __future__ import annotations

import re
from types import MappingProxyType

__all__ = [
    "CHANNELS",
    "CHANNEL_IDS",
    "CONSUMABLES",
    "CONSUMABLE_IDS",
    "EVENT_CODES",
    "NAME_PATTERN",
    "UNITS",
    "UNIT_IDS",
    "channel_name",
    "consumable_name",
    "unit_name",
]

#: Channel / consumable names as they appear in JSON, CSV headers and MQTT payloads.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")

CHANNELS = MappingProxyType(
    {
        1: "vibration_rms",  # mm/s
        2: "motor_current",  # A
        3: "discharge_pressure",  # bar
        4: "suction_pressure",  # bar
        5: "supply_air_temp",  # degC
        6: "return_air_temp",  # degC
        7: "outdoor_temp",  # degC
        8: "flow_rate",  # L/min
        9: "inlet_pressure",  # bar
        10: "outlet_pressure",  # bar
        11: "tds_in",  # ppm
        12: "tds_out",  # ppm
        13: "bearing_temp",  # degC
        14: "filter_dp",  # kPa, pressure drop across a filter
        15: "power",  # kW
        16: "water_temp",  # degC
    }
)
CHANNEL_IDS = MappingProxyType({name: cid for cid, name in CHANNELS.items()})

CONSUMABLES = MappingProxyType(
    {
        1: "air_filter",
        2: "sediment_filter",
        3: "ro_membrane",
        4: "carbon_filter",
        5: "mechanical_seal",
        6: "bearing_grease",
    }
)
CONSUMABLE_IDS = MappingProxyType({name: cid for cid, name in CONSUMABLES.items()})

UNITS = MappingProxyType({1: "hours", 2: "litres", 3: "cycles"})
UNIT_IDS = MappingProxyType({name: uid for uid, name in UNITS.items()})

#: Firmware event codes. 0x1xxx: protective trips that stop the machine (a failure).
EVENT_CODES = MappingProxyType(
    {
        0x0001: "power_on",
        0x0002: "service_mode",
        0x0003: "service_done",  # an engineer finished a repair or part replacement on site
        0x1001: "overcurrent_trip",
        0x1002: "low_pressure_trip",
        0x1003: "high_vibration_trip",
        0x1004: "dry_run_trip",
        0x1005: "high_tds_lockout",
        0x1006: "overtemperature_trip",
    }
)


def channel_name(cid: int) -> str:
    return CHANNELS.get(cid, f"ch{cid}")


def consumable_name(cid: int) -> str:
    return CONSUMABLES.get(cid, f"consumable{cid}")


def unit_name(uid: int) -> str:
    return UNITS.get(uid, f"unit{uid}")
