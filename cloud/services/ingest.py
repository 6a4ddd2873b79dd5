"""One edge message in, stored exactly once, with everything it sets off, or dead-lettered.

:class:`Ingestor` is transport-free: the MQTT worker (``cloud/ingest_mqtt.py``) and the HTTP
endpoint for devices hand it ``(topic, payload)`` pairs and act on each
:class:`IngestResult` (ack, count, forward the summary to the time-series sink). The MQTT
worker hands over whatever has queued up as one batch: one transaction, one savepoint per
message. The rules:

- a payload that is not a valid contract message, or whose topic names another tenant,
  agent or kind than its body, is dead-lettered byte for byte with the reason;
- a message id already stored is a duplicate (the edge delivers at least once): no effect;
- an unknown tenant is dead-lettered;
- an agent reports only the devices assigned to it (``Device.agent_key``): a message about
  a device assigned to another agent is dead-lettered as an impersonation. (Over MQTT the
  broker's ACL already ties each topic to one agent's login; this ties the device to it.)
- a device seen for the first time, or one no agent is assigned to, is *quarantined*: it is
  recorded (``registered = False`` when new) with what it sends, but opens no work order
  until an admin registers or assigns it. A message a device posts itself over HTTP, with
  its own token, needs no agent;
- anything that fails while applying a valid message rolls back its savepoint and is
  dead-lettered too, so one poisonous message neither crashes the worker nor takes the
  rest of its batch with it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from firmware_bridge.contract import (
    MAX_MESSAGE_BYTES,
    AgentStatus,
    AlertMessage,
    ConsumableStatusMessage,
    ContractError,
    FaultEventMessage,
    ModelStatusMessage,
    TelemetrySummaryMessage,
    parse_edge_delivery,
    parse_edge_topic,
)

from ..clock import Clock
from ..db import (
    Agent,
    Alert,
    DeadLetter,
    Device,
    InboxMessage,
    Notification,
    Tenant,
    WorkOrder,
    WorkOrderEvent,
)
from ..db.ids import ids_before_flush
from .batch_lookups import BatchLookups
from .dispatch import dispatch_orders
from .ingest_handlers import ACTOR, HANDLERS, Context, on_agent_status
from .reminders import ReminderPolicy
from .rollouts import on_model_status
from .summary_bulk import SummaryBatch

__all__ = ["IngestOptions", "IngestResult", "Ingestor"]

log = logging.getLogger("prognos.cloud.ingest")
_RETRIES = 4


@dataclass(frozen=True, slots=True)
class IngestOptions:
    auto_dispatch: bool = True
    bulk_summaries: bool = True  # see summary_bulk.py
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)


@dataclass(slots=True)
class IngestResult:
    outcome: Literal["stored", "duplicate", "dead_letter", "status"]
    kind: str | None = None
    reason: str | None = None
    lag_s: float | None = None
    created_orders: list[int] = field(default_factory=list)
    summary: TelemetrySummaryMessage | None = None
    quarantined: bool = False  # stored, but the device is unregistered or unassigned: no orders
    message_id: str | None = None  # what the edge calls it (also for most dead letters)
    agent: tuple[str, str] | None = None  # (tenant, agent) of a status report
    agent_status: AgentStatus | None = None


class _DeadLetter(Exception):
    """Internal: this message cannot be accepted, for the reason given."""


_EdgeMessage = AlertMessage | ConsumableStatusMessage | FaultEventMessage | TelemetrySummaryMessage
_Parsed = _EdgeMessage | AgentStatus | ModelStatusMessage


class Ingestor:
    def __init__(
        self, sessions: sessionmaker[Session], clock: Clock, options: IngestOptions | None = None
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.options = options or IngestOptions()

    def known_agents(self) -> list[tuple[str, str]]:
        """(tenant, agent) of every agent the registry knows."""
        with self.sessions() as s:
            rows = s.execute(select(Tenant.slug, Agent.key).join(Tenant, Tenant.id == Agent.tenant_id))
            return [(tenant, agent) for tenant, agent in rows]

    def handle(self, topic: str, payload: bytes, *, from_device: bool = False) -> IngestResult:
        """Apply one message; ``from_device``: the device itself sent it, authenticated by its
        own token (HTTP ingest), so no agent vouches for it. See :meth:`handle_batch`."""
        return self.handle_batch([(topic, payload)], from_device=from_device)[0]

    def handle_batch(
        self, deliveries: Sequence[tuple[str, bytes]], *, from_device: bool = False
    ) -> list[IngestResult]:
        """Apply messages in arrival order in one transaction, one result per message.

        One commit for the batch is what makes ingest fast (the commit's fsync dominates a
        single message). The batch is first tried in one go: no savepoint per message and
        one flush at the end, so each table's new rows go in as one multi-row insert. If
        anything in it fails (a message that breaks a handler, a row a concurrent worker
        wrote first), that attempt is rolled back and the batch is taken message by message,
        each in its own savepoint: a rejected or failing one rolls back alone and is
        dead-lettered while the rest commits. Never raises for bad input; a database outage
        (``OperationalError``) propagates for the whole batch, so the caller acks nothing
        and the broker redelivers all of it.
        """
        parsed = [self._parse(topic, payload) for topic, payload in deliveries]
        with self.sessions() as s, s.begin():
            ids_before_flush(s, (Alert, WorkOrderEvent, Notification))
            try:
                with s.begin_nested():
                    results = self._batch(s, deliveries, parsed, from_device, careful=False)
            except OperationalError:
                raise
            except Exception as exc:  # noqa: BLE001 - the careful pass finds the culprit
                log.info("batch of %d taken message by message: %s", len(deliveries), exc)
                results = self._batch(s, deliveries, parsed, from_device, careful=True)
        for result, (_, payload), message in zip(results, deliveries, parsed, strict=True):
            ids = _claimed_id(payload) if isinstance(message, str) else getattr(message, "message_id", None)
            result.message_id = ids  # what the edge is told was stored, or refused
        return results

    def _batch(
        self,
        s: Session,
        deliveries: Sequence[tuple[str, bytes]],
        parsed: list[_Parsed | str],
        from_device: bool,
        careful: bool,
    ) -> list[IngestResult]:
        """One pass over the batch (see :meth:`handle_batch`)."""
        valid = [m for m in parsed if not isinstance(m, (str, AgentStatus, ModelStatusMessage))]
        lookups = BatchLookups(s, valid)
        bulk = SummaryBatch(self.clock.now(), enabled=self.options.bulk_summaries)
        results: list[IngestResult] = []
        for (topic, payload), message in zip(deliveries, parsed, strict=True):
            if isinstance(message, TelemetrySummaryMessage) and bulk.holds(message.message_id):
                results.append(IngestResult("duplicate", kind="summary"))  # redelivered in the batch
            elif self._set_aside(bulk, len(results), lookups, message, from_device):
                results.append(IngestResult("duplicate", kind="summary"))  # until written
            elif careful or isinstance(message, (str, AgentStatus, ModelStatusMessage)):
                results.append(self._one(s, lookups, topic, payload, message, from_device))
            else:
                results.append(self._in_one_go(s, lookups, topic, payload, message, from_device))

        def stored(slot: int, msg: TelemetrySummaryMessage, trusted: bool) -> None:
            lag = max(0.0, bulk.now.timestamp() - msg.created_at)
            results[slot] = IngestResult(
                "stored", kind=msg.kind, lag_s=lag, summary=msg, quarantined=not trusted
            )

        def one_by_one(slot: int, msg: TelemetrySummaryMessage) -> None:
            topic, payload = deliveries[slot]
            results[slot] = self._one(s, lookups, topic, payload, msg, from_device)

        bulk.write(s, stored, lambda slot, msg: None, one_by_one)
        if self.options.auto_dispatch:
            self._dispatch(s, lookups)
        return results

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _set_aside(
        bulk: SummaryBatch, slot: int, lookups: BatchLookups, message: _Parsed | str, from_device: bool
    ) -> bool:
        """A summary for a known device, through its own agent, not stored yet: bulk path
        (``summary_bulk.py``). Everything else, and any doubt, takes the per-message path."""
        if not isinstance(message, TelemetrySummaryMessage) or not lookups.trusted:
            return False
        if not bulk.enabled:
            return False
        tenant = lookups.tenant(message.tenant)
        device = lookups.device(tenant.id, message.device_id) if tenant is not None else None
        if device is None or (not from_device and device.agent_key not in (None, message.agent_id)):
            return False
        if lookups.already_stored(message.message_id):
            return False  # the per-message path says "duplicate" as it always has
        trusted = device.registered and (from_device or device.agent_key is not None)
        return bulk.add(slot, message, device, trusted)

    @staticmethod
    def _parse(topic: str, payload: bytes) -> _Parsed | str:
        """The contract message the payload carries, or why it is not acceptable."""
        try:
            return parse_edge_delivery(topic, payload)
        except ContractError as exc:
            return str(exc)

    def _one(
        self,
        s: Session,
        lookups: BatchLookups,
        topic: str,
        payload: bytes,
        message: _Parsed | str,
        from_device: bool,
    ) -> IngestResult:
        if isinstance(message, str):
            return self._dead_letter(s, topic, payload, message)
        for attempt in range(_RETRIES):
            try:
                with s.begin_nested():
                    if isinstance(message, AgentStatus):
                        return self._status(s, topic, message)
                    if isinstance(message, ModelStatusMessage):
                        return self._model_status(s, message)
                    result, device, waiting = self._apply(s, lookups, message, from_device)
                if device is not None:  # the savepoint held: later messages may rely on it
                    lookups.stored(message.message_id, device, waiting)
                return result
            except _DeadLetter as exc:
                return self._dead_letter(s, topic, payload, str(exc))
            except IntegrityError as exc:
                # a concurrent worker stored a row we also inserted (device, order, event seq):
                # try again against what it committed; the inbox row makes a real duplicate a no-op
                log.info("ingest retry %d after a conflict: %s", attempt + 1, exc.orig)
                lookups.distrust()
            except OperationalError:
                raise  # the database is away: no ack, the batch is redelivered later
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the stream
                log.exception("ingest failed on %s", topic)
                lookups.distrust()  # what it added to them was rolled back with it
                return self._dead_letter(s, topic, payload, f"processing failed: {type(exc).__name__}: {exc}")
        return self._dead_letter(s, topic, payload, f"gave up after {_RETRIES} conflicting attempts")

    def _in_one_go(
        self,
        s: Session,
        lookups: BatchLookups,
        topic: str,
        payload: bytes,
        msg: _EdgeMessage,
        from_device: bool,
    ) -> IngestResult:
        """An edge message without a savepoint of its own: anything but a refusal (which
        writes nothing before it is refused) fails the whole attempt."""
        try:
            result, device, waiting = self._apply(s, lookups, msg, from_device)
        except _DeadLetter as exc:
            return self._dead_letter(s, topic, payload, str(exc))
        if device is not None:
            lookups.stored(msg.message_id, device, waiting)
        return result

    def _dead_letter(self, s: Session, topic: str, payload: bytes, reason: str) -> IngestResult:
        s.add(
            DeadLetter(received_at=self.clock.now(), topic=topic[:400], payload=bytes(payload), reason=reason)
        )
        log.warning("dead letter on %s: %s", topic, reason)
        return IngestResult("dead_letter", reason=reason)

    def _status(self, s: Session, topic: str, status: AgentStatus) -> IngestResult:
        tenant_slug, agent_key, _ = parse_edge_topic(topic)
        tenant = s.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
        if tenant is None:
            raise _DeadLetter(f"unknown tenant {tenant_slug!r}")
        on_agent_status(s, tenant, agent_key, status, self.clock.now())
        return IngestResult("status", kind="status", agent=(tenant_slug, agent_key), agent_status=status)

    def _model_status(self, s: Session, msg: ModelStatusMessage) -> IngestResult:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == msg.tenant))
        if tenant is None:
            raise _DeadLetter(f"unknown tenant {msg.tenant!r}")
        ignored = on_model_status(s, tenant, msg, self.clock.now())
        if ignored is not None:
            raise _DeadLetter(ignored)
        return IngestResult("status", kind="model")

    def _apply(
        self, s: Session, lookups: BatchLookups, msg: _EdgeMessage, from_device: bool
    ) -> tuple[IngestResult, Device | None, list[WorkOrder]]:
        """Store one valid message and what it sets off; the device it touched, if stored,
        and the orders it leaves waiting for an engineer."""
        now = self.clock.now()
        result = IngestResult("stored", kind=msg.kind, lag_s=max(0.0, now.timestamp() - msg.created_at))
        tenant = lookups.tenant(msg.tenant)
        if tenant is None:
            raise _DeadLetter(f"unknown tenant {msg.tenant!r}")
        known = lookups.device(tenant.id, msg.device_id)
        if not from_device and known is not None and known.agent_key not in (None, msg.agent_id):
            raise _DeadLetter(
                f"device {msg.device_id!r} reports through agent {known.agent_key!r}, not {msg.agent_id!r}"
            )
        if lookups.already_stored(msg.message_id):
            return IngestResult("duplicate", kind=msg.kind), None, []
        s.add(
            InboxMessage(
                message_id=msg.message_id,
                tenant_id=tenant.id,
                kind=msg.kind,
                device_key=msg.device_id,
                received_at=now,
            )
        )
        device = self._device(s, lookups, tenant, msg, now)
        trusted = device.registered and (from_device or device.agent_key is not None)
        result.quarantined = not trusted
        context = Context(now, trusted, self.options.reminders, lookups)
        touched = HANDLERS[type(msg)](s, device, msg, context)
        if isinstance(msg, TelemetrySummaryMessage):
            result.summary = msg  # for the time-series sink
        waiting = [o for o, _ in touched if o.status == "open"]  # new, or reopened by this message
        result.created_orders = [o.id for o, created in touched if created]
        return result, device, waiting

    def _dispatch(self, s: Session, lookups: BatchLookups) -> None:
        """Dispatch what the batch left open in one pass per tenant, most urgent first (a
        burst's critical order gets the best engineer, not whichever came first). If that
        fails, the orders stay stored and open for the scheduler's next dispatch pass."""
        now = self.clock.now()
        for tenant_id, orders in lookups.waiting().items():
            try:
                with s.begin_nested():
                    dispatch_orders(s, orders, now, ACTOR, board=lookups.dispatch_board(tenant_id))
            except OperationalError:
                raise
            except Exception:  # noqa: BLE001 - the orders are safe; dispatch is retried later
                log.exception("dispatching %d new orders failed; the scheduler will retry", len(orders))
                lookups.distrust()

    @staticmethod
    def _device(
        s: Session, lookups: BatchLookups, tenant: Tenant, msg: _EdgeMessage, now: datetime
    ) -> Device:
        """The device row, locked for this transaction (its history chain is appended to)."""
        device = lookups.device(tenant.id, msg.device_id)
        if device is None:
            device = Device(tenant_id=tenant.id, key=msg.device_id, registered=False, first_seen_at=now)
            s.add(device)
            s.flush()
            log.warning(
                "unknown device %s/%s (from agent %s) quarantined as unregistered",
                tenant.slug, msg.device_id, msg.agent_id,
            )  # fmt: skip
        device.first_seen_at = device.first_seen_at or now
        device.last_seen_at, device.last_agent = now, msg.agent_id
        return device


def _claimed_id(payload: bytes) -> str | None:
    """The message id a refused payload claims, if it has a usable one: the edge is told its
    message was refused for good and stops sending it."""
    try:
        doc = json.loads(payload) if len(payload) <= MAX_MESSAGE_BYTES else None
    except ValueError:
        return None
    mid = doc.get("message_id") if isinstance(doc, dict) else None
    return mid if isinstance(mid, str) and 8 <= len(mid) <= 64 else None
