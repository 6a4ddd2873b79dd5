"""A small, hand-placed world for cloud tests: two tenants, sites a known distance apart,
engineers whose skills and homes make the right dispatch choice obvious, and tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from cloud.db import Customer, Device, Engineer, Site, Tenant
from cloud.services.auth import issue_token
from cloud.state import CloudState

__all__ = ["World", "build_world"]


@dataclass
class World:
    tenant_id: int = 0
    other_tenant_id: int = 0
    site: dict[str, int] = field(default_factory=dict)
    device: dict[str, int] = field(default_factory=dict)
    engineer: dict[str, int] = field(default_factory=dict)
    token: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token[who]}"}


def build_world(state: CloudState) -> World:
    w = World()
    now = state.clock.now()
    secret = state.settings.secret_key
    with state.sessions.begin() as s:
        acme, other = Tenant(slug="acme", name="Acme"), Tenant(slug="globex", name="Globex")
        s.add_all([acme, other])
        s.flush()
        w.tenant_id, w.other_tenant_id = acme.id, other.id
        gold = Customer(tenant_id=acme.id, name="Gold Hotel", tier="gold")
        std = Customer(tenant_id=acme.id, name="Corner Shop", tier="standard")
        s.add_all([gold, std])
        s.flush()
        sites = {
            "north": Site(
                tenant_id=acme.id,
                customer_id=gold.id,
                key="north",
                name="North",
                latitude=48.20,
                longitude=11.57,
            ),
            "south": Site(
                tenant_id=acme.id,
                customer_id=std.id,
                key="south",
                name="South",
                latitude=48.00,
                longitude=11.57,
            ),
            "globex": Site(tenant_id=other.id, key="hq", name="Globex HQ", latitude=48.1, longitude=11.6),
        }
        s.add_all(sites.values())
        s.flush()
        w.site = {k: v.id for k, v in sites.items()}
        devices = {
            "ac-1": Device(
                tenant_id=acme.id,
                key="ac-1",
                model="AC-3500",
                serial="S1",
                site_id=sites["north"].id,
                install_date=date(2025, 1, 1),
                warranty_end=date(2027, 1, 1),
                registered=True,
                agent_key="edge-1",
            ),
            "pump-1": Device(
                tenant_id=acme.id,
                key="pump-1",
                model="CP-200",
                serial="S2",
                site_id=sites["south"].id,
                install_date=date(2020, 1, 1),
                warranty_end=date(2022, 1, 1),
                registered=True,
                agent_key="edge-1",
            ),
            "ro-1": Device(
                tenant_id=acme.id,
                key="ro-1",
                model="RO-75",
                serial="S3",
                site_id=sites["south"].id,
                registered=True,
                agent_key="edge-1",
            ),
            "gx-1": Device(
                tenant_id=other.id,
                key="gx-1",
                model="AC-3500",
                serial="G1",
                site_id=sites["globex"].id,
                registered=True,
                agent_key="edge-1",
            ),
        }
        s.add_all(devices.values())
        s.flush()
        w.device = {k: v.id for k, v in devices.items()}
        engineers = {
            # near north, AC refrigerant specialist
            "frida": Engineer(
                tenant_id=acme.id,
                name="Frida",
                home_latitude=48.21,
                home_longitude=11.56,
                skill_models=["AC-3500", "AC-5200"],
                skill_categories=["refrigerant", "heat_exchange", "mechanical", "consumable"],
            ),
            # near south, pumps and purifiers
            "paul": Engineer(
                tenant_id=acme.id,
                name="Paul",
                home_latitude=48.01,
                home_longitude=11.58,
                skill_models=["CP-200", "RO-75"],
                skill_categories=["mechanical", "hydraulic", "water_quality", "consumable"],
            ),
            # near north but knows nothing relevant
            "nils": Engineer(
                tenant_id=acme.id,
                name="Nils",
                home_latitude=48.20,
                home_longitude=11.57,
                skill_models=[],
                skill_categories=["general"],
            ),
            "gina": Engineer(
                tenant_id=other.id,
                name="Gina",
                home_latitude=48.1,
                home_longitude=11.6,
                skill_models=["AC-3500"],
                skill_categories=["refrigerant"],
            ),
        }
        s.add_all(engineers.values())
        s.flush()
        w.engineer = {k: v.id for k, v in engineers.items()}
        for role in ("admin", "dispatcher", "platform"):
            _, w.token[role] = issue_token(s, acme.id, role, role, now, secret)
        for name in ("frida", "paul", "nils"):
            _, w.token[name] = issue_token(
                s, acme.id, "engineer", name, now, secret, engineer_id=engineers[name].id
            )
        _, w.token["device:ac-1"] = issue_token(
            s, acme.id, "device", "ac-1", now, secret, device_id=devices["ac-1"].id
        )
        _, w.token["globex-admin"] = issue_token(s, other.id, "admin", "gx admin", now, secret)
        _, w.token["globex-gina"] = issue_token(
            s, other.id, "engineer", "gina", now, secret, engineer_id=engineers["gina"].id
        )
    return w
