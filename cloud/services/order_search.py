"""The one query behind every list of work orders: the API's ``GET /work-orders`` and the
pages' order list and board counts, so a filter means the same thing everywhere.

Filters combine with AND; each one that is left empty does not narrow. ``text`` matches,
case-insensitively and literally (``%`` and ``_`` are not wildcards), the title, the fault
key and name, the fix and the device's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import not_, or_, select

from ..db import AnySelect, Device, WorkOrder
from .sla import overdue_clause

__all__ = ["ORDER_STATUSES", "OrderFilter", "filter_orders", "order_by_urgency"]

ORDER_STATUSES = ("open", "assigned", "accepted", "in_progress", "resolved", "closed", "cancelled")


@dataclass(frozen=True, slots=True)
class OrderFilter:
    status: Sequence[str] = ()
    priority: Sequence[int] = ()
    device_id: int | None = None
    site_id: int | None = None
    assignee_id: int | None = None
    overdue: bool | None = None  # True: only overdue; False: only not overdue
    text: str | None = None

    @property
    def empty(self) -> bool:
        return self == OrderFilter()


def filter_orders(query: AnySelect, f: OrderFilter, now: datetime) -> AnySelect:
    """Narrow a query over WorkOrder (already scoped to the caller) by ``f``."""
    if f.status:
        query = query.where(WorkOrder.status.in_(list(f.status)))
    if f.priority:
        query = query.where(WorkOrder.priority.in_(list(f.priority)))
    if f.device_id is not None:
        query = query.where(WorkOrder.device_id == f.device_id)
    if f.site_id is not None:
        query = query.where(WorkOrder.device_id.in_(select(Device.id).where(Device.site_id == f.site_id)))
    if f.assignee_id is not None:
        query = query.where(WorkOrder.assignee_id == f.assignee_id)
    if f.overdue is not None:
        query = query.where(overdue_clause(now) if f.overdue else not_(overdue_clause(now)))
    text = (f.text or "").strip()
    if text:
        query = query.where(
            or_(
                WorkOrder.title.icontains(text, autoescape=True),
                WorkOrder.fault_key.icontains(text, autoescape=True),
                WorkOrder.fix.icontains(text, autoescape=True),
                WorkOrder.device_id.in_(select(Device.id).where(Device.key.icontains(text, autoescape=True))),
            )
        )
    return query


def order_by_urgency(query: AnySelect) -> AnySelect:
    """Most urgent first (priority, then oldest), the id breaking ties so pages are stable."""
    return query.order_by(WorkOrder.priority, WorkOrder.created_at, WorkOrder.id)
