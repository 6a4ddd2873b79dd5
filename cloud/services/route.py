"""An engineer's day: their live work orders in the order to drive to them.

The route starts at the engineer's home and always goes to the nearest site not yet
visited (nearest neighbour: a few stops a day, where it is within a few percent of the
best tour and easy to explain). Work already in progress comes first, wherever it is.
Each stop says what to bring: the parts planned on the order (a replacement order
carries its consumable) or, failing that, what similar resolved cases needed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Device, Engineer, Site, WorkOrder, WorkOrderPart
from .dispatch import haversine_km
from .knowledge import similar_cases

__all__ = ["ON_ROUTE", "Stop", "plan_route"]

#: statuses an engineer still has to travel for
ON_ROUTE = ("in_progress", "accepted", "assigned")


@dataclass(slots=True)
class Stop:
    order: WorkOrder
    device: Device
    site: Site | None
    leg_km: float | None  # from the previous stop (home for the first); None without a site
    parts: list[tuple[str, str, int]] = field(default_factory=list)  # number, name, quantity
    parts_from: str = "order"  # "order" | "similar cases" | "none"


def _parts(session: Session, order: WorkOrder) -> tuple[list[tuple[str, str, int]], str]:
    planned = session.scalars(select(WorkOrderPart).where(WorkOrderPart.work_order_id == order.id)).all()
    if planned:
        return [(p.part_number, p.name, p.quantity) for p in planned], "order"
    needed: Counter[tuple[str, str]] = Counter()
    for case in similar_cases(session, order, limit=3):
        for p in case["parts"]:
            needed[(p["part_number"], p["name"])] = max(needed[(p["part_number"], p["name"])], p["quantity"])
    if needed:
        return [(n, name, q) for (n, name), q in sorted(needed.items())], "similar cases"
    return [], "none"


def plan_route(session: Session, engineer: Engineer) -> list[Stop]:
    orders = list(
        session.scalars(
            select(WorkOrder)
            .where(WorkOrder.assignee_id == engineer.id, WorkOrder.status.in_(ON_ROUTE))
            .order_by(WorkOrder.priority, WorkOrder.id)
        )
    )
    devices = {
        d.id: d for d in session.scalars(select(Device).where(Device.id.in_({o.device_id for o in orders})))
    }
    sites = {
        s.id: s
        for s in session.scalars(
            select(Site).where(Site.id.in_({d.site_id for d in devices.values() if d.site_id}))
        )
    }

    def site_of(o: WorkOrder) -> Site | None:
        return sites.get(devices[o.device_id].site_id or -1)

    def km(a: tuple[float, float], site: Site | None) -> float:
        return haversine_km(*a, site.latitude, site.longitude) if site else float("inf")

    here = (engineer.home_latitude, engineer.home_longitude)
    pending = [o for o in orders if o.status != "in_progress"]
    ordered = [o for o in orders if o.status == "in_progress"]
    while pending:
        nearest = min(pending, key=lambda o, at=here: (km(at, site_of(o)), o.priority, o.id))  # type: ignore[misc]
        pending.remove(nearest)
        ordered.append(nearest)
        if (site := site_of(nearest)) is not None:
            here = (site.latitude, site.longitude)
    stops: list[Stop] = []
    here = (engineer.home_latitude, engineer.home_longitude)
    for order in ordered:
        device = devices[order.device_id]
        site = sites.get(device.site_id or -1)
        leg = haversine_km(*here, site.latitude, site.longitude) if site else None
        if site is not None:
            here = (site.latitude, site.longitude)
        parts, source = _parts(session, order)
        stops.append(Stop(order, device, site, leg, parts, source))
    return stops
