"""A device's health at a glance: what the device-health endpoint and the fleet view show."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Alert, Consumable, Device, Reminder, WorkOrder
from ..telemetry_history import DatabaseHistory, TelemetryHistory
from .priority import SEVERITY_RANK

__all__ = ["connectivity", "device_health"]


def connectivity(device: Device, now: datetime, offline_after: timedelta) -> str:
    if device.last_seen_at is None:
        return "never_seen"
    return "online" if now - device.last_seen_at <= offline_after else "offline"


def device_health(
    session: Session,
    device: Device,
    now: datetime,
    offline_after: timedelta,
    summaries: int = 48,
    history: TelemetryHistory | None = None,
) -> dict[str, Any]:
    alerts = list(
        session.scalars(
            select(Alert)
            .where(Alert.device_id == device.id, Alert.status == "active")
            .order_by(Alert.raised_at)
        )
    )
    orders = list(
        session.scalars(
            select(WorkOrder)
            .where(WorkOrder.device_id == device.id, WorkOrder.status.not_in(("closed", "cancelled")))
            .order_by(WorkOrder.created_at)
        )
    )
    recent = (history or DatabaseHistory()).recent(session, device, summaries)
    consumables = list(
        session.scalars(select(Consumable).where(Consumable.device_id == device.id).order_by(Consumable.name))
    )
    reminders = list(
        session.scalars(select(Reminder).where(Reminder.device_id == device.id, Reminder.status == "active"))
    )
    worst = max((a.severity for a in alerts), key=SEVERITY_RANK.__getitem__, default=None)
    return {
        "device": device,
        "connectivity": connectivity(device, now, offline_after),
        "condition": worst or "normal",
        "health": device.health if device.health is not None else 1.0,
        "predicted_failure_at": device.predicted_failure_at,
        "active_alerts": alerts,
        "open_work_orders": orders,
        "recent_summaries": recent,
        "consumables": consumables,
        "reminders": reminders,
    }
