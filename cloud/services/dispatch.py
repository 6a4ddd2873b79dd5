"""Who should take a work order: rank engineers and keep the reasons.

Every candidate gets six factors in 0..1, weighted into one score; the winner's breakdown,
with the runners-up, is stored on the order so a dispatcher can see *why* (and argue).

==========  =====  ==============================================================
factor      weight meaning
==========  =====  ==============================================================
skill        0.30  knows this model (0.5) and this fault category (0.5)
distance     0.20  1 / (1 + km / 25), haversine from home to site
load         0.15  1 - open orders / capacity (at capacity: not a candidate)
on_shift     0.10  inside working hours now
success      0.15  first-time fixes on this model + category, (fixed + 1) / (done + 2)
recent       0.10  serviced this very device in the last 90 days
==========  =====  ==============================================================

The ranking is pure (:func:`rank`); :class:`DispatchBoard` loads what it needs for a whole
batch in a few queries, so dispatching thousands of orders at once stays linear.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from ..db import Device, Engineer, Site, WorkOrder
from . import transitions

__all__ = [
    "WEIGHTS",
    "Candidate",
    "DispatchBoard",
    "DispatchResult",
    "Job",
    "Ranked",
    "dispatch_orders",
    "haversine_km",
    "rank",
]

WEIGHTS = {"skill": 0.30, "distance": 0.20, "load": 0.15, "on_shift": 0.10, "success": 0.15, "recent": 0.10}
RECENT = timedelta(days=90)
_BUSY = ("assigned", "accepted", "in_progress")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class Job:
    device_id: int
    model: str | None
    category: str
    latitude: float
    longitude: float


@dataclass(slots=True)
class Candidate:
    engineer_id: int
    name: str
    latitude: float
    longitude: float
    capacity: int
    load: int
    start_hour: int
    end_hour: int
    models: frozenset[str]
    categories: frozenset[str]
    # (model, category) -> (first-time fixes, orders done)
    record: dict[tuple[str | None, str], tuple[int, int]] = field(default_factory=dict)
    last_serviced: dict[int, datetime] = field(default_factory=dict)  # device id -> when


@dataclass(frozen=True, slots=True)
class Ranked:
    """One candidate's score. The readable facts behind it are built only when asked for,
    since a dispatch pass scores every engineer for every order and explains one of them."""

    candidate: Candidate
    job: Job
    score: float
    factors: dict[str, float]
    km: float

    @property
    def engineer_id(self) -> int:
        return self.candidate.engineer_id

    @property
    def name(self) -> str:
        return self.candidate.name

    @property
    def facts(self) -> dict[str, Any]:
        c, job = self.candidate, self.job
        fixed, done = c.record.get((job.model, job.category), (0, 0))
        last = c.last_serviced.get(job.device_id)
        return {
            "knows_model": job.model is not None and job.model in c.models,
            "knows_category": job.category in c.categories,
            "distance_km": round(self.km, 2),
            "load": f"{c.load}/{c.capacity}",
            "on_shift": self.factors["on_shift"] == 1.0,
            "first_time_fixes": f"{fixed}/{done}",
            "serviced_device_at": last.isoformat() if last else None,
        }

    def explanation(self, runners_up: list[Ranked], at: datetime) -> dict[str, Any]:
        return {
            "engineer_id": self.engineer_id,
            "engineer": self.name,
            "score": round(self.score, 4),
            "factors": {k: round(v, 4) for k, v in self.factors.items()},
            "weights": WEIGHTS,
            "facts": self.facts,
            "runners_up": [
                {"engineer_id": r.engineer_id, "engineer": r.name, "score": round(r.score, 4)}
                for r in runners_up
            ],
            "at": at.isoformat(),
        }


def _on_shift(c: Candidate, now: datetime) -> bool:
    h = now.hour
    if c.start_hour <= c.end_hour:
        return c.start_hour <= h < c.end_hour
    return h >= c.start_hour or h < c.end_hour  # a night shift across midnight


def score(c: Candidate, job: Job, now: datetime) -> Ranked | None:
    """The candidate's weighted score for ``job``, or None when they cannot take it."""
    if c.capacity <= 0 or c.load >= c.capacity:
        return None
    knows_model = job.model is not None and job.model in c.models
    knows_category = job.category in c.categories
    km = haversine_km(c.latitude, c.longitude, job.latitude, job.longitude)
    fixed, done = c.record.get((job.model, job.category), (0, 0))
    last = c.last_serviced.get(job.device_id)
    recent = last is not None and now - last <= RECENT
    factors = {
        "skill": 0.5 * knows_model + 0.5 * knows_category,
        "distance": 1.0 / (1.0 + km / 25.0),
        "load": 1.0 - c.load / c.capacity,
        "on_shift": 1.0 if _on_shift(c, now) else 0.0,
        "success": (fixed + 1) / (done + 2),
        "recent": 1.0 if recent else 0.0,
    }
    total = sum(WEIGHTS[k] * v for k, v in factors.items())
    return Ranked(c, job, total, factors, km)


def rank(
    candidates: list[Candidate], job: Job, now: datetime, exclude: frozenset[int] | set[int] = frozenset()
) -> list[Ranked]:
    """Best first; ties go to the lower engineer id so the order is reproducible."""
    ranked = [r for c in candidates if c.engineer_id not in exclude and (r := score(c, job, now)) is not None]
    ranked.sort(key=lambda r: (-r.score, r.engineer_id))
    return ranked


