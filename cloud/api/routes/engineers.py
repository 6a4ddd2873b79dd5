"""Engineers: admins manage them, dispatchers see all, an engineer sees only themself."""

from __future__ import annotations

from fastapi import APIRouter

from ...db import Engineer
from ...errors import NotFound
from ...schemas.common import Page
from ...schemas.fleet import EngineerCreate, EngineerPublic
from ..deps import Admin, Reader, ScopeDep, SessionDep
from ..params import Limit, Offset, PathId
from ..scope import page

router = APIRouter(prefix="/api/v1/engineers", tags=["engineers"])


@router.get("")
def list_engineers(
    principal: Reader, session: SessionDep, scope: ScopeDep, limit: Limit = 100, offset: Offset = 0
) -> Page[EngineerPublic]:
    q = scope.select(Engineer).order_by(Engineer.id)
    if principal.role == "engineer":
        q = q.where(Engineer.id == principal.engineer_id)
    rows, total = page(session, q, limit, offset)
    return Page[EngineerPublic](items=rows, total=total, limit=limit, offset=offset)


@router.post("", status_code=201)
def create_engineer(
    body: EngineerCreate, principal: Admin, session: SessionDep, scope: ScopeDep
) -> EngineerPublic:
    row = Engineer(tenant_id=scope.tenant_id, active=True, **body.model_dump())
    session.add(row)
    session.flush()
    return EngineerPublic.model_validate(row)


@router.get("/{engineer_id}")
def read_engineer(
    engineer_id: PathId, principal: Reader, session: SessionDep, scope: ScopeDep
) -> EngineerPublic:
    if principal.role == "engineer" and engineer_id != principal.engineer_id:
        raise NotFound(f"engineer {engineer_id} not found")
    return EngineerPublic.model_validate(scope.get(Engineer, engineer_id, "engineer"))
