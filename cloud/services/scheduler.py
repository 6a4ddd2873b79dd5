"""Time-driven rules, run every ``scheduler_interval_s`` by the service (and by tests with a
manual clock):

- escalate: assigned or open orders not accepted by their response deadline go up one
  priority step and the supervisor is told (once per missed deadline);
- overdue: orders past their resolution deadline notify management once (tier 3);
- verification: a resolved order whose window ended with an alert still active is reopened;
  one whose window ended clean and that is rated is closed;
- redispatch: open orders with nobody assigned get another dispatch attempt.

Each rule is one query over the due rows, so a pass costs what is due, not the fleet size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Alert, Device, WorkOrder
from . import transitions
from .dispatch import dispatch_orders
from .notify import OVERDUE, notify

__all__ = ["SchedulerReport", "run_due"]

ACTOR = "system:scheduler"


@dataclass(slots=True)
class SchedulerReport:
    escalated: list[int] = field(default_factory=list)
    overdue: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    dispatched: list[int] = field(default_factory=list)

    @property
    def sla_breaches(self) -> int:
        return len(self.escalated) + len(self.overdue)


ESCALATE_EVERY = timedelta(hours=1)  # while an order waits past its response deadline


def run_due(session: Session, now: datetime, tenant_id: int | None = None) -> SchedulerReport:
    report = SchedulerReport()

    def scoped(query):  # type: ignore[no-untyped-def]
        return query if tenant_id is None else query.where(WorkOrder.tenant_id == tenant_id)

    for order in session.scalars(
        scoped(
            select(WorkOrder).where(
                WorkOrder.status.in_(("open", "assigned")),
                WorkOrder.response_due_at <= now,
            )
        )
    ):
        # once when the response deadline passes, then once per ESCALATE_EVERY while nobody
        # accepts; the deadline itself never moves, so the order shows how late it is
        if order.escalated_at is not None and now < order.escalated_at + ESCALATE_EVERY:
            continue
        transitions.escalate(session, _device(session, order), order, ACTOR, now)
        report.escalated.append(order.id)

    for order in session.scalars(
        scoped(
            select(WorkOrder).where(
                WorkOrder.status.in_(("open", "assigned", "accepted", "in_progress")),
                WorkOrder.resolution_due_at <= now,
                WorkOrder.overdue_notified.is_(False),
            )
        )
    ):
        order.overdue_notified = True
        notify(
            session,
            order,
            OVERDUE,
            "management",
            f"work order #{order.id} ({order.title}) missed its resolution deadline "
            f"{order.resolution_due_at.isoformat()}",
            now,
        )
        report.overdue.append(order.id)

    for order in session.scalars(
        scoped(
            select(WorkOrder).where(
                WorkOrder.status == "resolved",
                WorkOrder.verify_until <= now,
            )
        )
    ):
        device = _device(session, order)
        still_active = session.scalar(
            select(Alert.id).where(Alert.work_order_id == order.id, Alert.status == "active")
        )
        if still_active is not None:
            transitions.reopen(
                session, device, order, ACTOR, now, "alert still active when the verification window ended"
            )
            report.reopened.append(order.id)
        elif transitions.close_if_done(session, device, order, ACTOR, now):
            report.closed.append(order.id)

    session.flush()
    waiting = list(session.scalars(scoped(select(WorkOrder).where(WorkOrder.status == "open"))))
    by_tenant: dict[int, list[WorkOrder]] = {}
    for order in waiting:
        by_tenant.setdefault(order.tenant_id, []).append(order)
    for orders in by_tenant.values():
        report.dispatched += [
            r.order_id for r in dispatch_orders(session, orders, now, ACTOR) if r.engineer_id
        ]
    return report


def _device(session: Session, order: WorkOrder) -> Device:
    device = session.get(Device, order.device_id)
    assert device is not None
    return device
