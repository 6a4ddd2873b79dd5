"""Every work order, paged and filterable: the list the board's columns link to.

It runs the API's own query (``services/order_search.py``) on the caller's scope, so the
page and ``GET /api/v1/work-orders`` with the same filters return the same orders in the
same order. The filters come from an HTML form, where "any" is an empty string, so they are
read leniently here: empty means "not filtered", a value that is not valid is named on the
page instead of failing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.datastructures import QueryParams

from ..api.deps import SessionDep, StateDep
from ..api.scope import TenantScope
from ..api.scope import page as page_of
from ..db import Device, Engineer, Site, WorkOrder
from ..services.order_search import ORDER_STATUSES, OrderFilter, filter_orders, order_by_urgency
from ..services.sla import deadline_of, sla_outcome
from .render import countdown, page
from .session import PagePrincipal, PageScope

__all__ = ["LIST_PATH", "PAGE_SIZE", "list_url", "router"]

router = APIRouter(prefix="/ui", include_in_schema=False)
LIST_PATH = "/ui/work-orders/list"
PAGE_SIZE = 50


def list_url(**filters: Any) -> str:
    """A link to the list with these filters (lists repeat their key: status=a&status=b)."""
    return LIST_PATH + ("?" + urlencode(filters, doseq=True) if filters else "")


def _read_filter(params: QueryParams) -> tuple[OrderFilter, int, list[str]]:
    """The form's filters and page number, and one message per value that is not valid."""
    problems: list[str] = []

    def number(name: str, low: int = 1, high: int = 2**31 - 1) -> int | None:
        raw = params.get(name, "").strip()
        if not raw:
            return None
        if raw.isdigit() and low <= int(raw) <= high:
            return int(raw)
        problems.append(f"{name}: {raw!r} is not a number from {low} to {high}; ignored")
        return None

    statuses = [s for s in params.getlist("status") if s]
    for s in statuses:
        if s not in ORDER_STATUSES:
            problems.append(f"status: {s!r} is not one of {', '.join(ORDER_STATUSES)}; ignored")
    priorities = [p for raw in params.getlist("priority") if raw and (p := _priority(raw, problems))]
    overdue = {"yes": True, "no": False}.get(params.get("overdue", ""))
    f = OrderFilter(
        status=[s for s in statuses if s in ORDER_STATUSES],
        priority=priorities,
        device_id=number("device_id"),
        site_id=number("site_id"),
        assignee_id=number("assignee_id"),
        overdue=overdue,
        text=params.get("q", "")[:200] or None,
    )
    return f, number("page", 1, 10**6) or 1, problems


def _priority(raw: str, problems: list[str]) -> int | None:
    if raw in ("1", "2", "3", "4"):
        return int(raw)
    problems.append(f"priority: {raw!r} is not 1 to 4; ignored")
    return None


@dataclass(frozen=True, slots=True)
class OrderRow:
    order: WorkOrder
    device: Device | None
    site: Site | None
    assignee: Engineer | None
    sla: dict[str, Any]  # countdown of the deadline that matters now
    outcome: str | None  # met / missed for finished orders


def _rows(scope: TenantScope, orders: list[WorkOrder], now: datetime) -> list[OrderRow]:
    session = scope.session
    devices = {
        d.id: d for d in session.scalars(select(Device).where(Device.id.in_({o.device_id for o in orders})))
    }
    sites = {s.id: s for s in session.scalars(scope.select(Site))}
    crew = {e.id: e for e in session.scalars(scope.select(Engineer))}
    out = []
    for o in orders:
        d = devices.get(o.device_id)
        out.append(
            OrderRow(
                o,
                d,
                sites.get(d.site_id) if d is not None and d.site_id else None,
                crew.get(o.assignee_id) if o.assignee_id else None,
                countdown(deadline_of(o), now),
                sla_outcome(o),
            )
        )
    return out


@router.get(LIST_PATH.removeprefix("/ui"))
def order_list_page(
    request: Request, principal: PagePrincipal, session: SessionDep, scope: PageScope, state: StateDep
) -> HTMLResponse:
    now = state.clock.now()
    wanted, number, problems = _read_filter(request.query_params)
    query = order_by_urgency(filter_orders(scope.orders(), wanted, now))
    orders, total = page_of(session, query, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "page" and v]
    return page(
        request,
        "orders.html",
        principal,
        now,
        rows=_rows(scope, orders, now),
        total=total,
        first=(number - 1) * PAGE_SIZE + 1 if orders else 0,
        last=(number - 1) * PAGE_SIZE + len(orders),
        number=number,
        pages=pages,
        prev_url=LIST_PATH + "?" + urlencode([*kept, ("page", number - 1)]) if number > 1 else None,
        next_url=LIST_PATH + "?" + urlencode([*kept, ("page", number + 1)]) if number < pages else None,
        f=wanted,
        statuses=ORDER_STATUSES,
        sites=list(session.scalars(scope.select(Site).order_by(Site.name))),
        engineers=list(session.scalars(scope.select(Engineer).order_by(Engineer.name)))
        if principal.role != "engineer"
        else [],
        problems=problems,
        # the same orders as JSON: the API call this page is (a link for people and scripts)
        api_url="/api/v1/work-orders?"
        + urlencode([*kept, ("limit", PAGE_SIZE), ("offset", (number - 1) * PAGE_SIZE)]),
    )
