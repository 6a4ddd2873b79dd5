"""Consumables and their reminders, driven by the edge's consumable status messages.

The horizon is measured on the device's own clock (the status's ``at``), so a simulated
fleet running in accelerated time gets reminders at the right point of *its* life:

- depletion predicted within ``reminder_lead``: one active reminder per consumable (its due
  date follows the latest prediction);
- within ``replacement_lead``, or already depleted: a replacement work order as well
  (deduplicated like any other order, with the part to bring);
- ``replaced``: the consumable resets, its reminder is cancelled, and a replacement order
  nobody has accepted yet is cancelled; one already under way only gets the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from firmware_bridge.contract import ConsumableStatusMessage

from ..catalog import CONSUMABLE_PARTS
from ..clock import from_epoch
from ..db import Consumable, Device, Reminder, WorkOrder
from . import transitions, work_orders
from .notify import STATUS_CHANGE, notify

__all__ = ["ReminderPolicy", "on_consumable_status"]


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    reminder_lead: timedelta = timedelta(days=14)
    replacement_lead: timedelta = timedelta(days=3)


def _consumable(
    session: Session, device: Device, msg: ConsumableStatusMessage, at: datetime
) -> tuple[Consumable, bool]:
    """The device's row for this consumable, updated; False when the status is older than it."""
    row = session.scalar(
        select(Consumable).where(Consumable.device_id == device.id, Consumable.name == msg.consumable)
    )
    if row is None:
        row = Consumable(
            tenant_id=device.tenant_id,
            device_id=device.id,
            name=msg.consumable,
            unit=msg.unit,
            usage=msg.usage,
            remaining_fraction=msg.remaining_fraction,
            reported_at=at,
        )
        session.add(row)
        session.flush()
    elif at < row.reported_at:
        return row, False  # delivered late: a newer status already describes it
    row.unit, row.usage, row.remaining_fraction = msg.unit, msg.usage, msg.remaining_fraction
    row.predicted_depletion_at = from_epoch(msg.predicted_depletion_at)
    ci = msg.predicted_depletion_ci
    row.depletion_lo, row.depletion_hi = (from_epoch(ci[0]), from_epoch(ci[1])) if ci else (None, None)
    row.reported_at = at
    return row, True


def _active_reminder(session: Session, consumable: Consumable) -> Reminder | None:
    return session.scalar(select(Reminder).where(Reminder.dedup_key == str(consumable.id)))


def on_consumable_status(
    session: Session,
    device: Device,
    msg: ConsumableStatusMessage,
    now: datetime,
    policy: ReminderPolicy,
    actor: str,
) -> WorkOrder | None:
    """Apply one status; return the replacement order if this status created one."""
    at = from_epoch(msg.at)
    assert at is not None
    consumable, fresh = _consumable(session, device, msg, at)
    if not fresh:
        return None
    fault_key = f"consumable:{msg.consumable}"
    if msg.replaced:
        consumable.replaced_at = at
        reminder = _active_reminder(session, consumable)
        if reminder is not None:
            reminder.status, reminder.dedup_key, reminder.closed_at = "cancelled", None, now
        order = work_orders.live_order(session, device.id, fault_key)
        if order is not None and order.status in ("open", "assigned"):
            transitions.cancel(session, device, order, actor, now, "consumable replaced")
        return None
    due = consumable.predicted_depletion_at
    if msg.remaining_fraction <= 0.0:
        due = min(due, at) if due is not None else at
    if due is None or due - at > policy.reminder_lead:
        return None
    reminder = _active_reminder(session, consumable)
    if reminder is None:
        reminder = Reminder(
            tenant_id=device.tenant_id,
            device_id=device.id,
            consumable_id=consumable.id,
            status="active",
            dedup_key=str(consumable.id),
            due_at=due,
            created_at=now,
        )
        session.add(reminder)
        notify(
            session,
            None,
            STATUS_CHANGE,
            "customer",
            f"{msg.consumable} on {device.key} due for replacement around {due.date().isoformat()}",
            now,
            tenant_id=device.tenant_id,
        )
    else:
        reminder.due_at = due
    if due - at > policy.replacement_lead:
        return None
    number, name = CONSUMABLE_PARTS.get(
        msg.consumable, (msg.consumable.upper(), msg.consumable.replace("_", " "))
    )
    spec = work_orders.OrderSpec(
        source="consumable",
        kind="replacement",
        title=f"replace {name} on {device.key}",
        fault_key=fault_key,
        category="consumable",
        severity="major" if msg.remaining_fraction <= 0.0 else "warning",
        predicted_failure_at=due,
        parts=((number, name, 1),),
        evidence={
            "consumable": msg.consumable,
            "remaining_fraction": msg.remaining_fraction,
            "usage": msg.usage,
            "unit": msg.unit,
            "predicted_depletion_at": due.isoformat(),
        },
    )
    order, created = work_orders.open_order(session, device, spec, actor, now)
    reminder.work_order_id = order.id
    return order if created else None
