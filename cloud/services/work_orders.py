"""Work orders: open (deduplicated), move through the lifecycle, and record every change.

One live order per device + fault key (``dedup_key``, unique): a further alert for the same
fault attaches to it as evidence and may raise its priority; one arriving while a resolved
order is still in its verification window reopens it, because the repair did not hold.
Every change appends a hash-chained event (:mod:`.history`) and a tier-1 notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Customer, Device, Engineer, Site, Task, WorkOrder, WorkOrderPart
from ..errors import Conflict, InvalidRequest
from .history import append_event
from .lifecycle import LIVE, Action, Status, next_status
from .notify import KEY_STEP, STATUS_CHANGE, notify
from .priority import deadlines_for, priority_for, raise_priority

__all__ = [
    "OrderSpec",
    "PartUsed",
    "accept",
    "assign",
    "cancel",
    "close",
    "decline",
    "close_if_done",
    "dedup_key",
    "escalate",
    "live_order",
    "note_alert_cleared",
    "note_unassigned",
    "open_order",
    "rate",
    "reopen",
    "set_priority",
    "resolve",
    "start",
]

_SEVERITY_RANK = {"warning": 1, "major": 2, "critical": 3}
MAX_EVIDENCE = 20  # entries kept on an order; the alerts table keeps them all


@dataclass(frozen=True, slots=True)
class OrderSpec:
    source: str  # alert | consumable | fault | manual
    kind: str  # preventive | replacement | corrective
    title: str
    fault_key: str
    category: str
    severity: str
    predicted_failure_at: datetime | None = None
    model_version: str | None = None
    evidence: dict[str, Any] | None = None
    description: str = ""
    parts: tuple[tuple[str, str, int], ...] = ()  # (part number, name, quantity) to bring


@dataclass(frozen=True, slots=True)
class PartUsed:
    part_number: str
    name: str
    quantity: int = 1


def dedup_key(device_id: int, fault_key: str) -> str:
    return f"{device_id}:{fault_key}"


def live_order(session: Session, device_id: int, fault_key: str) -> WorkOrder | None:
    return session.scalar(select(WorkOrder).where(WorkOrder.dedup_key == dedup_key(device_id, fault_key)))


def _context(session: Session, device: Device, now: datetime) -> tuple[str, bool]:
    """(customer tier, under warranty) of a device."""
    tier = "standard"
    if device.site_id is not None:
        site = session.get(Site, device.site_id)
        if site is not None and site.customer_id is not None:
            customer = session.get(Customer, site.customer_id)
            tier = customer.tier if customer is not None else tier
    warranty_end: date | None = device.warranty_end
    return tier, warranty_end is not None and warranty_end >= now.date()


def _customer_recipient(session: Session, device: Device) -> str:
    site = session.get(Site, device.site_id) if device.site_id is not None else None
    return f"customer:{site.customer_id}" if site is not None and site.customer_id else "customer:unknown"


def _record(
    session: Session,
    device: Device,
    order: WorkOrder,
    kind: str,
    actor: str,
    now: datetime,
    data: dict[str, Any] | None = None,
    *,
    tell_customer: bool = True,
) -> None:
    order.updated_at = now
    append_event(session, device, order, kind, actor, now, data)
    if tell_customer:
        notify(
            session,
            order,
            STATUS_CHANGE,
            _customer_recipient(session, device),
            f"work order #{order.id} ({order.title}): {kind.replace('_', ' ')}",
            now,
        )


def open_order(
    session: Session, device: Device, spec: OrderSpec, actor: str, now: datetime
) -> tuple[WorkOrder, bool]:
    """The live order for this device + fault, created if there is none. Returns (order, created)."""
    existing = live_order(session, device.id, spec.fault_key)
    if existing is not None:
        _attach(session, device, existing, spec, actor, now)
        return existing, False
    tier, warranty = _context(session, device, now)
    ttf = spec.predicted_failure_at - now if spec.predicted_failure_at else None
    priority = priority_for(spec.severity, ttf, tier, warranty)
    respond_by, resolve_by = deadlines_for(priority, now)
    order = WorkOrder(
        tenant_id=device.tenant_id,
        device_id=device.id,
        source=spec.source,
        kind=spec.kind,
        title=spec.title,
        fault_key=spec.fault_key,
        category=spec.category,
        status=Status.OPEN.value,
        priority=priority,
        severity=spec.severity,
        dedup_key=dedup_key(device.id, spec.fault_key),
        under_warranty=warranty,
        created_at=now,
        updated_at=now,
        response_due_at=respond_by,
        resolution_due_at=resolve_by,
        predicted_failure_at=spec.predicted_failure_at,
        model_version=spec.model_version,
        evidence=[spec.evidence] if spec.evidence else [],
        description=spec.description,
        declined_by=[],
        escalation_level=0,
        reopened=0,
    )
    session.add(order)
    session.flush()  # the id goes into the event hash
    for number, name, qty in spec.parts:
        session.add(WorkOrderPart(work_order_id=order.id, part_number=number, name=name, quantity=qty))
    _record(
        session,
        device,
        order,
        "created",
        actor,
        now,
        {
            "source": spec.source,
            "priority": priority,
            "tier": tier,
            "under_warranty": warranty,
            "fault_key": spec.fault_key,
            "category": spec.category,
        },
    )
    return order, True


def _attach(
    session: Session, device: Device, order: WorkOrder, spec: OrderSpec, actor: str, now: datetime
) -> None:
    """A repeat of a live order's fault: keep the evidence, maybe raise the priority or reopen."""
    if spec.evidence:
        order.evidence = [*order.evidence, spec.evidence][-MAX_EVIDENCE:]
    data: dict[str, Any] = {"source": spec.source, "severity": spec.severity}
    if _SEVERITY_RANK.get(spec.severity, 0) > _SEVERITY_RANK.get(order.severity, 0):
        order.severity = spec.severity
    if spec.predicted_failure_at and (
        order.predicted_failure_at is None or spec.predicted_failure_at < order.predicted_failure_at
    ):
        order.predicted_failure_at = spec.predicted_failure_at
    tier, warranty = _context(session, device, now)
    ttf = order.predicted_failure_at - now if order.predicted_failure_at else None
    wanted = priority_for(order.severity, ttf, tier, warranty)
    if wanted < order.priority:
        data["priority"] = {"from": order.priority, "to": wanted}
        set_priority(order, wanted, now)
    _record(session, device, order, "evidence_attached", actor, now, data, tell_customer=False)
    if order.status == Status.RESOLVED and spec.source == "alert":
        reopen(session, device, order, actor, now, "the fault came back during the verification window")


