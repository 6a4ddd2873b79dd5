"""Service KPIs over a period: what a service manager and R&D ask of the work-order history.

- mean time to repair: created -> resolved, over orders resolved in the period;
- SLA compliance: of the orders created in the period whose deadline has passed or was
  met, the share that met it (response = accepted in time; resolution = resolved in time);
- first-time-fix rate: orders resolved in the period that never had to be reopened;
- CSAT: the customers' mean rating (1-5) and how many rated;
- alerts per device-day: alerts raised in the period over the device-days in it, each
  device counted from when it first reported;
- top faults per product model: the list R&D asks for;
- top faults per product model: alerts by fault name (``services/fault_names.py``), each
  with the channel sets behind it;
- overdue now: live orders past the deadline that matters (``services/sla.py``);
- demand for the next 30 days: consumables predicted to run out, plus the spare parts the
  period used, scaled to 30 days, as whole units with the chance that many are enough
  (``services/parts_forecast.py``).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..catalog import CONSUMABLE_PARTS, family_of
from ..db import Alert, Consumable, Device, WorkOrder, WorkOrderPart
from ..fault_catalog import label_of
from .parts_forecast import depletion_probability, stock_for, stock_for_rate
from .sla import overdue_clause

__all__ = ["Demand", "Kpis", "TopFault", "service_kpis"]

FORECAST = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Demand:
    part_number: str
    name: str
    quantity: int  # whole units to have on hand
    covers: float  # the chance that ``quantity`` is enough for the next 30 days
    expected: float  # the mean demand
    source: str  # "consumable forecast" | "repair history"


@dataclass(frozen=True, slots=True)
class TopFault:
    fault_name: str  # key; "" for alerts from before fault names
    label: str
    alerts: int
    channels: list[tuple[str, int]]  # the fault keys behind it, most alerts first


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
    overdue: int = 0  # live orders past their deadline now
    top_faults: dict[str, list[TopFault]] = field(default_factory=dict)
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
        select(Device.model, Alert.fault_name, Alert.fault_key)
        .join(Device, Device.id == Alert.device_id)
        .where(Alert.tenant_id == tenant_id, Alert.raised_at >= since, Alert.raised_at <= now)
    ).all()
    per_model: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for model, fault_name, fault_key in alert_rows:
        per_model[model or "unknown"][fault_name or ""][fault_key] += 1
    overdue = session.scalar(
        select(func.count())
        .select_from(WorkOrder)
        .where(WorkOrder.tenant_id == tenant_id, overdue_clause(now))
    )
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
        overdue=overdue or 0,
        top_faults={m: _top(m, names) for m, names in sorted(per_model.items())},
        demand=_demand(session, tenant_id, now, [o.id for o in resolved], days),
    )


def _top(model: str, names: dict[str, Counter[str]], limit: int = 5) -> list[TopFault]:
    family = family_of(model)
    faults = [
        TopFault(
            name,
            label_of(family, name) if name else "unnamed (before fault names)",
            sum(keys.values()),
            keys.most_common(),
        )
        for name, keys in names.items()
    ]
    faults.sort(key=lambda f: (-f.alerts, f.label))
    return faults[:limit]


def _demand(
    session: Session, tenant_id: int, now: datetime, resolved_ids: list[int], days: float
) -> list[Demand]:
    horizon = now + FORECAST
    odds: dict[str, list[float]] = defaultdict(list)
    for c in session.scalars(
        select(Consumable).where(
            Consumable.tenant_id == tenant_id,
            or_(Consumable.predicted_depletion_at <= horizon, Consumable.depletion_lo <= horizon),
        )
    ):
        assert c.predicted_depletion_at is not None
        odds[c.name].append(
            depletion_probability(c.predicted_depletion_at, c.depletion_lo, c.depletion_hi, horizon)
        )
    out = []
    for name, ps in sorted(odds.items()):
        quantity, covers = stock_for(ps)
        number, label = CONSUMABLE_PARTS.get(name, (name, name.replace("_", " ")))
        out.append(Demand(number, label, quantity, covers, round(sum(ps), 2), "consumable forecast"))
    used: Counter[tuple[str, str]] = Counter()
    if resolved_ids:
        for part in session.scalars(
            select(WorkOrderPart).where(WorkOrderPart.work_order_id.in_(resolved_ids))
        ):
            used[(part.part_number, part.name)] += part.quantity
    scale = FORECAST.total_seconds() / timedelta(days=days).total_seconds()
    for (number, name), qty in sorted(used.items()):
        quantity, covers = stock_for_rate(qty * scale)
        out.append(Demand(number, name, quantity, covers, round(qty * scale, 2), "repair history"))
    return out
