"""Tokens, device health, telemetry summaries, dead letters and scheduler runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .common import Public, RowId, Strict
from .fleet import DevicePublic
from .work import AlertPublic, ConsumablePublic, ReminderPublic, WorkOrderPublic

__all__ = [
    "DeadLetterPublic",
    "DeviceHealth",
    "SchedulerRun",
    "SummaryPublic",
    "TokenCreate",
    "TokenIssued",
]


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "dispatcher", "engineer", "device", "agent"]
    engineer_id: RowId | None = None
    device_id: RowId | None = None


class TokenIssued(Public):
    id: int
    name: str
    role: str
    token: str  # shown once


class SummaryPublic(Public):
    window_start: datetime
    window_end: datetime
    channels: dict[str, Any]
    max_score: float


class DeviceHealth(Public):
    device: DevicePublic
    connectivity: str
    condition: str
    health: float
    predicted_failure_at: datetime | None
    active_alerts: list[AlertPublic]
    open_work_orders: list[WorkOrderPublic]
    recent_summaries: list[SummaryPublic]
    consumables: list[ConsumablePublic]
    reminders: list[ReminderPublic]


class DeadLetterPublic(Public):
    id: int
    received_at: datetime
    topic: str
    reason: str
    payload: str  # as text, undecodable bytes replaced


class SchedulerRun(Public):
    escalated: list[int]
    overdue: list[int]
    reopened: list[int]
    closed: list[int]
    dispatched: list[int]
