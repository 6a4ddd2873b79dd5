"""Service KPIs over a period: what a service manager and R&D ask of the work-order history.

- mean time to repair: created -> resolved, over orders resolved in the period;
- SLA compliance: of the orders created in the period whose deadline has passed or was
  met, the share that met it (response = accepted in time; resolution = resolved in time);
- first-time-fix rate: orders resolved in the period that never had to be reopened;
- CSAT: the customers' mean rating (1-5) and how many rated;
- alerts per device-day: alerts raised in the period over the device-days in it, each
  device counted from when it first reported;
- top faults per product model: the list R&D asks for;
- demand for the next 30 days: consumables predicted to run out, plus the spare parts the
  period used, scaled to 30 days.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..catalog import CONSUMABLE_PARTS
from ..db import Alert, Consumable, Device, WorkOrder, WorkOrderPart

__all__ = ["Demand", "Kpis", "service_kpis"]

FORECAST = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Demand:
    part_number: str
    name: str
    quantity: float
    source: str  # "consumable forecast" | "repair history"


@dataclass(slots=True)
class Kpis:
    since: datetime
    until: datetime
    devices: int
    device_days: float  # each device counts from when it was first heard of
    orders_created: int
    orders_resolved: int
    mttr_hours: float | None
    sla_response: float | None
    sla_resolution: float | None
    first_time_fix: float | None
    csat: float | None
    ratings: int
    alerts: int
    alerts_per_device_day: float | None
    top_faults: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    demand: list[Demand] = field(default_factory=list)


def _share(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _met(done_at: datetime | None, due_at: datetime, now: datetime) -> bool | None:
    """True/False once decided; None while the deadline is still ahead and nothing happened."""
    if done_at is not None:
        return done_at <= due_at
    return False if now > due_at else None


def service_kpis(session: Session, tenant_id: int, now: datetime, days: float = 90.0) -> Kpis:
    since = now - timedelta(days=days)
    created = list(
        session.scalars(
            select(WorkOrder).where(WorkOrder.tenant_id == tenant_id, WorkOrder.created_at >= since)
        )
    )
    resolved = list(
        session.scalars(
            select(WorkOrder).where(
                WorkOrder.tenant_id == tenant_id, WorkOrder.resolved_at >= since, WorkOrder.resolved_at <= now
            )
        )
    )
    response = [m for o in created if (m := _met(o.accepted_at, o.response_due_at, now)) is not None]
    resolution = [m for o in created if (m := _met(o.resolved_at, o.resolution_due_at, now)) is not None]
    repair_hours = [
        (o.resolved_at - o.created_at).total_seconds() / 3600 for o in resolved if o.resolved_at is not None
    ]
    ratings = [o.rating for o in resolved if o.rating is not None]  # rated once resolved
    seen = list(session.scalars(select(Device.first_seen_at).where(Device.tenant_id == tenant_id)))
    device_days = sum(max(0.0, (now - max(since, t)).total_seconds() / 86400) for t in seen if t is not None)
    alert_rows = session.execute(
        select(Device.model, Alert.fault_key)
        .join(Device, Device.id == Alert.device_id)
        .where(Alert.tenant_id == tenant_id, Alert.raised_at >= since, Alert.raised_at <= now)
    ).all()
    per_model: dict[str, Counter[str]] = defaultdict(Counter)
    for model, fault_key in alert_rows:
        per_model[model or "unknown"][fault_key] += 1
    return Kpis(
        since=since,
        until=now,
        devices=len(seen),
        device_days=device_days,
        orders_created=len(created),
        orders_resolved=len(resolved),
        mttr_hours=statistics.fmean(repair_hours) if repair_hours else None,
        sla_response=_share(sum(response), len(response)),
        sla_resolution=_share(sum(resolution), len(resolution)),
        first_time_fix=_share(sum(1 for o in resolved if o.reopened == 0), len(resolved)),
        csat=statistics.fmean(ratings) if ratings else None,
        ratings=len(ratings),
        alerts=len(alert_rows),
        alerts_per_device_day=len(alert_rows) / device_days if device_days else None,
        top_faults={m: c.most_common(5) for m, c in sorted(per_model.items())},
        demand=_demand(session, tenant_id, now, [o.id for o in resolved], days),
    )


def _demand(
    session: Session, tenant_id: int, now: datetime, resolved_ids: list[int], days: float
) -> list[Demand]:
    due = Counter(
        session.scalars(
            select(Consumable.name).where(
                Consumable.tenant_id == tenant_id,
                Consumable.predicted_depletion_at <= now + FORECAST,
            )
        )
    )
    out = [
        Demand(*CONSUMABLE_PARTS.get(name, (name, name.replace("_", " "))), float(n), "consumable forecast")
        for name, n in sorted(due.items())
    ]
    used: Counter[tuple[str, str]] = Counter()
    if resolved_ids:
        for part in session.scalars(
            select(WorkOrderPart).where(WorkOrderPart.work_order_id.in_(resolved_ids))
        ):
            used[(part.part_number, part.name)] += part.quantity
    scale = FORECAST.total_seconds() / timedelta(days=days).total_seconds()
    out += [
        Demand(number, name, round(qty * scale, 1), "repair history")
        for (number, name), qty in sorted(used.items())
    ]
    return out
