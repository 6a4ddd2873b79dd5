"""Tenant and role scoping, in one place: :class:`TenantScope`, a request dependency, so a
row of another tenant is indistinguishable from one that does not exist (404), and no
router or page writes a tenant or engineer filter by hand."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..db import AnySelect, Device, WorkOrder
from ..errors import NotFound
from ..services.auth import Principal

__all__ = ["TenantScope", "page"]

M = TypeVar("M")


class TenantScope:
    """What one caller may see, in one place: rows of its own tenant, and for an engineer
    only the work (and the devices and sites) assigned to them. A row outside the scope is
    indistinguishable from one that does not exist (404). Routers and pages take it as a
    dependency (``ScopeDep``, ``PageScope``) instead of filtering by hand."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    @property
    def tenant_id(self) -> int:
        return self.principal.tenant_id

    @property
    def _engineer(self) -> bool:
        return self.principal.role == "engineer"

    def select(self, model: type[M]) -> Select[M]:
        """``SELECT model`` narrowed to the caller's tenant."""
        return self.where(select(model), model)

    def where(self, query: AnySelect, model: type[Any]) -> AnySelect:
        """Any query (an aggregate, a join) narrowed to the caller's tenant's rows of ``model``."""
        return query.where(model.tenant_id == self.tenant_id)

    def get(self, model: type[M], row_id: int, what: str) -> M:
        row = self.session.get(model, row_id)
        if row is None or getattr(row, "tenant_id", None) != self.tenant_id:
            raise NotFound(f"{what} {row_id} not found")
        return row

    def engineer_device_ids(self) -> set[int]:
        """Devices the calling engineer has work on: theirs to see, nothing else."""
        query = select(WorkOrder.device_id).where(WorkOrder.assignee_id == (self.principal.engineer_id or -1))
        return set(self.session.scalars(query))

    def engineer_site_ids(self) -> set[int]:
        ids = self.engineer_device_ids()
        if not ids:
            return set()
        return {
            s for s in self.session.scalars(select(Device.site_id).where(Device.id.in_(ids))) if s is not None
        }

    def devices(self, query: AnySelect | None = None) -> AnySelect:
        """Narrow a query over Device (default: all of them) to what the caller may see."""
        query = (select(Device) if query is None else query).where(Device.tenant_id == self.tenant_id)
        if self._engineer:
            query = query.where(Device.id.in_(self.engineer_device_ids()))
        return query

    def device(self, device_id: int) -> Device:
        device = self.get(Device, device_id, "device")
        if self._engineer and device.id not in self.engineer_device_ids():
            raise NotFound(f"device {device_id} not found")
        return device

    def orders(self, query: AnySelect | None = None) -> AnySelect:
        """Narrow a query over WorkOrder to the tenant's, and an engineer's to theirs."""
        query = (select(WorkOrder) if query is None else query).where(WorkOrder.tenant_id == self.tenant_id)
        if self._engineer:
            query = query.where(WorkOrder.assignee_id == self.principal.engineer_id)
        return query

    def order(self, order_id: int) -> tuple[WorkOrder, Device]:
        """The order (and its device) if the caller may see it; for an engineer that means it is
        assigned to them, which is also what lets them act on it (accept, decline, start, resolve)."""
        order = self.get(WorkOrder, order_id, "work order")
        if self._engineer and order.assignee_id != self.principal.engineer_id:
            raise NotFound(f"work order {order_id} not found")
        device = self.session.get(Device, order.device_id)
        assert device is not None
        return order, device


def page(session: Session, query: AnySelect, limit: int, offset: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return list(session.scalars(query.limit(limit).offset(offset))), total
