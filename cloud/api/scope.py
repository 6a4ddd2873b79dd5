"""Tenant and role scoping, in one place: every lookup by id goes through :func:`get_scoped`,
so a row of another tenant is indistinguishable from one that does not exist (404)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..db import Device, WorkOrder
from ..errors import NotFound
from ..services.auth import Principal

__all__ = [
    "check_device_visible",
    "engineer_device_ids",
    "engineer_site_ids",
    "get_scoped",
    "page",
    "visible_devices",
    "visible_order",
]

M = TypeVar("M")


def get_scoped(session: Session, model: type[M], row_id: int, principal: Principal, what: str) -> M:
    row = session.get(model, row_id)
    if row is None or getattr(row, "tenant_id", None) != principal.tenant_id:
        raise NotFound(f"{what} {row_id} not found")
    return row


def engineer_device_ids(session: Session, engineer_id: int) -> set[int]:
    """Devices an engineer has work on: theirs to see, nothing else."""
    return set(session.scalars(select(WorkOrder.device_id).where(WorkOrder.assignee_id == engineer_id)))


def engineer_site_ids(session: Session, engineer_id: int) -> set[int]:
    ids = engineer_device_ids(session, engineer_id)
    if not ids:
        return set()
    return {s for s in session.scalars(select(Device.site_id).where(Device.id.in_(ids))) if s is not None}


def visible_devices(session: Session, principal: Principal, query: Select[Any]) -> Select[Any]:
    """Narrow a query over Device to what the caller may see."""
    query = query.where(Device.tenant_id == principal.tenant_id)
    if principal.role == "engineer":
        query = query.where(Device.id.in_(engineer_device_ids(session, principal.engineer_id or -1)))
    return query


def check_device_visible(session: Session, principal: Principal, device_id: int) -> Device:
    device = get_scoped(session, Device, device_id, principal, "device")
    if principal.role == "engineer" and device.id not in engineer_device_ids(
        session, principal.engineer_id or -1
    ):
        raise NotFound(f"device {device_id} not found")
    return device


def page(session: Session, query: Select[Any], limit: int, offset: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return list(session.scalars(query.limit(limit).offset(offset))), total


def visible_order(session: Session, principal: Principal, order_id: int) -> tuple[WorkOrder, Device]:
    """The order (and its device) if the caller may see it; for an engineer that means it is
    assigned to them, which is also what lets them act on it (accept, decline, start, resolve)."""
    order = get_scoped(session, WorkOrder, order_id, principal, "work order")
    if principal.role == "engineer" and order.assignee_id != principal.engineer_id:
        raise NotFound(f"work order {order_id} not found")
    device = session.get(Device, order.device_id)
    assert device is not None
    return order, device
