"""What one ingest batch looks up once instead of once per message.

Per message, ingest needs its tenant, its device (locked: the device's history chain is
appended to) and whether its message id is already stored. Asked message by message that
is three queries each, and on a busy stream they cost more than the writes. A batch asks
once for all of its messages, in three queries, and keeps the answers for the length of
its transaction. The same goes for dispatching: the engineers of a tenant with their load
and record (a :class:`~cloud.services.dispatch.DispatchBoard`) are loaded once per batch and
kept current as the batch assigns orders, instead of once per alert.

The answers are only trusted while nothing else wrote the same rows: after an
``IntegrityError`` (a concurrent worker stored a device or message id the batch had not
seen) :meth:`BatchLookups.distrust` makes the rest of the batch ask the database again.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from ..db import Device, InboxMessage, Tenant
from .dispatch import DispatchBoard

__all__ = ["BatchLookups"]


class BatchLookups:
    def __init__(self, s: Session, messages: Iterable[tuple[str, str, str]]) -> None:
        """``messages``: (tenant slug, device key, message id) of every valid edge message."""
        wanted = list(messages)
        self._session = s
        self._trusted = True
        slugs = sorted({slug for slug, _, _ in wanted})
        self._tenants = {t.slug: t for t in s.scalars(select(Tenant).where(Tenant.slug.in_(slugs)))}
        self._devices: dict[tuple[int, str], Device] = {}
        self._stored: set[str] = set()
        self._boards: dict[int, DispatchBoard] = {}
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

    def stored(self, message_id: str, device: Device) -> None:
        """Note a message committed to its savepoint, and its (perhaps new) device."""
        self._stored.add(message_id)
        self._devices[(device.tenant_id, device.key)] = device

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
