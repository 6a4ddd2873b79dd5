"""Devices: registry, health, and the tamper-evident service history."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from sqlalchemy import select

from ...catalog import family_of
from ...db import Device, Site, WorkOrderEvent
from ...errors import Conflict, NotFound
from ...fault_catalog import FAULT_MODES
from ...schemas.common import Page
from ...schemas.fleet import DeviceAssign, DeviceCreate, DevicePublic
from ...schemas.ops import DeviceHealth
from ...schemas.work import ChainReportPublic, EventPublic, FaultModePublic
from ...services.health import device_health
from ...services.history import verify_chain
from ..deps import Admin, Reader, ScopeDep, SessionDep, StateDep
from ..params import Limit, Offset, PathId, QueryId
from ..scope import page

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])


@router.get("")
def list_devices(
    principal: Reader,
    session: SessionDep,
    scope: ScopeDep,
    limit: Limit = 100,
    offset: Offset = 0,
    site_id: QueryId = None,
    model: str | None = None,
    registered: bool | None = None,
) -> Page[DevicePublic]:
    q = scope.devices(select(Device)).order_by(Device.id)
    if site_id is not None:
        q = q.where(Device.site_id == site_id)
    if model is not None:
        q = q.where(Device.model == model)
    if registered is not None:
        q = q.where(Device.registered.is_(registered))
    rows, total = page(session, q, limit, offset)
    return Page[DevicePublic](items=rows, total=total, limit=limit, offset=offset)


@router.get("/{device_id}/fault-modes")
def list_fault_modes(device_id: PathId, principal: Reader, scope: ScopeDep) -> list[FaultModePublic]:
    """How this device's product family is known to fail (``cloud/fault_catalog.py``): the
    names alerts are given, and what a resolution's ``finding`` may name besides
    ``no_fault_found`` or a new fault."""
    device = scope.device(device_id)
    modes = FAULT_MODES.get(family_of(device.model) or "", ())
    return [FaultModePublic.model_validate({**asdict(m), "signature": dict(m.signature)}) for m in modes]


@router.post("", status_code=201)
def create_device(
    body: DeviceCreate, principal: Admin, session: SessionDep, scope: ScopeDep, state: StateDep
) -> DevicePublic:
    """Register a device; a device that already reported (unregistered) is adopted instead."""
    site = session.get(Site, body.site_id)
    if site is None or site.tenant_id != scope.tenant_id:
        raise NotFound(f"site {body.site_id} not found")
    row = session.scalar(scope.select(Device).where(Device.key == body.key))
    if row is not None and row.registered:
        raise Conflict(f"device {body.key!r} is already registered")
    if row is None:
        row = Device(tenant_id=scope.tenant_id, key=body.key)
        session.add(row)
    fields = body.model_dump()
    fields["agent_key"] = fields["agent_key"] or row.agent_key or row.last_agent
    for name, value in fields.items():
        setattr(row, name, value)
    row.registered = True
    session.flush()
    state.sync_broker(session)  # its bridge may now publish for it
    return DevicePublic.model_validate(row)


@router.put("/{device_id}/agent")
def assign_device(
    device_id: PathId,
    body: DeviceAssign,
    principal: Admin,
    session: SessionDep,
    scope: ScopeDep,
    state: StateDep,
) -> DevicePublic:
    """Move a device to another edge agent: from now on ingest takes its messages from that
    agent only, and that agent's bridge may publish for it."""
    row = scope.device(device_id)
    row.agent_key = body.agent_key
    state.sync_broker(session)
    return DevicePublic.model_validate(row)


@router.get("/{device_id}")
def read_device(device_id: PathId, principal: Reader, session: SessionDep, scope: ScopeDep) -> DevicePublic:
    return DevicePublic.model_validate(scope.device(device_id))


@router.get("/{device_id}/health")
def read_device_health(
    device_id: PathId, principal: Reader, session: SessionDep, scope: ScopeDep, state: StateDep
) -> DeviceHealth:
    device = scope.device(device_id)
    health = device_health(session, device, state.clock.now(), state.offline_after, history=state.history)
    return DeviceHealth.model_validate(health)


@router.get("/{device_id}/history")
def list_device_history(
    device_id: PathId, principal: Reader, session: SessionDep, scope: ScopeDep
) -> list[EventPublic]:
    device = scope.device(device_id)
    rows = session.scalars(
        select(WorkOrderEvent).where(WorkOrderEvent.device_id == device.id).order_by(WorkOrderEvent.seq)
    )
    return [EventPublic.model_validate(r) for r in rows]


@router.get("/{device_id}/history/verify")
def verify_device_history(
    device_id: PathId, principal: Reader, session: SessionDep, scope: ScopeDep
) -> ChainReportPublic:
    device = scope.device(device_id)
    return ChainReportPublic.model_validate(verify_chain(session, device))
