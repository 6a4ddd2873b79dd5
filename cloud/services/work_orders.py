"""Work orders: open one (deduplicated per device + fault key) or attach to the live one.

One live order per device + fault key (``dedup_key``, unique): a further alert for the same
fault attaches to it as evidence and may raise its priority; one arriving while a resolved
order is still in its verification window reopens it, because the repair did not hold.
The lifecycle actions are in :mod:`.transitions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Device, WorkOrder, WorkOrderPart
from .lifecycle import Status
from .order_log import device_context, record
from .priority import deadlines_for, priority_for, worse_severity
from .transitions import reopen, set_priority

__all__ = ["LiveOrders", "OrderSpec", "dedup_key", "fault_code_key", "live_order", "open_order"]

MAX_EVIDENCE = 20  # entries kept on an order; the alerts table keeps them all
WINDOWS_KEPT = 3  # ... and however old, the latest entries that carry sample windows


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
    fault_name: str | None = None  # services/fault_names.py: what the fault is called
    fault_source: str | None = None
    # the forecast's lower bound: what priority and the due date are timed by when known
    latest_safe_at: datetime | None = None
    rul: dict[str, Any] | None = None  # a RUL model's call in cycles (db.work.Alert.rul)


class LiveOrders(Protocol):
    """Live orders someone already looked up (an ingest batch's
    :class:`~cloud.services.batch_lookups.BatchLookups`), told of each order opened."""

    def live_order(self, device_id: int, fault_key: str) -> WorkOrder | None: ...

    def next_order_id(self) -> int | None: ...

    def opened(self, order: WorkOrder) -> None: ...


def dedup_key(device_id: int, fault_key: str) -> str:
    return f"{device_id}:{fault_key}"


def fault_code_key(code: int) -> str:
    """The fault key of an order opened by a fault code."""
    return f"code:0x{code:04x}"


def live_order(session: Session, device_id: int, fault_key: str) -> WorkOrder | None:
    return session.scalar(select(WorkOrder).where(WorkOrder.dedup_key == dedup_key(device_id, fault_key)))


def open_order(
    session: Session,
    device: Device,
    spec: OrderSpec,
    actor: str,
    now: datetime,
    known: LiveOrders | None = None,
) -> tuple[WorkOrder, bool]:
    """The live order for this device + fault, created if there is none. Returns (order, created)."""
    if known is not None:
        existing = known.live_order(device.id, spec.fault_key)
    else:
        existing = live_order(session, device.id, spec.fault_key)
    if existing is not None:
        _attach(session, device, existing, spec, actor, now)
        return existing, False
    tier, warranty = device_context(session, device, now)
    priority = priority_for(
        spec.severity, _time_left(spec.latest_safe_at, spec.predicted_failure_at, now), tier, warranty
    )
    respond_by, resolve_by = deadlines_for(priority, now)
    if spec.latest_safe_at is not None:  # fixed before the machine may fail, if the SLA allows later
        resolve_by = max(respond_by, min(resolve_by, spec.latest_safe_at))
    order = WorkOrder(
        tenant_id=device.tenant_id,
        device_id=device.id,
        source=spec.source,
        kind=spec.kind,
        title=spec.title,
        fault_key=spec.fault_key,
        category=spec.category,
        fault_name=spec.fault_name,
        fault_source=spec.fault_source,
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
        latest_safe_at=spec.latest_safe_at,
        rul=spec.rul,
        model_version=spec.model_version,
        evidence=[spec.evidence] if spec.evidence else [],
        description=spec.description,
        declined_by=[],
        escalation_level=0,
        reopened=0,
    )
    reserved = known.next_order_id() if known is not None else None
    if reserved is not None:
        order.id = reserved
    session.add(order)
    if reserved is None:
        session.flush()  # the id goes into the event hash
    if known is not None:
        known.opened(order)
    for number, name, qty in spec.parts:
        session.add(WorkOrderPart(work_order_id=order.id, part_number=number, name=name, quantity=qty))
    record(
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


def _time_left(
    latest_safe_at: datetime | None, failure_at: datetime | None, now: datetime
) -> timedelta | None:
    """How long until the work must be done: to the forecast's lower bound when there is one
    (the latest safe time), else to its point."""
    until = latest_safe_at or failure_at
    return until - now if until is not None else None


def kept_evidence(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest MAX_EVIDENCE entries plus the latest WINDOWS_KEPT with samples, in order:
    repeats that carry only scores must not push the samples the engineer wants to see out."""
    windows = [i for i, e in enumerate(entries) if e.get("window")][-WINDOWS_KEPT:]
    first_recent = max(0, len(entries) - MAX_EVIDENCE)
    keep = sorted({*windows, *range(first_recent, len(entries))})
    return [entries[i] for i in keep]


def _attach(
    session: Session, device: Device, order: WorkOrder, spec: OrderSpec, actor: str, now: datetime
) -> None:
    """A repeat of a live order's fault: keep the evidence, maybe raise the priority or reopen."""
    if spec.evidence:
        order.evidence = kept_evidence([*order.evidence, spec.evidence])
    data: dict[str, Any] = {"source": spec.source, "severity": spec.severity}
    order.severity = worse_severity(order.severity, spec.severity)
    if spec.predicted_failure_at and (
        order.predicted_failure_at is None or spec.predicted_failure_at < order.predicted_failure_at
    ):
        order.predicted_failure_at = spec.predicted_failure_at
    if spec.latest_safe_at and (order.latest_safe_at is None or spec.latest_safe_at < order.latest_safe_at):
        order.latest_safe_at, order.rul = spec.latest_safe_at, spec.rul or order.rul
    tier, warranty = device_context(session, device, now)
    ttf = _time_left(order.latest_safe_at, order.predicted_failure_at, now)
    wanted = priority_for(order.severity, ttf, tier, warranty)
    if wanted < order.priority:
        data["priority"] = {"from": order.priority, "to": wanted}
        set_priority(order, wanted, now)
    record(session, device, order, "evidence_attached", actor, now, data, tell_customer=False)
    if order.status == Status.RESOLVED and spec.source == "alert":
        reopen(session, device, order, actor, now, "the fault came back during the verification window")
