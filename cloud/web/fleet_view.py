"""The fleet at a glance: one row per device the caller may see, for the fleet-health page.

Built from five bulk queries (devices with their sites, active alerts, live orders,
consumables close to depletion), never one query per device, so the page stays quick for
a few hundred devices.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from ..api.scope import TenantScope
from ..db import Alert, Consumable, Device, Site, WorkOrder
from ..services.health import connectivity
from ..services.priority import SEVERITY_RANK

__all__ = ["SORTS", "ConsumableDue", "FleetRow", "fleet_choices", "fleet_rows"]

#: consumables predicted to run out within this horizon are shown on the fleet page
DUE_HORIZON = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class ConsumableDue:
    name: str
    remaining_fraction: float
    predicted_depletion_at: datetime


@dataclass(slots=True)
class FleetRow:
    id: int
    key: str
    model: str | None
    site_key: str | None
    site_name: str | None
    registered: bool
    health: float
    condition: str  # the worst active alert's severity, or "normal"
    connectivity: str  # online | offline | never_seen
    last_seen_at: datetime | None
    predicted_failure_at: datetime | None
    active_alerts: int = 0
    live_orders: int = 0
    consumables_due: list[ConsumableDue] = field(default_factory=list)

    @property
    def status(self) -> str:
        """One word for the row's badge: offline beats everything, then the alert level."""
        return self.connectivity if self.connectivity != "online" else self.condition


def _by_health(r: FleetRow) -> tuple[float, str]:
    return (r.health, r.key)


SORTS = {
    "health": _by_health,
    "site": lambda r: (r.site_key or "~", r.key),
    "model": lambda r: (r.model or "~", r.key),
    "device": lambda r: (r.key,),
    "alerts": lambda r: (-r.active_alerts, r.health, r.key),
    "last_seen": lambda r: (r.last_seen_at.timestamp() if r.last_seen_at else 0.0, r.key),
}


def fleet_choices(scope: TenantScope) -> tuple[list[str], list[str]]:
    """The site keys and models the caller's devices have: the fleet page's filter options."""
    session = scope.session
    query = scope.devices(select(Site.key, Device.model)).outerjoin(Site, Site.id == Device.site_id)
    pairs = session.execute(query.distinct()).all()
    return sorted({s for s, _ in pairs if s}), sorted({m for _, m in pairs if m})


def fleet_rows(
    scope: TenantScope,
    now: datetime,
    offline_after: timedelta,
    *,
    site: str | None = None,
    model: str | None = None,
    sort: str = "health",
) -> list[FleetRow]:
    """Rows for every visible device, filtered by site key and model, sorted by ``sort``
    (a key of :data:`SORTS`; worst health first by default)."""
    session = scope.session
    query = scope.devices(select(Device, Site)).outerjoin(Site, Site.id == Device.site_id)
    if site:
        query = query.where(Site.key == site)
    if model:
        query = query.where(Device.model == model)
    rows: dict[int, FleetRow] = {}
    for device, where in session.execute(query):
        rows[device.id] = FleetRow(
            id=device.id,
            key=device.key,
            model=device.model,
            site_key=where.key if where else None,
            site_name=where.name if where else None,
            registered=device.registered,
            health=device.health if device.health is not None else 1.0,
            condition="normal",
            connectivity=connectivity(device, now, offline_after),
            last_seen_at=device.last_seen_at,
            predicted_failure_at=device.predicted_failure_at,
        )
    if not rows:
        return []
    ids = list(rows)
    worst: dict[int, str] = {}
    alerts = session.execute(
        select(Alert.device_id, Alert.severity).where(Alert.device_id.in_(ids), Alert.status == "active")
    )
    counts: Counter[int] = Counter()
    for device_id, severity in alerts:
        counts[device_id] += 1
        if SEVERITY_RANK[severity] > SEVERITY_RANK.get(worst.get(device_id, ""), -1):
            worst[device_id] = severity
    live = session.execute(
        select(WorkOrder.device_id).where(
            WorkOrder.device_id.in_(ids), WorkOrder.status.not_in(("closed", "cancelled"))
        )
    )
    orders = Counter(device_id for (device_id,) in live)
    due: dict[int, list[ConsumableDue]] = defaultdict(list)
    for c in session.scalars(
        select(Consumable)
        .where(Consumable.device_id.in_(ids), Consumable.predicted_depletion_at <= now + DUE_HORIZON)
        .order_by(Consumable.predicted_depletion_at)
    ):
        assert c.predicted_depletion_at is not None
        due[c.device_id].append(ConsumableDue(c.name, c.remaining_fraction, c.predicted_depletion_at))
    for device_id, row in rows.items():
        row.active_alerts, row.live_orders = counts[device_id], orders[device_id]
        row.condition = worst.get(device_id, "normal")
        row.consumables_due = due[device_id]
    return sorted(rows.values(), key=SORTS.get(sort, _by_health))
