"""Broker logins: issue, list and revoke the MQTT credentials of devices, agents, bridges
and cloud workers; every change rewrites the broker's password file and ACL when the
service keeps them (``PROGNOS_BROKER_AUTH_DIR``)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import Select, select

from ...db import MqttCredential, Tenant
from ...errors import Forbidden, NotFound
from ...schemas.common import Page
from ...schemas.ops import (
    BrokerCredentialCreate,
    BrokerCredentialIssued,
    BrokerCredentialPublic,
    BrokerFilesPublic,
)
from ...services import broker_identity
from ..deps import AdminOrPlatform, ScopeDep, SessionDep, StateDep
from ..params import Limit, Offset
from ..scope import TenantScope, page

router = APIRouter(prefix="/api/v1/broker", tags=["broker"])


@router.post("/credentials", status_code=201)
def issue_credential(
    body: BrokerCredentialCreate,
    principal: AdminOrPlatform,
    session: SessionDep,
    scope: ScopeDep,
    state: StateDep,
) -> BrokerCredentialIssued:
    """A new login; the password is in this answer only. Issuing again for the same subject
    rotates it (the old one stops working at the broker's next reload)."""
    if (body.role == "cloud") != (principal.role == "platform"):
        raise Forbidden("cloud logins are issued by the platform role, and only those")
    tenant = None if body.role == "cloud" else session.get(Tenant, scope.tenant_id)
    row, password = broker_identity.issue(session, body.role, tenant, body.subject, state.clock.now())
    state.sync_broker(session)
    public = BrokerCredentialPublic.model_validate(row)
    return BrokerCredentialIssued(**public.model_dump(), password=password)


def _visible(scope: TenantScope) -> Select[tuple[MqttCredential]]:
    """The logins this caller may see: its tenant's, or all of them for the platform role."""
    return select(MqttCredential) if scope.principal.role == "platform" else scope.select(MqttCredential)


@router.get("/credentials")
def list_credentials(
    principal: AdminOrPlatform, session: SessionDep, scope: ScopeDep, limit: Limit = 100, offset: Offset = 0
) -> Page[BrokerCredentialPublic]:
    rows, total = page(session, _visible(scope).order_by(MqttCredential.id), limit, offset)
    return Page[BrokerCredentialPublic](items=rows, total=total, limit=limit, offset=offset)


@router.post("/credentials/{username}/revoke")
def revoke_credential(
    username: str, principal: AdminOrPlatform, session: SessionDep, scope: ScopeDep, state: StateDep
) -> BrokerCredentialPublic:
    live = MqttCredential.revoked_at.is_(None)
    row = session.scalar(_visible(scope).where(MqttCredential.username == username, live))
    if row is None:
        raise NotFound(f"no active broker login {username!r}")
    broker_identity.revoke(session, username, state.clock.now())
    state.sync_broker(session)
    return BrokerCredentialPublic.model_validate(row)


@router.post("/files")
def write_files(principal: AdminOrPlatform, session: SessionDep, state: StateDep) -> BrokerFilesPublic:
    """Rewrite the password file and ACL now (they are also rewritten on every change)."""
    written = state.sync_broker(session)
    if written is None:
        return BrokerFilesPublic(written=False, logins=0, reloaded=False)
    return BrokerFilesPublic(written=True, logins=written.logins, reloaded=written.reloaded)
