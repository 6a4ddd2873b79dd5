"""Demo and test data: a tenant, customers, sites and devices from a fleet manifest, a crew
of engineers placed near the sites with complementary skills, and one token per role.

The manifest is what ``prognos sim`` writes to ``fleet.json`` (a list of device records
with site, latitude, longitude, model, serial, install and warranty dates), so the seeded
registry matches the simulated devices one to one. Seeding again adds what is missing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .catalog import family_of
from .db import Customer, Device, Engineer, Site, Tenant
from .services.auth import issue_token

__all__ = ["SeedReport", "seed_fleet"]

_TIERS = ("gold", "silver", "standard")
_CATEGORIES = {
    "air_conditioner": ["refrigerant", "heat_exchange", "mechanical"],
    "water_purifier": ["water_quality", "mechanical"],
    "industrial_pump": ["mechanical", "hydraulic"],
}
_NAMES = [
    "Ana Souza",
    "Ben Okafor",
    "Chen Wei",
    "Dana Kowalski",
    "Eli Haddad",
    "Fatima Noor",
    "Gus Lindqvist",
    "Hana Sato",
    "Ivan Petrov",
    "Jade Moreau",
    "Kofi Mensah",
    "Lena Fischer",
]


@dataclass
class SeedReport:
    tenant: str
    sites: int = 0
    devices: int = 0
    engineers: int = 0
    tokens: dict[str, str] = field(default_factory=dict)  # name -> plaintext token (shown once)


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def seed_fleet(
    session: Session,
    manifest: list[dict[str, Any]],
    now: datetime,
    secret: str,
    *,
    tenant: str = "demo",
    engineers: int = 6,
    seed: int = 0,
    agent: str = "edge-1",
) -> SeedReport:
    rng = random.Random(seed)
    report = SeedReport(tenant)
    t = session.scalar(select(Tenant).where(Tenant.slug == tenant))
    if t is None:
        t = Tenant(slug=tenant, name=tenant.title())
        session.add(t)
        session.flush()
    customers = list(session.scalars(select(Customer).where(Customer.tenant_id == t.id)))
    if not customers:
        customers = [Customer(tenant_id=t.id, name=f"{tier.title()} Customer", tier=tier) for tier in _TIERS]
        session.add_all(customers)
        session.flush()
    sites = {s.key: s for s in session.scalars(select(Site).where(Site.tenant_id == t.id))}
    for rec in manifest:
        if rec["site"] not in sites:
            customer = customers[len(sites) % len(customers)]
            sites[rec["site"]] = Site(
                tenant_id=t.id,
                customer_id=customer.id,
                key=rec["site"],
                name=rec["site"].replace("-", " ").title(),
                address=f"{rec['site']} (simulated)",
                latitude=rec["latitude"],
                longitude=rec["longitude"],
            )
            session.add(sites[rec["site"]])
            report.sites += 1
    session.flush()
    known = {d.key: d for d in session.scalars(select(Device).where(Device.tenant_id == t.id))}
    for rec in manifest:
        device = known.get(rec["device_id"])
        if device is not None and device.registered:
            continue
        device = device or Device(tenant_id=t.id, key=rec["device_id"])
        device.model, device.serial = rec["model"], rec.get("serial")
        device.site_id, device.registered = sites[rec["site"]].id, True
        device.agent_key = rec.get("agent") or agent  # the edge agent it reports through
        device.install_date, device.warranty_end = (
            _date(rec.get("install_date")),
            _date(rec.get("warranty_end")),
        )
        session.add(device)
        report.devices += 1
    session.flush()
    report.engineers = _crew(session, t.id, manifest, engineers, rng)
    for role in ("admin", "dispatcher"):
        _, report.tokens[role] = issue_token(session, t.id, role, f"{role} (seed)", now, secret)
    for eng in session.scalars(select(Engineer).where(Engineer.tenant_id == t.id).order_by(Engineer.id)):
        _, report.tokens[f"engineer:{eng.id}:{eng.name}"] = issue_token(
            session, t.id, "engineer", eng.name, now, secret, engineer_id=eng.id
        )
    return report


def _crew(
    session: Session, tenant_id: int, manifest: list[dict[str, Any]], count: int, rng: random.Random
) -> int:
    """Engineers near the sites: each covers one product family well, some a second one,
    and everyone can replace consumables."""
    existing = {e.name for e in session.scalars(select(Engineer).where(Engineer.tenant_id == tenant_id))}
    models_by_family: dict[str, set[str]] = {}
    for rec in manifest:
        fam = family_of(rec["model"])
        if fam:
            models_by_family.setdefault(fam, set()).add(rec["model"])
    families = sorted(models_by_family) or ["air_conditioner"]
    lats = [r["latitude"] for r in manifest] or [0.0]
    lons = [r["longitude"] for r in manifest] or [0.0]
    added = 0
    for i in range(count):
        name = _NAMES[i % len(_NAMES)] + ("" if i < len(_NAMES) else f" {i // len(_NAMES) + 1}")
        if name in existing:
            continue
        main = families[i % len(families)]
        fams = [main] + ([families[(i + 1) % len(families)]] if i % 3 == 2 and len(families) > 1 else [])
        models = sorted({m for f in fams for m in models_by_family.get(f, set())})
        cats = sorted({c for f in fams for c in _CATEGORIES.get(f, [])} | {"consumable"})
        start = 6 + 2 * (i % 3)
        session.add(
            Engineer(
                tenant_id=tenant_id,
                name=name,
                email=f"{name.split()[0].lower()}@example.com",
                home_latitude=round(rng.uniform(min(lats), max(lats)), 5),
                home_longitude=round(rng.uniform(min(lons), max(lons)), 5),
                capacity=5,
                work_start_hour=start,
                work_end_hour=start + 9,
                skill_models=models,
                skill_categories=cats,
                active=True,
            )
        )
        added += 1
    session.flush()
    return added
