"""What one ingest batch looks up once instead of once per message.

Per message, ingest needs its tenant, its device (locked: the device's history chain is
appended to) and whether its message id is already stored; an alert also needs its alert
row, the live order for its fault, the device's site and customer (priority, who is told)
and the model's resolved cases (naming the fault). Asked message by message that is about
ten queries per alert, and on a busy stream they cost more than the writes. A batch asks
once for all of its messages, a query per kind of row, and keeps the answers for the length
of its transaction, adding what the batch itself creates. The same goes for dispatching:
the engineers of a tenant with their load and record (a
:class:`~cloud.services.dispatch.DispatchBoard`) are loaded once per batch and kept current
as the batch assigns orders.

Sites and customers are only *held* here: ``session.get`` finds a row the session holds
without a query, and holding them keeps the identity map (which keeps rows weakly) from
letting them go between messages.

The answers are only trusted while nothing else wrote the same rows: after an
``IntegrityError`` (a concurrent worker stored a device or message id the batch had not
seen) :meth:`BatchLookups.distrust` makes the rest of the batch ask the database again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from firmware_bridge.contract import (
    AlertMessage,
    ConsumableStatusMessage,
    FaultEventMessage,
    TelemetrySummaryMessage,
)

from ..db import Alert, Customer, Device, InboxMessage, Site, Tenant, WorkOrder
from ..db.ids import reserve_ids
from .dispatch import DispatchBoard
from .fault_names import resolved_cases
from .work_orders import dedup_key, fault_code_key, live_order

EdgeMessage = AlertMessage | ConsumableStatusMessage | FaultEventMessage | TelemetrySummaryMessage

__all__ = ["BatchLookups"]


class BatchLookups:
    def __init__(self, s: Session, messages: Sequence[EdgeMessage]) -> None:
        """``messages``: every valid edge message of the batch."""
        wanted = [(m.tenant, m.device_id, m.message_id) for m in messages]
        self._session = s
        self._trusted = True
        slugs = sorted({slug for slug, _, _ in wanted})
        self._tenants = {t.slug: t for t in s.scalars(select(Tenant).where(Tenant.slug.in_(slugs)))}
        self._devices: dict[tuple[int, str], Device] = {}
        self._stored: set[str] = set()
        self._boards: dict[int, DispatchBoard] = {}
        self._alerts: dict[tuple[int, str], Alert] = {}
        self._orders: dict[str, WorkOrder] = {}
        self._cases: dict[tuple[int, str | None], list[WorkOrder]] = {}
        self._held: list[Any] = []  # sites and customers, see the module doc
        self._waiting: dict[int, WorkOrder] = {}
        self._loaded_for: set[int] = set()  # devices whose alerts and live orders were loaded
        # each alert, fault or consumable status opens at most one order
        self._may_open = sum(1 for m in messages if not isinstance(m, TelemetrySummaryMessage))
        self._order_ids: list[int] = []
        if not wanted:
            return
        # Lock every known device of the batch in one statement, in id order: taken message
        # by message, two workers with overlapping batches could lock the same two devices
        # in opposite orders and deadlock. (SQLite ignores FOR UPDATE; BEGIN IMMEDIATE
        # already serialises its writers.)
        pairs = sorted({(slug, key) for slug, key, _ in wanted if slug in self._tenants})
        if pairs:
            locked = s.scalars(
                select(Device)
                .join(Tenant, Tenant.id == Device.tenant_id)
                .where(tuple_(Tenant.slug, Device.key).in_(pairs))
                .order_by(Device.id)
                .with_for_update(of=Device)
            )
            self._devices = {(d.tenant_id, d.key): d for d in locked}
        ids = sorted({mid for _, _, mid in wanted})
        self._stored = set(s.scalars(select(InboxMessage.message_id).where(InboxMessage.message_id.in_(ids))))
        self._load_incident_rows(messages)

    def _load_incident_rows(self, messages: Sequence[EdgeMessage]) -> None:
        """The alerts, live orders, sites and customers that the batch's alerts and faults
        touch, a query each."""
        s = self._session
        alert_keys: set[tuple[int, str]] = set()
        dedup_keys: set[str] = set()
        incident_devices: list[Device] = []
        for m in messages:
            tenant = self._tenants.get(m.tenant)
            device = self._devices.get((tenant.id, m.device_id)) if tenant is not None else None
            if device is None or not isinstance(m, (AlertMessage, FaultEventMessage)):
                continue
            incident_devices.append(device)
            if isinstance(m, AlertMessage):
                alert_keys.add((device.id, m.alert_id))
                dedup_keys.add(dedup_key(device.id, m.fault_key))
            else:
                dedup_keys.add(dedup_key(device.id, fault_code_key(m.code)))
        if not incident_devices:
            return
        if alert_keys:
            found = s.scalars(select(Alert).where(tuple_(Alert.device_id, Alert.key).in_(sorted(alert_keys))))
            self._alerts = {(a.device_id, a.key): a for a in found}
        if dedup_keys:
            found_orders = s.scalars(select(WorkOrder).where(WorkOrder.dedup_key.in_(sorted(dedup_keys))))
            self._orders = {o.dedup_key: o for o in found_orders if o.dedup_key is not None}
        site_ids = sorted({d.site_id for d in incident_devices if d.site_id is not None})
        sites = list(s.scalars(select(Site).where(Site.id.in_(site_ids)))) if site_ids else []
        customer_ids = sorted({x.customer_id for x in sites if x.customer_id is not None})
        customers = (
            list(s.scalars(select(Customer).where(Customer.id.in_(customer_ids)))) if customer_ids else []
        )
        self._held = [*sites, *customers]
        self._loaded_for = {d.id for d in incident_devices}

    @property
    def trusted(self) -> bool:
        """Whether the answers still hold (no conflicting writer seen in this batch)."""
        return self._trusted

    def tenant(self, slug: str) -> Tenant | None:
        return self._tenants.get(slug)  # tenants are not created by ingest

    def device(self, tenant_id: int, key: str) -> Device | None:
        """The device, locked for this transaction; None if it does not exist yet."""
        device = self._devices.get((tenant_id, key))
        if device is None and not self._trusted:
            query = select(Device).where(Device.tenant_id == tenant_id, Device.key == key).with_for_update()
            device = self._session.scalar(query)
        return device

    def already_stored(self, message_id: str) -> bool:
        if message_id in self._stored:
            return True
        return not self._trusted and self._session.get(InboxMessage, message_id) is not None

    def stored(self, message_id: str, device: Device, waiting: Sequence[WorkOrder] = ()) -> None:
        """Note a message that held (its savepoint committed, or the batch went in one go),
        its (perhaps new) device, and the orders it opened or reopened: those are dispatched
        together, most urgent first, before the batch commits."""
        self._stored.add(message_id)
        self._devices[(device.tenant_id, device.key)] = device
        self._waiting.update({o.id: o for o in waiting})

    def _answers_for(self, device_id: int) -> bool:
        """Whether what was loaded up front is the whole truth for this device."""
        return self._trusted and device_id in self._loaded_for

    def alert(self, device_id: int, key: str) -> Alert | None:
        """The device's alert row with the edge's ``key``, or None if there is none yet."""
        found = self._alerts.get((device_id, key))
        if found is not None or self._answers_for(device_id):
            return found
        return self._session.scalar(select(Alert).where(Alert.device_id == device_id, Alert.key == key))

    def alert_added(self, alert: Alert) -> None:
        self._alerts[(alert.device_id, alert.key)] = alert

    def live_order(self, device_id: int, fault_key: str) -> WorkOrder | None:
        """The device's live order for ``fault_key`` (see :mod:`.work_orders`)."""
        key = dedup_key(device_id, fault_key)
        found = self._orders.get(key)
        if found is not None and found.dedup_key == key:
            return found
        if self._answers_for(device_id):
            return None
        return live_order(self._session, device_id, fault_key)

    def next_order_id(self) -> int | None:
        """An id for a new order, reserved for the batch (:mod:`cloud.db.ids`), or None."""
        if not self._order_ids:
            self._order_ids = reserve_ids(self._session, "work_orders", max(self._may_open, 1)) or []
            self._order_ids.reverse()
        return self._order_ids.pop() if self._order_ids else None

    def opened(self, order: WorkOrder) -> None:
        if order.dedup_key is not None:
            self._orders[order.dedup_key] = order

    def resolved_cases(self, tenant_id: int, model: str | None) -> list[WorkOrder]:
        """The model's resolved cases, once per batch: ingest resolves nothing, so they hold."""
        key = (tenant_id, model)
        if key not in self._cases:
            with self._session.no_autoflush:  # what the batch has pending cannot be among them
                self._cases[key] = resolved_cases(self._session, tenant_id, model)
        return self._cases[key]

    def waiting(self) -> dict[int, list[WorkOrder]]:
        """The orders still open, by tenant."""
        by_tenant: dict[int, list[WorkOrder]] = {}
        for order in self._waiting.values():
            if order.status == "open":
                by_tenant.setdefault(order.tenant_id, []).append(order)
        return by_tenant

    def dispatch_board(self, tenant_id: int) -> DispatchBoard:
        """The tenant's engineers for this batch's dispatching, loaded on first use. A message
        whose savepoint rolls back after an assignment leaves that engineer's load counted:
        the board errs towards a free engineer, never beyond capacity."""
        board = self._boards.get(tenant_id)
        if board is None:
            board = self._boards[tenant_id] = DispatchBoard(self._session, tenant_id)
        return board

    def distrust(self) -> None:
        """Someone else wrote rows this batch looked up: ask the database from now on."""
        self._trusted = False
        self._devices.clear()
        self._boards.clear()
        self._alerts.clear()
        self._orders.clear()
