"""Work orders: list, read (with history, evidence, parts and allowed actions), create by hand,
dispatch, and the lifecycle actions. Illegal transitions answer 409 (the services raise)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...db import Device, Engineer, WorkOrder, WorkOrderEvent, WorkOrderPart
from ...errors import IllegalTransition
from ...schemas.common import Page
from ...schemas.work import (
    AssignBody,
    DeclineBody,
    RateBody,
    ReasonBody,
    ResolveBody,
    WorkOrderCreate,
    WorkOrderDetail,
    WorkOrderPublic,
)
from ...services import transitions as tr
from ...services import work_orders as wo
from ...services.auth import Principal
from ...services.dispatch import DispatchResult, dispatch_orders
from ...services.knowledge import similar_cases
from ...services.lifecycle import actions_for_role
from ...services.order_search import OrderFilter, filter_orders, order_by_urgency
from ..deps import EngineerCaller, Reader, ScopeDep, SessionDep, Staff, StateDep
from ..params import Limit, Offset, PathId, QueryId
from ..scope import page

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"])
StatusName = Literal["open", "assigned", "accepted", "in_progress", "resolved", "closed", "cancelled"]


def _detail(session: Session, order: WorkOrder, principal: Principal) -> WorkOrderDetail:
    events = session.scalars(
        select(WorkOrderEvent).where(WorkOrderEvent.work_order_id == order.id).order_by(WorkOrderEvent.seq)
    ).all()
    parts = session.scalars(select(WorkOrderPart).where(WorkOrderPart.work_order_id == order.id)).all()
    actions = actions_for_role(order.status, order.rating is not None, principal.role)
    doc: dict[str, Any] = {
        **WorkOrderPublic.model_validate(order).model_dump(),
        "description": order.description,
        "evidence": order.evidence,
        "parts": parts,
        "events": events,
        "allowed_actions": actions,
    }
    return WorkOrderDetail.model_validate(doc)


@router.get("")
def list_work_orders(
    principal: Reader,
    session: SessionDep,
    scope: ScopeDep,
    state: StateDep,
    limit: Limit = 100,
    offset: Offset = 0,
    status: Annotated[list[StatusName] | None, Query()] = None,
    priority: Annotated[list[Annotated[int, Field(ge=1, le=4)]] | None, Query()] = None,
    device_id: QueryId = None,
    site_id: QueryId = None,
    assignee_id: QueryId = None,
    overdue: bool | None = None,
    q: Annotated[
        str | None, Query(max_length=200, description="text in title, fault, fix or device key")
    ] = None,
) -> Page[WorkOrderPublic]:
    """Orders the caller may see, most urgent first, narrowed by the filters (the pages' order
    list runs the same query: ``services/order_search.py``)."""
    wanted = OrderFilter(
        status=status or (),
        priority=priority or (),
        device_id=device_id,
        site_id=site_id,
        assignee_id=assignee_id,
        overdue=overdue,
        text=q,
    )
    query = order_by_urgency(filter_orders(scope.orders(), wanted, state.clock.now()))
    rows, total = page(session, query, limit, offset)
    return Page[WorkOrderPublic](items=rows, total=total, limit=limit, offset=offset)


@router.post("", status_code=201)
def create_work_order(
    body: WorkOrderCreate, principal: Staff, session: SessionDep, scope: ScopeDep, state: StateDep
) -> WorkOrderDetail:
    """A work order by hand; deduplicated like automatic ones (same device + fault key)."""
    device = scope.get(Device, body.device_id, "device")
    fault_key = body.fault_key or f"manual:{body.category}:{body.title}"
    spec = wo.OrderSpec(
        source="manual",
        kind=body.kind,
        title=body.title,
        fault_key=fault_key,
        category=body.category,
        severity=body.severity,
        description=body.description,
    )
    order, created = wo.open_order(session, device, spec, principal.actor, state.clock.now())
    if created:
        state.metrics.orders_created.labels("manual").inc()
    return _detail(session, order, principal)


@router.post("/dispatch")
def dispatch_work_orders(
    principal: Staff, session: SessionDep, scope: ScopeDep, state: StateDep
) -> list[dict[str, object]]:
    """Dispatch every open order of the tenant, most urgent first, in one pass."""
    orders = list(session.scalars(scope.select(WorkOrder).where(WorkOrder.status == "open")))
    results: list[DispatchResult] = dispatch_orders(session, orders, state.clock.now(), principal.actor)
    return [{"work_order_id": r.order_id, "engineer_id": r.engineer_id, "reason": r.reason} for r in results]


@router.get("/{order_id}")
def read_work_order(
    order_id: PathId, principal: Reader, session: SessionDep, scope: ScopeDep
) -> WorkOrderDetail:
    order, _ = scope.order(order_id)
    return _detail(session, order, principal)


@router.get("/{order_id}/similar")
def list_similar_cases(
    order_id: PathId, principal: Reader, session: SessionDep, scope: ScopeDep
) -> list[dict[str, Any]]:
    order, _ = scope.order(order_id)
    return similar_cases(session, order)


@router.post("/{order_id}/dispatch")
def dispatch_work_order(
    order_id: PathId, principal: Staff, session: SessionDep, scope: ScopeDep, state: StateDep
) -> WorkOrderDetail:
    order, _ = scope.order(order_id)
    if order.status != "open":
        raise IllegalTransition("dispatch", order.status)
    dispatch_orders(session, [order], state.clock.now(), principal.actor)
    return _detail(session, order, principal)


@router.post("/{order_id}/assign")
def assign_work_order(
    order_id: PathId,
    body: AssignBody,
    principal: Staff,
    session: SessionDep,
    scope: ScopeDep,
    state: StateDep,
) -> WorkOrderDetail:
    order, device = scope.order(order_id)
    engineer = scope.get(Engineer, body.engineer_id, "engineer")
    tr.assign(session, device, order, engineer, principal.actor, state.clock.now())
    return _detail(session, order, principal)


@router.post("/{order_id}/accept")
def accept_work_order(
    order_id: PathId, principal: EngineerCaller, session: SessionDep, scope: ScopeDep, state: StateDep
) -> WorkOrderDetail:
    order, device = scope.order(order_id)
    tr.accept(session, device, order, principal.actor, state.clock.now())
    return _detail(session, order, principal)


@router.post("/{order_id}/decline")
def decline_work_order(
    order_id: PathId,
    body: DeclineBody,
    principal: EngineerCaller,
    session: SessionDep,
    scope: ScopeDep,
    state: StateDep,
) -> dict[str, object]:
    """Decline, and the order is dispatched again to the next best engineer (not this one)."""
    order, device = scope.order(order_id)
    now = state.clock.now()
    tr.decline(session, device, order, principal.actor, now, body.reason)
    results = dispatch_orders(session, [order], now, "system:dispatch")
    return {
        "work_order_id": order.id,
        "status": order.status,
        "reassigned_to": results[0].engineer_id if results else None,
    }


@router.post("/{order_id}/start")
def start_work_order(
    order_id: PathId, principal: EngineerCaller, session: SessionDep, scope: ScopeDep, state: StateDep
) -> WorkOrderDetail:
    order, device = scope.order(order_id)
    tr.start(session, device, order, principal.actor, state.clock.now())
    return _detail(session, order, principal)


@router.post("/{order_id}/resolve")
def resolve_work_order(
    order_id: PathId,
    body: ResolveBody,
    principal: EngineerCaller,
    session: SessionDep,
    scope: ScopeDep,
    state: StateDep,
) -> WorkOrderDetail:
    order, device = scope.order(order_id)
    parts = [tr.PartUsed(p.part_number, p.name, p.quantity) for p in body.parts]
    tr.resolve(
        session,
        device,
        order,
        principal.actor,
        state.clock.now(),
        body.fix,
        parts,
        state.verification_window,
        finding=body.finding,
    )
    return _detail(session, order, principal)


@router.post("/{order_id}/rate")
def rate_work_order(
    order_id: PathId, body: RateBody, principal: Staff, session: SessionDep, scope: ScopeDep, state: StateDep
) -> WorkOrderDetail:
    """Record the customer's rating; below 3 stars opens a review task."""
    order, device = scope.order(order_id)
    tr.rate(session, device, order, principal.actor, state.clock.now(), body.stars, body.comment)
    return _detail(session, order, principal)


@router.post("/{order_id}/close")
def close_work_order(
    order_id: PathId, principal: Staff, session: SessionDep, scope: ScopeDep, state: StateDep
) -> WorkOrderDetail:
    order, device = scope.order(order_id)
    tr.close(session, device, order, principal.actor, state.clock.now())
    return _detail(session, order, principal)


@router.post("/{order_id}/reopen")
def reopen_work_order(
    order_id: PathId,
    body: ReasonBody,
    principal: Staff,
    session: SessionDep,
    scope: ScopeDep,
    state: StateDep,
) -> WorkOrderDetail:
    order, device = scope.order(order_id)
    tr.reopen(session, device, order, principal.actor, state.clock.now(), body.reason)
    return _detail(session, order, principal)


@router.post("/{order_id}/cancel")
def cancel_work_order(
    order_id: PathId,
    body: ReasonBody,
    principal: Staff,
    session: SessionDep,
    scope: ScopeDep,
    state: StateDep,
) -> WorkOrderDetail:
    order, device = scope.order(order_id)
    tr.cancel(session, device, order, principal.actor, state.clock.now(), body.reason)
    return _detail(session, order, principal)
