"""The tamper-evident service history: work-order events hash-chained per device.

Each event's hash covers the previous event's hash and a canonical JSON of the event, so
changing, inserting or deleting a stored event breaks the chain from that point on, and
:func:`verify_chain` says where. The device row holds the chain's head and length; callers
lock that row (``SELECT ... FOR UPDATE`` on PostgreSQL) before appending, and the unique
``(device_id, seq)`` constraint turns a lost race into a retry instead of a fork.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import GENESIS_HASH, Device, WorkOrder, WorkOrderEvent

__all__ = ["ChainReport", "append_event", "event_hash", "verify_chain"]


def event_hash(
    prev_hash: str, *, work_order_id: int, seq: int, kind: str, actor: str, at: datetime, data: dict[str, Any]
) -> str:
    body = json.dumps(
        {
            "wo": work_order_id,
            "seq": seq,
            "kind": kind,
            "actor": actor,
            "at": at.isoformat(timespec="microseconds"),
            "data": data,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append_event(
    session: Session,
    device: Device,
    order: WorkOrder,
    kind: str,
    actor: str,
    at: datetime,
    data: dict[str, Any] | None = None,
) -> WorkOrderEvent:
    data = json.loads(json.dumps(data or {}, default=str))  # store exactly what was hashed
    seq = device.history_seq + 1
    digest = event_hash(
        device.history_head, work_order_id=order.id, seq=seq, kind=kind, actor=actor, at=at, data=data
    )
    event = WorkOrderEvent(
        tenant_id=order.tenant_id,
        device_id=device.id,
        work_order_id=order.id,
        seq=seq,
        kind=kind,
        actor=actor,
        at=at,
        data=data,
        prev_hash=device.history_head,
        hash=digest,
    )
    device.history_seq, device.history_head = seq, digest
    session.add(event)
    return event


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    events: int
    broken_at_seq: int | None = None
    reason: str | None = None


def verify_chain(session: Session, device: Device) -> ChainReport:
    """Recompute every hash of the device's history and compare with the stored head."""
    prev = GENESIS_HASH
    count = 0
    rows = session.scalars(
        select(WorkOrderEvent).where(WorkOrderEvent.device_id == device.id).order_by(WorkOrderEvent.seq)
    )
    for ev in rows:
        count += 1
        if ev.seq != count:
            return ChainReport(False, count, ev.seq, f"event {count} is missing")
        if ev.prev_hash != prev:
            return ChainReport(False, count, ev.seq, "previous-hash link does not match")
        digest = event_hash(
            prev,
            work_order_id=ev.work_order_id,
            seq=ev.seq,
            kind=ev.kind,
            actor=ev.actor,
            at=ev.at,
            data=ev.data,
        )
        if digest != ev.hash:
            return ChainReport(False, count, ev.seq, "event content does not match its hash")
        prev = digest
    if count != device.history_seq or prev != device.history_head:
        return ChainReport(False, count, count + 1, "events after this one were removed")
    return ChainReport(True, count)
