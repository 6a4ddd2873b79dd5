"""API tokens and the principal a request acts as.

A token is shown once when issued (``prg_`` + 43 random characters) and stored only as an
HMAC-SHA256 keyed by ``PROGNOS_SECRET_KEY``, so a copy of the database does not hand out
working tokens. Engineer tokens are bound to one engineer, device tokens to one device.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import ApiToken, Device, Engineer, Tenant
from ..errors import InvalidRequest, NotFound

__all__ = ["ROLES", "Principal", "authenticate", "issue_token", "token_digest"]

# agent: an edge agent fetching models; platform: the operator of the whole installation, who
# sees what belongs to no tenant (dead letters naming an unknown one) and issues cloud logins
ROLES = ("admin", "dispatcher", "engineer", "device", "agent", "platform")
PREFIX = "prg_"


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: int
    tenant_id: int
    tenant: str
    role: str
    name: str
    engineer_id: int | None = None
    device_id: int | None = None

    @property
    def actor(self) -> str:
        """How this caller appears in histories: ``role:name``."""
        return f"{self.role}:{self.name}"


def token_digest(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def issue_token(
    session: Session,
    tenant_id: int,
    role: str,
    name: str,
    now: datetime,
    secret: str,
    engineer_id: int | None = None,
    device_id: int | None = None,
) -> tuple[ApiToken, str]:
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}")
    if role == "engineer":
        engineer = session.get(Engineer, engineer_id) if engineer_id is not None else None
        if engineer is None or engineer.tenant_id != tenant_id:
            raise NotFound("an engineer token needs an engineer of this tenant (engineer_id)")
    if role == "device":
        device = session.get(Device, device_id) if device_id is not None else None
        if device is None or device.tenant_id != tenant_id:
            raise NotFound("a device token needs a device of this tenant (device_id)")
    plain = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        tenant_id=tenant_id,
        name=name,
        role=role,
        token_hash=token_digest(secret, plain),
        engineer_id=engineer_id if role == "engineer" else None,
        device_id=device_id if role == "device" else None,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, plain


def authenticate(session: Session, secret: str, token: str) -> Principal | None:
    if not token.startswith(PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(secret, token)))
    if row is None or row.revoked_at is not None:
        return None
    tenant = session.get(Tenant, row.tenant_id)
    assert tenant is not None
    return Principal(row.id, row.tenant_id, tenant.slug, row.role, row.name, row.engineer_id, row.device_id)
