"""The work-order board (columns by status) and one work order's page.

A card shows the SLA countdown that matters now (response until accepted, then
resolution; overdue in red), the assignee with the dispatch explanation, and the actions
the caller's role may take (``lifecycle.actions_for_role``, the same rule the API
enforces). The buttons call the REST API; the page only offers what the API would accept.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from ..api.deps import SessionDep, StateDep
from ..api.params import PathId
from ..api.scope import TenantScope
from ..db import Device, Engineer, WorkOrder, WorkOrderEvent, WorkOrderPart
from ..services.knowledge import similar_cases
from ..services.lifecycle import actions_for_role
from ..services.order_search import order_by_urgency
from ..services.sla import deadline_of, overdue_clause
from .order_list import list_url
from .order_view import describe_fault, evidence_windows, history_lines, rul_phrase
from .render import countdown, page
from .session import PagePrincipal, PageScope

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)
COLUMNS = ("open", "assigned", "accepted", "in_progress", "resolved", "closed")
CARDS_SHOWN = 12  # cards per column; its count and link cover all of them


def _engineers(scope: TenantScope) -> dict[int, Engineer]:
    """The tenant's crew by id: cards name assignees and runners-up from it."""
    return {e.id: e for e in scope.session.scalars(scope.select(Engineer))}


@router.get("/work-orders")
def board_page(
    request: Request, principal: PagePrincipal, session: SessionDep, scope: PageScope, state: StateDep
) -> HTMLResponse:
    now = state.clock.now()
    base = scope.orders()
    by_status = scope.orders(select(WorkOrder.status, func.count())).group_by(WorkOrder.status)
    counts: dict[str, int] = {status: n for status, n in session.execute(by_status)}
    columns: dict[str, list[WorkOrder]] = {}
    for status in COLUMNS:  # the most urgent (for closed: the latest) few; the list has all
        newest_first = status == "closed"
        query = base.where(WorkOrder.status == status)
        query = query.order_by(WorkOrder.closed_at.desc()) if newest_first else order_by_urgency(query)
        columns[status] = list(session.scalars(query.limit(CARDS_SHOWN)))
    orders = [o for column in columns.values() for o in column]
    devices = {
        d.id: d for d in session.scalars(select(Device).where(Device.id.in_({o.device_id for o in orders})))
    }
    engineers = _engineers(scope)
    return page(
        request,
        "board.html",
        principal,
        now,
        columns=columns,
        counts={c: counts.get(c, 0) for c in COLUMNS},
        cancelled=counts.get("cancelled", 0),
        overdue=session.scalar(scope.orders(select(func.count())).where(overdue_clause(now))) or 0,
        column_url={c: list_url(status=c) for c in COLUMNS},
        overdue_url=list_url(overdue="yes"),
        cancelled_url=list_url(status="cancelled"),
        devices=devices,
        engineers=engineers,
        due={o.id: countdown(deadline_of(o), now) for o in orders},
        actions={o.id: actions_for_role(o.status, o.rating is not None, principal.role) for o in orders},
        evidence={
            o.id: evidence_windows(o, windows=1, channels=1) if o.status != "closed" else [] for o in orders
        },
    )


@router.get("/work-orders/{order_id}")
def order_page(
    order_id: PathId,
    request: Request,
    principal: PagePrincipal,
    session: SessionDep,
    scope: PageScope,
    state: StateDep,
) -> HTMLResponse:
    now = state.clock.now()
    order, device = scope.order(order_id)
    events = session.scalars(
        select(WorkOrderEvent).where(WorkOrderEvent.work_order_id == order.id).order_by(WorkOrderEvent.seq)
    ).all()
    parts = session.scalars(select(WorkOrderPart).where(WorkOrderPart.work_order_id == order.id)).all()
    engineers = _engineers(scope)
    return page(
        request,
        "order.html",
        principal,
        now,
        o=order,
        device=device,
        history=history_lines(events, engineers),
        parts=parts,
        engineers=engineers,
        due=countdown(deadline_of(order), now),
        actions=actions_for_role(order.status, order.rating is not None, principal.role),
        fault=describe_fault(session, order, device),
        evidence=evidence_windows(order),
        rul=rul_phrase(order.rul),
        evidence_entries=len(order.evidence),
        similar=similar_cases(session, order),
    )
