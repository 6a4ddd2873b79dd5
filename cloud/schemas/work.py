"""Alerts, work orders and what hangs off them, plus the action bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .common import Public, RowId, Strict, WholeNumber

__all__ = [
    "AlertPublic",
    "ChainReportPublic",
    "ConsumablePublic",
    "DeclineBody",
    "EventPublic",
    "NotificationPublic",
    "PartBody",
    "PartPublic",
    "RateBody",
    "ReasonBody",
    "ReminderPublic",
    "ResolveBody",
    "TaskPublic",
    "WorkOrderCreate",
    "WorkOrderDetail",
    "WorkOrderPublic",
    "AssignBody",
]


class AlertPublic(Public):
    id: int
    device_id: RowId
    key: str
    fault_key: str
    category: str
    fault_name: str | None
    fault_source: str | None
    status: str
    severity: str
    score: float
    peak: float
    raised_at: datetime
    last_at: datetime
    cleared_at: datetime | None
    detector: str
    model_version: str
    health: float | None
    predicted_failure_at: datetime | None
    latest_safe_at: datetime | None = None  # the forecast interval's lower bound
    rul: dict[str, Any] | None = None  # a RUL model's call: cycles (lower, point, upper), seconds_per_cycle
    work_order_id: int | None


class WorkOrderCreate(Strict):
    device_id: RowId
    title: str = Field(min_length=1, max_length=300)
    category: str = Field(default="general", min_length=1, max_length=32)
    fault_key: str | None = Field(default=None, max_length=200)
    severity: Literal["warning", "major", "critical"] = "warning"
    kind: Literal["preventive", "replacement", "corrective"] = "corrective"
    description: str = Field(default="", max_length=5000)


class PartPublic(Public):
    part_number: str
    name: str
    quantity: int


class WorkOrderPublic(Public):
    id: int
    device_id: RowId
    source: str
    kind: str
    title: str
    fault_key: str
    category: str
    fault_name: str | None  # services/fault_names.py
    fault_source: str | None
    finding: str | None  # what the engineer found on site
    status: str
    priority: int
    severity: str
    under_warranty: bool
    created_at: datetime
    updated_at: datetime
    response_due_at: datetime
    resolution_due_at: datetime
    assignee_id: int | None
    assigned_at: datetime | None
    accepted_at: datetime | None
    started_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    verify_until: datetime | None
    escalation_level: int
    predicted_failure_at: datetime | None
    latest_safe_at: datetime | None = None  # the forecast's lower bound: priority and due date use it
    rul: dict[str, Any] | None = None  # a RUL model's call: cycles (lower, point, upper), seconds_per_cycle
    model_version: str | None
    dispatch: dict[str, Any] | None
    fix: str | None
    rating: int | None
    reopened: int


class EventPublic(Public):
    seq: int
    kind: str
    actor: str
    at: datetime
    data: dict[str, Any]
    hash: str


class WorkOrderDetail(WorkOrderPublic):
    description: str
    evidence: list[dict[str, Any]]
    parts: list[PartPublic]
    events: list[EventPublic]
    allowed_actions: list[str]


class AssignBody(Strict):
    engineer_id: RowId


class DeclineBody(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class ReasonBody(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class PartBody(Strict):
    part_number: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    quantity: WholeNumber = Field(default=1, ge=1, le=1000)


class ResolveBody(Strict):
    fix: str = Field(min_length=1, max_length=5000)
    parts: list[PartBody] = Field(default_factory=list, max_length=100)
    # what was found on site: a fault mode of the model (``GET /api/v1/fault-modes``),
    # "no_fault_found", or a new name in the same spelling; later alerts learn from it
    finding: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")


class FaultModePublic(Public):
    key: str
    label: str
    category: str
    signature: dict[str, float]
    code: int | None


class RateBody(Strict):
    stars: WholeNumber = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class ConsumablePublic(Public):
    id: int
    device_id: RowId
    name: str
    unit: str
    usage: float
    remaining_fraction: float
    predicted_depletion_at: datetime | None
    reported_at: datetime
    replaced_at: datetime | None


class ReminderPublic(Public):
    id: int
    device_id: RowId
    consumable_id: int
    status: str
    due_at: datetime
    created_at: datetime
    closed_at: datetime | None
    work_order_id: int | None


class NotificationPublic(Public):
    id: int
    work_order_id: int | None
    tier: int
    recipient: str
    message: str
    created_at: datetime


class TaskPublic(Public):
    id: int
    work_order_id: int | None
    kind: str
    title: str
    status: str
    created_at: datetime


class ChainReportPublic(Public):
    ok: bool
    events: int
    broken_at_seq: int | None
    reason: str | None
