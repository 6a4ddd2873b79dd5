"""Tokens, device health, telemetry summaries, dead letters and scheduler runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .common import Public, RowId, Strict
from .fleet import DevicePublic
from .work import AlertPublic, ConsumablePublic, ReminderPublic, WorkOrderPublic

__all__ = [
    "BrokerCredentialCreate",
    "BrokerCredentialIssued",
    "BrokerCredentialPublic",
    "BrokerFilesPublic",
    "DeadLetterPublic",
    "DeviceHealth",
    "SchedulerRun",
    "SummaryPublic",
    "TokenCreate",
    "TokenIssued",
]


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "dispatcher", "engineer", "device", "agent", "platform"]
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


class BrokerCredentialCreate(Strict):
    """A broker login for a device, an edge agent or its serial bridge (in the caller's
    tenant), or a cloud worker (platform role only)."""

    role: Literal["device", "agent", "bridge", "cloud"]
    subject: str = Field(min_length=1, max_length=64)  # device key, agent key, or worker name


class BrokerCredentialPublic(Public):
    id: int
    role: str
    subject: str
    username: str
    created_at: datetime
    revoked_at: datetime | None


class BrokerCredentialIssued(BrokerCredentialPublic):
    password: str  # shown once


class BrokerFilesPublic(Public):
    """Where the broker's password file and ACL were written (none when not configured)."""

    written: bool
    logins: int
    reloaded: bool
