"""Alerts, work orders and everything hanging off them: the hash-chained event history,
parts, notifications and follow-up tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, JsonDoc, UtcDateTime

__all__ = [
    "Alert",
    "Notification",
    "Task",
    "WorkOrder",
    "WorkOrderEvent",
    "WorkOrderPart",
    "written_after_its_order",
]


def written_after_its_order() -> Any:
    """A many-to-one to the work order that is never loaded (reading it raises). It is there
    for the unit of work alone: without a relationship it does not know that a new order must
    be inserted before the rows that point at it, which matters once an order's id is
    reserved before the flush (``cloud/db/ids.py``) and both are written in one."""
    return relationship("WorkOrder", lazy="raise")


class Alert(Base):
    """One alert from an edge agent, from raise to clear (its updates fold into this row)."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("device_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))  # the edge's alert_id
    fault_key: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    # what fault this is, in words people use (services/fault_names.py), and how it was named:
    # "fault code" | "signature" | "resolved cases" | "engineer" | "none"
    fault_name: Mapped[str | None] = mapped_column(String(64), index=True)
    fault_source: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | cleared
    severity: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    peak: Mapped[float] = mapped_column(Float)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    detector: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    health: Mapped[float | None] = mapped_column(Float)
    predicted_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # a RUL model's call (edge/rul.py): the lower bound of its 90 % interval as a time, and
    # {"cycles": [lower, point, upper], "seconds_per_cycle": the device's pace}
    latest_safe_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rul: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    updates: Mapped[int] = mapped_column(Integer, default=0)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), index=True)
    work_order: Mapped[WorkOrder | None] = written_after_its_order()


class WorkOrder(Base):
    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # alert | consumable | fault | manual
    kind: Mapped[str] = mapped_column(String(16))  # preventive | replacement | corrective
    title: Mapped[str] = mapped_column(String(300))
    fault_key: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    priority: Mapped[int] = mapped_column(Integer)  # 1 (urgent) .. 4 (routine)
    severity: Mapped[str] = mapped_column(String(16))
    # "device:fault" while the order is live (not closed or cancelled), NULL after: a unique
    # column that allows many NULLs is the portable "one open order per device + fault"
    dedup_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    under_warranty: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    response_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolution_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("engineers.id"), index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    verify_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # paces the next escalation
    overdue_notified: Mapped[bool] = mapped_column(default=False)
    predicted_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    latest_safe_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # see Alert.latest_safe_at
    rul: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    model_version: Mapped[str | None] = mapped_column(String(64))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    dispatch: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)  # the score breakdown
    declined_by: Mapped[list[int]] = mapped_column(JsonDoc, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    fix: Mapped[str | None] = mapped_column(Text)
    fault_name: Mapped[str | None] = mapped_column(String(64))  # as on its alert (or code) when opened
    fault_source: Mapped[str | None] = mapped_column(String(32))
    finding: Mapped[str | None] = mapped_column(String(64))  # the fault the engineer found on site
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    reopened: Mapped[int] = mapped_column(Integer, default=0)


class WorkOrderPart(Base):
    __tablename__ = "work_order_parts"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    work_order: Mapped[WorkOrder | None] = written_after_its_order()
    part_number: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer, default=1)


class WorkOrderEvent(Base):
    """One change to a work order. Events are chained per device:
    ``hash = sha256(prev_hash + canonical(event))``, so editing or deleting any stored
    event breaks every hash after it."""

    __tablename__ = "work_order_events"
    __table_args__ = (UniqueConstraint("device_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    work_order: Mapped[WorkOrder | None] = written_after_its_order()
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Notification(Base):
    """Tier 1: a status changed (customer, watchers). Tier 2: someone now owns the next
    step (the engineer, the dispatcher, the supervisor). Tier 3: overdue (management)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), index=True)
    work_order: Mapped[WorkOrder | None] = written_after_its_order()
    tier: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Task(Base):
    """Follow-up work that is not a field visit, e.g. reviewing a badly rated order."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), index=True)
    work_order: Mapped[WorkOrder | None] = written_after_its_order()
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
