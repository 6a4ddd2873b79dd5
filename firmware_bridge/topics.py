"""MQTT topic names for device traffic: ``prognos/v1/{tenant}/{device_id}/{kind}``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .layout import DEVICE_ID_PATTERN

__all__ = ["TENANT_PATTERN", "DeviceTopic", "device_topic", "parse_device_topic", "telemetry_filter"]

TOPIC_ROOT = "prognos/v1"
TENANT_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    tenant: str
    device_id: str
    kind: str


def device_topic(tenant: str, device_id: str, kind: str = "telemetry") -> str:
    """The topic a device (or a gateway on its behalf) publishes to."""
    if not TENANT_PATTERN.fullmatch(tenant):
        raise ValueError(f"tenant {tenant!r} must match {TENANT_PATTERN.pattern}")
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise ValueError(f"device id {device_id!r} must match {DEVICE_ID_PATTERN.pattern}")
    return f"{TOPIC_ROOT}/{tenant}/{device_id}/{kind}"


def telemetry_filter(tenant: str | None = None) -> str:
    """Subscription filter for every device's telemetry, of one tenant or of all."""
    return f"{TOPIC_ROOT}/{tenant or '+'}/+/telemetry"


def parse_device_topic(topic: str) -> DeviceTopic | None:
    """Split a device topic; ``None`` when it is not one (wrong root, bad names)."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT:
        return None
    tenant, device_id, kind = parts[2:]
    if not TENANT_PATTERN.fullmatch(tenant) or not DEVICE_ID_PATTERN.fullmatch(device_id):
        return None
    return DeviceTopic(tenant, device_id, kind)

