"""Consumable reminders and the consumables behind them."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from sqlalchemy import select

from ...db import Consumable, Reminder
from ...schemas.common import Page
from ...schemas.work import ConsumablePublic, ReminderPublic
from ..deps import Reader, ScopeDep, SessionDep
from ..params import Limit, Offset, PathId, QueryId
from ..scope import page

router = APIRouter(prefix="/api/v1", tags=["reminders"])


@router.get("/reminders")
def list_reminders(
    principal: Reader,
    session: SessionDep,
    scope: ScopeDep,
    limit: Limit = 100,
    offset: Offset = 0,
    device_id: QueryId = None,
    status: Literal["active", "cancelled", "done"] | None = None,
) -> Page[ReminderPublic]:
    q = scope.select(Reminder).order_by(Reminder.due_at, Reminder.id)
    if principal.role == "engineer":
        q = q.where(Reminder.device_id.in_(scope.engineer_device_ids()))
    if device_id is not None:
        scope.device(device_id)
        q = q.where(Reminder.device_id == device_id)
    if status is not None:
        q = q.where(Reminder.status == status)
    rows, total = page(session, q, limit, offset)
    return Page[ReminderPublic](items=rows, total=total, limit=limit, offset=offset)


@router.get("/devices/{device_id}/consumables")
def list_device_consumables(
    device_id: PathId, principal: Reader, session: SessionDep, scope: ScopeDep
) -> list[ConsumablePublic]:
    device = scope.device(device_id)
    rows = session.scalars(
        select(Consumable).where(Consumable.device_id == device.id).order_by(Consumable.name)
    )
    return [ConsumablePublic.model_validate(r) for r in rows]
