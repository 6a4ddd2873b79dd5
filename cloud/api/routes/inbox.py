"""Notifications and follow-up tasks (what the people behind the roles are asked to do)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ...db import Notification, Task
from ...schemas.common import Page
from ...schemas.work import NotificationPublic, TaskPublic
from ..deps import Reader, ScopeDep, SessionDep, Staff
from ..params import Limit, Offset
from ..scope import page

router = APIRouter(prefix="/api/v1", tags=["inbox"])


@router.get("/notifications")
def list_notifications(
    principal: Reader,
    session: SessionDep,
    scope: ScopeDep,
    limit: Limit = 100,
    offset: Offset = 0,
    tier: Annotated[int | None, Query(ge=1, le=3)] = None,
    recipient: str | None = None,
) -> Page[NotificationPublic]:
    q = scope.select(Notification).order_by(Notification.id.desc())
    if principal.role == "engineer":
        q = q.where(Notification.recipient == f"engineer:{principal.engineer_id}")
    if tier is not None:
        q = q.where(Notification.tier == tier)
    if recipient is not None:
        q = q.where(Notification.recipient == recipient)
    rows, total = page(session, q, limit, offset)
    return Page[NotificationPublic](items=rows, total=total, limit=limit, offset=offset)


@router.get("/tasks")
def list_tasks(
    principal: Staff, session: SessionDep, scope: ScopeDep, limit: Limit = 100, offset: Offset = 0
) -> Page[TaskPublic]:
    q = scope.select(Task).order_by(Task.id.desc())
    rows, total = page(session, q, limit, offset)
    return Page[TaskPublic](items=rows, total=total, limit=limit, offset=offset)