def set_priority(order: WorkOrder, priority: int, now: datetime) -> None:
    """Change the priority and pull the SLA deadlines in (never push them out)."""
    order.priority = priority
    respond_by, resolve_by = deadlines_for(priority, order.created_at)
    order.response_due_at = min(order.response_due_at, max(respond_by, now))
    order.resolution_due_at = min(order.resolution_due_at, max(resolve_by, now))


def escalate(session: Session, device: Device, order: WorkOrder, actor: str, now: datetime) -> None:
    before = order.priority
    order.escalation_level += 1
    set_priority(order, raise_priority(order.priority), now)
    order.response_due_at = max(order.response_due_at, now + timedelta(hours=1))  # a fresh chance
    _record(
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
    _record(
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
    _record(session, device, order, "accepted", actor, now, {"engineer_id": order.assignee_id})


def decline(
    session: Session, device: Device, order: WorkOrder, actor: str, now: datetime, reason: str
) -> None:
    engineer_id = order.assignee_id
    _move(order, Action.DECLINE)
    if engineer_id is not None:
        order.declined_by = [*order.declined_by, engineer_id]
    order.assignee_id = order.assigned_at = None
    _record(
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
    _record(session, device, order, "started", actor, now)


def resolve(
    session: Session,
    device: Device,
    order: WorkOrder,
    actor: str,
    now: datetime,
    fix: str,
    parts: list[PartUsed],
    verification: timedelta,
) -> None:
    if not fix.strip():
        raise InvalidRequest("a resolution needs a description of the fix")
    _move(order, Action.RESOLVE)
    order.resolved_at, order.fix = now, fix
    order.verify_until = now + verification
    for p in parts:
        session.add(
            WorkOrderPart(work_order_id=order.id, part_number=p.part_number, name=p.name, quantity=p.quantity)
        )
    _record(
        session,
        device,
        order,
        "resolved",
        actor,
        now,
        {
            "fix": fix,
            "parts": [[p.part_number, p.quantity] for p in parts],
            "verify_until": order.verify_until.isoformat(),
        },
    )
    notify(
        session,
        order,
        KEY_STEP,
        _customer_recipient(session, device),
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
    _record(
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
    _record(session, device, order, "closed", actor, now)


def reopen(
    session: Session, device: Device, order: WorkOrder, actor: str, now: datetime, reason: str
) -> None:
    _move(order, Action.REOPEN)
    order.reopened += 1
    order.resolved_at = order.verify_until = order.fix = None
    order.rating = order.rating_comment = None
    order.assignee_id = order.assigned_at = order.accepted_at = order.started_at = None
    respond_by, resolve_by = deadlines_for(order.priority, now)
    order.response_due_at, order.resolution_due_at = respond_by, resolve_by
    _record(session, device, order, "reopened", actor, now, {"reason": reason})
    notify(session, order, KEY_STEP, "dispatcher", f"work order #{order.id} reopened: {reason}", now)


def cancel(
    session: Session, device: Device, order: WorkOrder, actor: str, now: datetime, reason: str
) -> None:
    _move(order, Action.CANCEL)
    order.closed_at = now
    _record(session, device, order, "cancelled", actor, now, {"reason": reason})


def note_unassigned(
    session: Session, device: Device, order: WorkOrder, actor: str, now: datetime, reason: str
) -> None:
    """Dispatch found nobody: say so in the history and tell the dispatcher (once per reason)."""
    _record(session, device, order, "dispatch_failed", actor, now, {"reason": reason}, tell_customer=False)
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
    _record(
        session,
        device,
        order,
        "alert_cleared",
        actor,
        now,
        {"alert_id": alert_key, "cleared_before_action": before_action},
        tell_customer=False,
    )
