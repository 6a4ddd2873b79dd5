"""What each kind of edge message sets off: one handler per kind, and the table ingest
dispatches by (:data:`HANDLERS`).

Each handler stores what its message says and returns the work orders it touched (each
with whether this message created it); :class:`~cloud.services.ingest.Ingestor` then
dispatches the ones that wait, once. A device that is not *trusted* (quarantined:
unregistered, or no agent vouches for it) has its messages recorded but opens nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from firmware_bridge.contract import (
    AgentStatus,
    AlertMessage,
    ConsumableStatusMessage,
    FaultEventMessage,
    TelemetrySummaryMessage,
)

from ..catalog import category_for_alert, category_for_fault_code, family_of
from ..clock import from_epoch
from ..db import Agent, Alert, Device, TelemetrySummary, Tenant, WorkOrder
from ..fault_catalog import label_of
from . import transitions, work_orders
from .batch_lookups import BatchLookups
from .fault_names import name_alert, name_by_code
from .priority import SEVERITY_RANK, worse_severity
from .reminders import ReminderPolicy, on_consumable_status

__all__ = ["ACTOR", "EVIDENCE_POINTS", "HANDLERS", "Context", "Touched", "on_agent_status", "show_health"]

ACTOR = "system:ingest"
EVIDENCE_POINTS = 120  # samples of the triggering window kept with a work order

Touched = list[tuple[WorkOrder, bool]]  # (order, created by this message)


@dataclass(frozen=True, slots=True)
class Context:
    now: datetime
    trusted: bool  # registered, and sent by its agent or itself: may open work orders
    reminders: ReminderPolicy
    rows: BatchLookups  # what the batch looked up once: alerts, live orders, resolved cases


def on_alert(s: Session, device: Device, msg: AlertMessage, ctx: Context) -> Touched:
    """An alert's raise, update or clear: the alert row, and an order when it first (or
    newly worse) needs one. Also in any arrival order: two workers may store a clear first."""
    now, may_open = ctx.now, ctx.trusted
    at = from_epoch(msg.at)
    assert at is not None
    alert = ctx.rows.alert(device.id, msg.alert_id)
    worse = False
    if alert is None:
        cases = ctx.rows.resolved_cases(device.tenant_id, device.model)
        named = name_alert(s, device.tenant_id, device.model, msg.fault_key, resolved=cases)
        alert = Alert(
            tenant_id=device.tenant_id,
            device_id=device.id,
            key=msg.alert_id,
            fault_key=msg.fault_key,
            category=named.category or category_for_alert(device.model, msg.fault_key),
            fault_name=named.key,
            fault_source=named.source,
            status="active",
            severity=msg.severity,
            score=msg.score,
            peak=msg.peak,
            raised_at=at,
            last_at=at,
            detector=msg.detector,
            model_version=msg.model_version,
            evidence=[],
            updates=0,
        )
        s.add(alert)
        ctx.rows.alert_added(alert)
        worse = msg.transition != "clear"
    else:
        # a raise or update for an alert that never opened an order opens one: with two
        # workers its clear may have been stored first, and the incident still happened
        never_opened = alert.work_order_id is None and msg.transition != "clear"
        worse = never_opened or SEVERITY_RANK[msg.severity] > SEVERITY_RANK[alert.severity]
        alert.updates += 1
    if at >= alert.last_at:
        alert.last_at, alert.score = at, msg.score
        alert.severity = worse_severity(alert.severity, msg.severity)
        alert.peak = max(alert.peak, msg.peak)
        alert.health, alert.predicted_failure_at = msg.health, from_epoch(msg.predicted_failure_at)
        alert.latest_safe_at, alert.rul = _latest_safe_at(msg), _rul(msg)
        show_health(device, msg.health, msg.predicted_failure_at, at)
    if msg.evidence:
        alert.evidence = [p.model_dump() for p in msg.evidence][-EVIDENCE_POINTS:]
    if msg.transition == "clear":
        alert.status, alert.cleared_at = "cleared", at
        return _cleared(s, device, alert, now)
    if not worse or not may_open:
        return []
    spec = work_orders.OrderSpec(
        source="alert",
        kind="preventive",
        title=_alert_title(device, alert),
        fault_key=msg.fault_key,
        category=alert.category,
        fault_name=alert.fault_name,
        fault_source=alert.fault_source,
        severity=msg.severity,
        predicted_failure_at=from_epoch(msg.predicted_failure_at),
        latest_safe_at=_latest_safe_at(msg),
        rul=_rul(msg),
        model_version=msg.model_version,
        evidence={
            "alert_id": msg.alert_id,
            "transition": msg.transition,
            "at": at.isoformat(),
            "severity": msg.severity,
            "score": msg.score,
            "peak": msg.peak,
            "detector": msg.detector,
            "model_version": msg.model_version,
            "health": msg.health,
            "predicted_failure_at": msg.predicted_failure_at,
            "predicted_failure_ci": msg.predicted_failure_ci,
            "rul_cycles": msg.rul_cycles,
            "window": [p.model_dump() for p in msg.evidence][-EVIDENCE_POINTS:],
        },
    )
    order, created = work_orders.open_order(s, device, spec, ACTOR, now, known=ctx.rows)
    alert.work_order_id = order.id
    if alert.status == "cleared":  # its clear came first: the order says so, as it would after
        transitions.note_alert_cleared(s, device, order, alert.key, ACTOR, now)
    return [(order, created)]


def _latest_safe_at(msg: AlertMessage) -> datetime | None:
    """The lower bound of the failure forecast's interval: after it, the machine may fail."""
    return from_epoch(msg.predicted_failure_ci[0]) if msg.predicted_failure_ci else None


