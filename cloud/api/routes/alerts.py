"""Alerts as the edge reported them (raised, updated, cleared: never deleted)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from ...db import Alert
from ...schemas.common import Page
from ...schemas.work import AlertPublic
from ..deps import Reader, ScopeDep, SessionDep
from ..params import Limit, Offset, QueryId
from ..scope import page

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


@router.get("")
def list_alerts(
    principal: Reader,
    session: SessionDep,
    scope: ScopeDep,
    limit: Limit = 100,
    offset: Offset = 0,
    device_id: QueryId = None,
    status: Literal["active", "cleared"] | None = None,
) -> Page[AlertPublic]:
    q = scope.select(Alert).order_by(Alert.raised_at.desc(), Alert.id.desc())
    if principal.role == "engineer":
        q = q.where(Alert.device_id.in_(scope.engineer_device_ids()))
    if device_id is not None:
        scope.device(device_id)
        q = q.where(Alert.device_id == device_id)
    if status is not None:
        q = q.where(Alert.status == status)
    rows, total = page(session, q, limit, offset)
    return Page[AlertPublic](items=rows, total=total, limit=limit, offset=offset)
