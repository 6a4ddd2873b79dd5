"""What an order's SLA says now: the deadline that matters, whether it is overdue, and for a
finished order whether it was met. One rule, used by the board, the order and route pages,
the order search (as SQL) and the KPIs, so they cannot disagree.

The deadlines themselves are fixed by priority when the order is created
(``priority.deadlines_for``) and only ever pulled in: an escalation raises the priority but
never moves a missed deadline out of view.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_

from ..db import WorkOrder

__all__ = ["AWAITING_RESPONSE", "IN_HAND", "deadline_of", "is_overdue", "overdue_clause", "sla_outcome"]

AWAITING_RESPONSE = ("open", "assigned")  # nobody has accepted yet: the response clock runs
IN_HAND = ("accepted", "in_progress")  # accepted: the resolution clock runs


def deadline_of(order: WorkOrder) -> datetime | None:
    """The deadline that matters now: response until someone accepts, then resolution;
    none once the work is resolved, closed or cancelled."""
    if order.status in AWAITING_RESPONSE:
        return order.response_due_at
    if order.status in IN_HAND:
        return order.resolution_due_at
    return None


def is_overdue(order: WorkOrder, now: datetime) -> bool:
    """Past the deadline that matters now (the Python twin of :func:`overdue_clause`)."""
    due = deadline_of(order)
    return due is not None and due < now


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """``WHERE`` form of :func:`is_overdue`, for searching and counting in the database."""
    return or_(
        and_(WorkOrder.status.in_(AWAITING_RESPONSE), WorkOrder.response_due_at < now),
        and_(WorkOrder.status.in_(IN_HAND), WorkOrder.resolution_due_at < now),
    )


def sla_outcome(order: WorkOrder) -> str | None:
    """For an order past its live states: whether it met its SLA (response: accepted by the
    response deadline; resolution: resolved by the resolution deadline). None while live."""
    if order.status not in ("resolved", "closed", "cancelled"):
        return None
    if order.status == "cancelled" and order.resolved_at is None:
        return "cancelled"
    responded = order.accepted_at is not None and order.accepted_at <= order.response_due_at
    resolved = order.resolved_at is not None and order.resolved_at <= order.resolution_due_at
    if responded and resolved:
        return "met"
    missed = [name for name, ok in (("response", responded), ("resolution", resolved)) if not ok]
    return "missed (" + " and ".join(missed) + ")"
