"""How a work order's changes are recorded: a hash-chained event, and a tier-1 notification
to the customer; plus the two facts about a device that priorities depend on."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from ..db import Customer, Device, Site, WorkOrder
from .history import append_event
from .notify import STATUS_CHANGE, notify

__all__ = ["customer_recipient", "device_context", "record"]


def device_context(session: Session, device: Device, now: datetime) -> tuple[str, bool]:
    """(customer tier, under warranty) of a device."""
    tier = "standard"
    if device.site_id is not None:
        site = session.get(Site, device.site_id)
        if site is not None and site.customer_id is not None:
            customer = session.get(Customer, site.customer_id)
            tier = customer.tier if customer is not None else tier
    warranty_end: date | None = device.warranty_end
    return tier, warranty_end is not None and warranty_end >= now.date()


def customer_recipient(session: Session, device: Device) -> str:
    site = session.get(Site, device.site_id) if device.site_id is not None else None
    return f"customer:{site.customer_id}" if site is not None and site.customer_id else "customer:unknown"


def record(
    session: Session,
    device: Device,
    order: WorkOrder,
    kind: str,
    actor: str,
    now: datetime,
    data: dict[str, Any] | None = None,
    *,
    tell_customer: bool = True,
) -> None:
    order.updated_at = now
    append_event(session, device, order, kind, actor, now, data)
    if tell_customer:
        notify(
            session,
            order,
            STATUS_CHANGE,
            customer_recipient(session, device),
            f"work order #{order.id} ({order.title}): {kind.replace('_', ' ')}",
            now,
        )
