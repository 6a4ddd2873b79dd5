"""The bulk path for telemetry summaries: most of the stream, and the simplest messages.

A summary opens no work order and touches no history chain; it is an inbox row, a
summary row and the device's "last seen" and health. So instead of a savepoint and three
statements each, a batch's summaries for known devices are written together at the end of
the batch's transaction:

1. one multi-row ``INSERT … ON CONFLICT (message_id) DO NOTHING RETURNING message_id`` into
   the inbox: the database's own key decides which are new, also against another worker
   storing the same redelivered message at the same moment;
2. one multi-row insert of the summaries whose inbox row was new;
3. the devices (already locked by the batch's lookups) take their newest "last seen" and
   health, written once per device at commit.

Alerts, faults and consumable statuses keep their per-message path with its rules. Anything
unexpected while writing the bulk rolls its savepoint back and hands the summaries to that
per-message path instead, which dead-letters a bad one alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from firmware_bridge.contract import TelemetrySummaryMessage

from ..clock import from_epoch
from ..db import Device, InboxMessage, TelemetrySummary
from .ingest_handlers import show_health

__all__ = ["SummaryBatch"]


class SummaryBatch:
    """Summaries set aside during a batch, written by :meth:`write` before it commits."""

    def __init__(self, now: datetime, enabled: bool = True) -> None:
        self.now, self.enabled = now, enabled
        self._items: list[
            tuple[int, TelemetrySummaryMessage, Device, bool]
        ] = []  # (slot, msg, device, trusted)
        self._ids: set[str] = set()

    def holds(self, message_id: str) -> bool:
        return message_id in self._ids

    def add(self, slot: int, msg: TelemetrySummaryMessage, device: Device, trusted: bool) -> bool:
        """Take the summary for result ``slot`` (True), unless the batch already holds its id."""
        if msg.message_id in self._ids:
            return False
        self._ids.add(msg.message_id)
        self._items.append((slot, msg, device, trusted))
        return True

    def __len__(self) -> int:
        return len(self._items)

    def write(
        self, s: Session, stored: Callable[[int, TelemetrySummaryMessage, bool], None],
        duplicate: Callable[[int, TelemetrySummaryMessage], None],
        fallback: Callable[[int, TelemetrySummaryMessage], None],
    ) -> None:  # fmt: skip
        """Write everything set aside; call ``stored``/``duplicate`` per summary, or
        ``fallback`` for each if the bulk write failed for a reason other than the database
        being away (then nothing of it was kept)."""
        if not self._items:
            return
        try:
            with s.begin_nested():
                new = self._insert(s)
        except OperationalError:
            raise
        except Exception:  # noqa: BLE001 - the per-message path sorts out the bad one
            for slot, msg, _, _ in self._items:
                fallback(slot, msg)
            return
        for slot, msg, device, trusted in self._items:
            if msg.message_id not in new:
                duplicate(slot, msg)
                continue
            device.first_seen_at = device.first_seen_at or self.now
            device.last_seen_at, device.last_agent = self.now, msg.agent_id
            end = from_epoch(msg.window_end)
            assert end is not None
            show_health(device, msg.health, msg.predicted_failure_at, end)
            stored(slot, msg, trusted)

    def _insert(self, s: Session) -> set[str]:
        dialect = s.get_bind().dialect.name
        dialect_insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        inbox = [
            {
                "message_id": msg.message_id,
                "tenant_id": device.tenant_id,
                "kind": msg.kind,
                "device_key": msg.device_id,
                "received_at": self.now,
            }
            for _, msg, device, _ in self._items
        ]
        statement = (
            dialect_insert(InboxMessage)
            .on_conflict_do_nothing(index_elements=["message_id"])
            .returning(InboxMessage.message_id)
        )
        new = set(s.scalars(statement, inbox))
        rows = [
            {
                "tenant_id": device.tenant_id,
                "device_id": device.id,
                "window_start": from_epoch(msg.window_start),
                "window_end": from_epoch(msg.window_end),
                "channels": {k: v.model_dump() for k, v in msg.channels.items()},
                "max_score": msg.max_score,
                "health": msg.health,
                "rul_cycles": list(msg.rul_cycles) if msg.rul_cycles else None,
            }
            for _, msg, device, _ in self._items
            if msg.message_id in new
        ]
        if rows:
            s.execute(insert(TelemetrySummary), rows)
        return new