class DispatchBoard:
    """Engineers of one tenant with their load, record and recent visits, loaded once."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.candidates: dict[int, Candidate] = {}
        self.engineers: dict[int, Engineer] = {}  # the rows, for assigning without a query
        # The crew's rows stay locked until the transaction ends: two workers dispatching for
        # one tenant at once take turns, and the second counts the first's assignments (read
        # after the lock), so nobody is booked beyond capacity. Locked in id order, after the
        # batch's device locks, the same order in every worker: no deadlock.
        crew = (
            select(Engineer)
            .where(Engineer.tenant_id == tenant_id, Engineer.active)
            .order_by(Engineer.id)
            .with_for_update()
        )
        for e in session.scalars(crew):
            self.engineers[e.id] = e
            self.candidates[e.id] = Candidate(
                e.id,
                e.name,
                e.home_latitude,
                e.home_longitude,
                e.capacity,
                0,
                e.work_start_hour,
                e.work_end_hour,
                frozenset(e.skill_models),
                frozenset(e.skill_categories),
            )
        loads = session.execute(
            select(WorkOrder.assignee_id, func.count())
            .where(WorkOrder.tenant_id == tenant_id, WorkOrder.status.in_(_BUSY))
            .group_by(WorkOrder.assignee_id)
        )
        for eng_id, n in loads:
            if eng_id in self.candidates:
                self.candidates[eng_id].load = n
        done = session.execute(
            select(
                WorkOrder.assignee_id,
                Device.model,
                WorkOrder.category,
                WorkOrder.reopened,
                WorkOrder.device_id,
                WorkOrder.resolved_at,
            )
            .join(Device, Device.id == WorkOrder.device_id)
            .where(WorkOrder.tenant_id == tenant_id, WorkOrder.resolved_at.is_not(None))
        )
        tally: Counter[tuple[int, str | None, str, bool]] = Counter()
        for eng_id, model, category, reopened, device_id, resolved_at in done:
            cand = self.candidates.get(eng_id)
            if cand is None:
                continue
            tally[(eng_id, model, category, reopened == 0)] += 1
            prev = cand.last_serviced.get(device_id)
            if prev is None or resolved_at > prev:
                cand.last_serviced[device_id] = resolved_at
        for (eng_id, model, category, first_time), n in tally.items():
            fixed, total = self.candidates[eng_id].record.get((model, category), (0, 0))
            self.candidates[eng_id].record[(model, category)] = (fixed + n * first_time, total + n)

    @staticmethod
    def job_for(order: WorkOrder, device: Device, site: Site | None) -> Job | None:
        if site is None:
            return None  # an unregistered device has no location to send anyone to
        return Job(device.id, device.model, order.category, site.latitude, site.longitude)

    def choose(self, job: Job, now: datetime, exclude: set[int]) -> tuple[Ranked, list[Ranked]] | None:
        ranked = rank(list(self.candidates.values()), job, now, exclude)
        if not ranked:
            return None
        return ranked[0], ranked[1:4]

    def took(self, engineer_id: int) -> None:
        self.candidates[engineer_id].load += 1


@dataclass(frozen=True, slots=True)
class DispatchResult:
    order_id: int
    engineer_id: int | None
    reason: str | None = None  # why nobody was assigned


def dispatch_orders(
    session: Session, orders: list[WorkOrder], now: datetime, actor: str, board: DispatchBoard | None = None
) -> list[DispatchResult]:
    """Assign each open order to its best engineer, most urgent first; record why not if none.

    Devices, sites and engineers are loaded in three queries up front and nothing is flushed
    until the end, so a burst of thousands of orders costs a few round trips, not several
    per order.
    """
    if not orders:
        return []
    board = board or DispatchBoard(session, orders[0].tenant_id)
    devices = _by_id(session, Device, {o.device_id for o in orders})
    sites = _by_id(session, Site, {d.site_id for d in devices.values() if d.site_id is not None})
    engineers = board.engineers
    results: list[DispatchResult] = []
    with session.no_autoflush:
        for order in sorted(orders, key=lambda o: (o.priority, o.created_at, o.id)):
            if order.status != "open":
                continue
            device = devices[order.device_id]
            site = sites.get(device.site_id) if device.site_id is not None else None
            job = board.job_for(order, device, site)
            choice = board.choose(job, now, set(order.declined_by)) if job is not None else None
            if choice is None:
                reason = "device has no registered site" if job is None else "no engineer with free capacity"
                if (order.dispatch or {}).get("unassigned") != reason:
                    order.dispatch = {"unassigned": reason, "at": now.isoformat()}
                    transitions.note_unassigned(session, device, order, actor, now, reason)
                results.append(DispatchResult(order.id, None, reason))
                continue
            best, runners_up = choice
            explanation = best.explanation(runners_up, now)
            transitions.assign(session, device, order, engineers[best.engineer_id], actor, now, explanation)
            board.took(best.engineer_id)
            results.append(DispatchResult(order.id, best.engineer_id))
    session.flush()
    return results


def _by_id(session: Session, model: type[Any], ids: set[int]) -> dict[int, Any]:
    """Rows by primary key: those the session already holds without a query (an ingest batch
    has loaded its devices), the rest in chunks."""
    rows: dict[int, Any] = {}
    for i in ids:
        held = session.identity_map.get(identity_key(model, i))
        if held is not None:
            rows[i] = held
    ordered = sorted(ids - rows.keys())
    for start in range(0, len(ordered), 900):  # stay under every driver's bound-parameter limit
        chunk = ordered[start : start + 900]
        rows.update({r.id: r for r in session.scalars(select(model).where(model.id.in_(chunk)))})
    return rows
