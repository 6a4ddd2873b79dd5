"""Work-order transitions: each action checks the state machine, sets its timestamps, records
an event and tells whoever owns the next step. Illegal moves raise IllegalTransition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ..db import Device, Engineer, Task, WorkOrder, WorkOrderPart
from ..errors import Conflict, InvalidRequest
from .fault_names import learn_finding
from .lifecycle import LIVE, Action, Status, next_status
from .notify import KEY_STEP, notify
from .order_log import customer_recipient, record
from .priority import deadlines_for, raise_priority

__all__ = [
    "PartUsed",
    "accept",
    "assign",
    "cancel",
    "close",
    "close_if_done",
    "decline",
    "escalate",
    "note_alert_cleared",
    "note_unassigned",
    "rate",
    "reopen",
    "resolve",
    "set_priority",
    "start",
]


@dataclass(frozen=True, slots=True)
class PartUsed:
    part_number: str
    name: str
    quantity: int = 1


def set_priority(order: WorkOrder, priority: int, now: datetime) -> None:
    """Change the priority and pull the SLA deadlines in (never push them out)."""
    order.priority = priority
    respond_by, resolve_by = deadlines_for(priority, order.created_at)
    order.response_due_at = min(order.response_due_at, max(respond_by, now))
    order.resolution_due_at = min(order.resolution_due_at, max(resolve_by, now))


def escalate(session: Session, device: Device, order: WorkOrder, actor: str, now: datetime) -> None:
    before = order.priority
    order.escalation_level += 1
    order.escalated_at = now
    set_priority(order, raise_priority(order.priority), now)
    # the missed deadline stays where it was (the pages show it overdue); the scheduler paces
    # further escalations by the level instead (see scheduler.ESCALATE_EVERY)
    record(
        session,
        device,
        order,
        "escalated",
        actor,
        now,
        {"level": order.escalation_level, "priority": {"from": before, "to": order.priority}},
    )
    notify(
        session,
        order,
        KEY_STEP,
        "supervisor",
        f"work order #{order.id} not accepted within its SLA; priority P{before} -> P{order.priority}",
        now,
    )


def _move(order: WorkOrder, action: Action) -> str:
    before = order.status
    order.status = next_status(order.status, action).value
    if order.status not in LIVE:
        order.dedup_key = None
    return before


def assign(
    session: Session,
    device: Device,
    order: WorkOrder,
    engineer: Engineer,
    actor: str,
    now: datetime,
    explanation: dict[str, Any] | None = None,
) -> None:
    _move(order, Action.ASSIGN)
    order.assignee_id, order.assigned_at = engineer.id, now
    order.dispatch = explanation or {
        "engineer_id": engineer.id,
        "engineer": engineer.name,
        "manual": True,
        "by": actor,
    }
    record(
        session,
        device,
        order,
        "assigned",
        actor,
        now,
        {"engineer_id": engineer.id, "score": (explanation or {}).get("score")},
    )
    notify(
        session,
        order,
        KEY_STEP,
        f"engineer:{engineer.id}",
        f"work order #{order.id} assigned to you: {order.title}",
        now,
    )


def accept(session: Session, device: Device, order: WorkOrder, actor: str, now: datetime) -> None:
    _move(order, Action.ACCEPT)
    order.accepted_at = now
    record(session, device, order, "accepted", actor, now, {"engineer_id": order.assignee_id})


def decline(
    session: Session, device: Device, order: WorkOrder, actor: str, now: datetime, reason: str
) -> None:
    engineer_id = order.assignee_id
    _move(order, Action.DECLINE)
    if engineer_id is not None:
        order.declined_by = [*order.declined_by, engineer_id]
    order.assignee_id = order.assigned_at = None
    record(
        session,
        device,
        order,
        "declined",
        actor,
        now,
        {"engineer_id": engineer_id, "reason": reason},
        tell_customer=False,
    )


def start(session: Session, device: Device, order: WorkOrder, actor: str, now: datetime) -> None:
    _move(order, Action.START)
    order.started_at = now
    record(session, device, order, "started", actor, now)


def resolve(
    session: Session,
    device: Device,
    order: WorkOrder,
    actor: str,
    now: datetime,
    fix: str,
    parts: list[PartUsed],
    verification: timedelta,
    finding: str | None = None,
) -> None:
    """Resolved with the fix, the parts used and, when the engineer says what they found
    (a fault mode key or ``no_fault_found``), the finding that names later alerts like it."""
    if not fix.strip():
        raise InvalidRequest("a resolution needs a description of the fix")
    _move(order, Action.RESOLVE)
    order.resolved_at, order.fix = now, fix
    if finding:
        learn_finding(session, order, finding)
    order.verify_until = now + verification
    for p in parts:
        session.add(
            WorkOrderPart(work_order_id=order.id, part_number=p.part_number, name=p.name, quantity=p.quantity)
        )
    record(
        session,
        device,
        order,
        "resolved",
        actor,
        now,
        {
            "fix": fix,
            "finding": finding,
            "parts": [[p.part_number, p.quantity] for p in parts],
            "verify_until": order.verify_until.isoformat(),
        },
    )
    notify(
        session,
        order,
        KEY_STEP,
        customer_recipient(session, device),
        f"work order #{order.id} is resolved; please rate the service",
        now,
    )


def rate(
    session: Session,
    device: Device,
    order: WorkOrder,
    actor: str,
    now: datetime,
    stars: int,
    comment: str | None,
) -> None:
    if order.status != Status.RESOLVED:
        raise Conflict(f"only a resolved work order can be rated (this one is {order.status})")
    if order.rating is not None:
        raise Conflict("this work order is already rated")
    order.rating, order.rating_comment = stars, comment
    record(
        session, device, order, "rated", actor, now, {"stars": stars, "comment": comment}, tell_customer=False
    )
    if stars < 3:
        session.add(
            Task(
                tenant_id=order.tenant_id,
                work_order_id=order.id,
                kind="review",
                title=f"review work order #{order.id}: rated {stars}/5",
                status="open",
                created_at=now,
            )
        )
        notify(
            session,
            order,
            KEY_STEP,
            "supervisor",
            f"work order #{order.id} was rated {stars}/5: review it",
            now,
        )
    close_if_done(session, device, order, actor, now)


def close_if_done(session: Session, device: Device, order: WorkOrder, actor: str, now: datetime) -> bool:
    """Close a resolved order once it is rated and its verification window has passed clean."""
    if order.status != Status.RESOLVED or order.rating is None:
        return False
    if order.verify_until is not None and now < order.verify_until:
        return False
    close(session, device, order, actor, now)
    return True


def close(session: Session, device: Device, order: WorkOrder, actor: str, now: datetime) -> None:
    _move(order, Action.CLOSE)
    order.closed_at = now
    record(session, device, order, "closed", actor, now)


def reopen(
    session: Session, device: Device, order: WorkOrder, actor: str, now: datetime, reason: str
) -> None:
    _move(order, Action.REOPEN)
    order.reopened += 1
    order.resolved_at = order.verify_until = order.fix = order.finding = None
    order.rating = order.rating_comment = None
    order.assignee_id = order.assigned_at = order.accepted_at = order.started_at = None
    respond_by, resolve_by = deadlines_for(order.priority, now)
    order.response_due_at, order.resolution_due_at = respond_by, resolve_by
    record(session, device, order, "reopened", actor, now, {"reason": reason})
    notify(session, order, KEY_STEP, "dispatcher", f"work order #{order.id} reopened: {reason}", now)


def cancel(
    session: Session, device: Device, order: WorkOrder, actor: str, now: datetime, reason: str
) -> None:
    _move(order, Action.CANCEL)
    order.closed_at = now
    record(session, device, order, "cancelled", actor, now, {"reason": reason})


def note_unassigned(
    session: Session, device: Device, order: WorkOrder, actor: str, now: datetime, reason: str
) -> None:
    """Dispatch found nobody: say so in the history and tell the dispatcher (once per reason)."""
    record(session, device, order, "dispatch_failed", actor, now, {"reason": reason}, tell_customer=False)
    notify(
        session,
        order,
        KEY_STEP,
        "dispatcher",
        f"work order #{order.id} needs a manual assignment: {reason}",
        now,
    )


def note_alert_cleared(
    session: Session, device: Device, order: WorkOrder, alert_key: str, actor: str, now: datetime
) -> None:
    """An alert behind the order cleared. The order stays (a human decides); the history says
    whether the clear came before anyone acted on it."""
    if order.status in ("closed", "cancelled"):
        return
    before_action = order.status in (Status.OPEN, Status.ASSIGNED)
    record(
        session,
        device,
        order,
        "alert_cleared",
        actor,
        now,
        {"alert_id": alert_key, "cleared_before_action": before_action},
        tell_customer=False,
    )
