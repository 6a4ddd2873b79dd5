"""Notifications at three tiers, stored so they can be shown, counted and delivered.

- tier 1, status changed: whoever watches the device (its customer)
- tier 2, you own the next step: the assigned engineer, the dispatcher, the supervisor
- tier 3, overdue: management

Delivery (mail, SMS, push) is an adapter's job; the service's record is the source of truth.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..db import Notification, WorkOrder

__all__ = ["STATUS_CHANGE", "KEY_STEP", "OVERDUE", "notify"]

STATUS_CHANGE, KEY_STEP, OVERDUE = 1, 2, 3


def notify(
    session: Session,
    order: WorkOrder | None,
    tier: int,
    recipient: str,
    message: str,
    now: datetime,
    tenant_id: int | None = None,
) -> Notification:
    tid = order.tenant_id if order is not None else tenant_id
    assert tid is not None, "a notification belongs to a tenant"
    note = Notification(
        tenant_id=tid,
        work_order_id=order.id if order is not None else None,
        tier=tier,
        recipient=recipient,
        message=message,
        created_at=now,
    )
    session.add(note)
    return note