def _rul(msg: AlertMessage) -> dict[str, Any] | None:
    """A RUL model's call in cycles, with the device's pace (seconds per cycle) it was timed by."""
    if msg.rul_cycles is None or msg.predicted_failure_at is None:
        return None
    low, point, high = msg.rul_cycles
    pace = (msg.predicted_failure_at - msg.at) / point if point > 0 else None
    return {"cycles": [low, point, high], "seconds_per_cycle": pace}


def _cleared(s: Session, device: Device, alert: Alert, now: datetime) -> Touched:
    """Record the clear on the order; before anyone acted on it, say so (never delete)."""
    order = s.get(WorkOrder, alert.work_order_id) if alert.work_order_id is not None else None
    if order is not None:
        transitions.note_alert_cleared(s, device, order, alert.key, ACTOR, now)
    return []


def _alert_title(device: Device, alert: Alert) -> str:
    """ "Refrigerant leak suspected on ac-3" when the fault is named, else what moved."""
    label = label_of(family_of(device.model), alert.fault_name or "unrecognised")
    if alert.fault_name == "no_fault_found":  # what engineers found on these channels before
        return f"Possible false alarm on {device.key} ({alert.fault_key}): no fault found before"
    if alert.fault_source in ("signature", "resolved cases"):
        return f"{label[:1].upper()}{label[1:]} suspected on {device.key}"
    return f"{label[:1].upper()}{label[1:]} on {device.key} ({alert.fault_key})"


def on_fault(s: Session, device: Device, msg: FaultEventMessage, ctx: Context) -> Touched:
    """A fault code: protective trips and severe faults open a corrective order."""
    if not ctx.trusted:
        return []
    now = ctx.now
    trip = 0x1000 <= msg.code < 0x2000  # protective trips: the machine has stopped
    if not trip and msg.severity < 100:
        return []  # informational (power on, service mode): stored, no work order
    severity = "critical" if trip or msg.severity >= 200 else "major"
    at = from_epoch(msg.at)
    assert at is not None
    named = name_by_code(device.model, msg.code)
    category = named.category if named and named.category else category_for_fault_code(device.model, msg.code)
    what = f"{named.label}: " if named else ""
    spec = work_orders.OrderSpec(
        source="fault",
        kind="corrective",
        title=f"{what}fault {msg.name} (0x{msg.code:04x}) on {device.key}",
        fault_key=work_orders.fault_code_key(msg.code),
        category=category,
        fault_name=named.key if named else None,
        fault_source=named.source if named else None,
        severity=severity,
        evidence={"code": msg.code, "name": msg.name, "severity": msg.severity, "at": at.isoformat()},
    )
    order, created = work_orders.open_order(s, device, spec, ACTOR, now, known=ctx.rows)
    return [(order, created)]


def on_summary(s: Session, device: Device, msg: TelemetrySummaryMessage, ctx: Context) -> Touched:
    """A window of telemetry: kept for the health view; the device shows its health."""
    start, end = from_epoch(msg.window_start), from_epoch(msg.window_end)
    assert start is not None and end is not None
    s.add(
        TelemetrySummary(
            tenant_id=device.tenant_id,
            device_id=device.id,
            window_start=start,
            window_end=end,
            channels={k: v.model_dump() for k, v in msg.channels.items()},
            max_score=msg.max_score,
            health=msg.health,
            rul_cycles=list(msg.rul_cycles) if msg.rul_cycles else None,
        )
    )
    show_health(device, msg.health, msg.predicted_failure_at, end)
    return []


def on_consumable(s: Session, device: Device, msg: ConsumableStatusMessage, ctx: Context) -> Touched:
    """A consumable's remaining life: the reminder, and a replacement order when it is due."""
    if not ctx.trusted:  # a quarantined device's parts are nobody's to replace yet
        return []
    order = on_consumable_status(s, device, msg, ctx.now, ctx.reminders, ACTOR)
    return [(order, True)] if order is not None else []


HANDLERS: dict[type[Any], Callable[[Session, Device, Any, Context], Touched]] = {
    AlertMessage: on_alert,
    FaultEventMessage: on_fault,
    ConsumableStatusMessage: on_consumable,
    TelemetrySummaryMessage: on_summary,
}


def on_agent_status(s: Session, tenant: Tenant, agent_key: str, status: AgentStatus, now: datetime) -> None:
    """An agent's retained status: online or not, what it dropped, and what its devices lost."""
    agent = s.scalar(select(Agent).where(Agent.tenant_id == tenant.id, Agent.key == agent_key))
    if agent is None:
        agent = Agent(tenant_id=tenant.id, key=agent_key)
        s.add(agent)
    agent.state, agent.last_seen_at = status.state, now
    agent.dropped = dict(status.dropped)
    if status.lost:  # only for the devices this agent serves: another's are not its to report
        mine = (Device.tenant_id == tenant.id) & (Device.agent_key == agent_key)
        for device in s.scalars(select(Device).where(mine, Device.key.in_(list(status.lost)))):
            device.messages_lost = status.lost[device.key]
    s.flush()


def show_health(device: Device, health: float | None, failure_at: float | None, at: datetime) -> None:
    """The device shows the newest health reading by device time (a replayed old one is kept
    as history but does not overwrite it)."""
    if health is None or (device.health_at is not None and at < device.health_at):
        return
    device.health, device.health_at = health, at
    device.predicted_failure_at = from_epoch(failure_at)
