"""The page templates and the small formatting helpers they share.

Times are shown in UTC, as the service stores them, in one short format; deadlines as a
countdown from the service's clock (which the demo runs accelerated), so what a page says
is always relative to the same "now" the SLA rules use.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ..api.scope import TenantScope
from ..catalog import family_of
from ..fault_catalog import FAULT_MODES, label_of
from ..services.auth import Principal
from ..services.sla import sla_outcome
from .versions import content_version

__all__ = ["countdown", "page", "templates", "when"]

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t is not None else "–"


def duration(seconds: float) -> str:
    """A compact duration: 2d 4h, 3h 20m, 12m."""
    seconds = abs(seconds)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def countdown(due: datetime | None, now: datetime) -> dict[str, Any]:
    """``{"text", "overdue", "seconds"}`` for a deadline, relative to the service clock."""
    if due is None:
        return {"text": "–", "overdue": False, "seconds": None}
    left = (due - now).total_seconds()
    text = f"in {duration(left)}" if left >= 0 else f"overdue by {duration(left)}"
    return {"text": text, "overdue": left < 0, "seconds": left}


def percent(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def finding_choices(model: str | None) -> list[tuple[str, str]]:
    """What an engineer may say they found on a device of ``model``: its family's fault modes
    (``cloud/fault_catalog.py``) and "no fault found"."""
    modes = FAULT_MODES.get(family_of(model) or "", ())
    return [(m.key, m.label) for m in modes] + [("no_fault_found", label_of(None, "no_fault_found"))]


templates.env.filters.update(when=when, percent=percent, duration=duration, sla_outcome=sla_outcome)


def fault_label(model: str | None, fault_name: str | None) -> str:
    return label_of(family_of(model), fault_name) if fault_name else "unnamed"


templates.env.globals.update(finding_choices=finding_choices, fault_label=fault_label)


def page(
    request: Request,
    name: str,
    principal: Principal | None,
    now: datetime,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    version = ""
    session = getattr(request.state, "session", None)  # the request's own (one transaction)
    if principal is not None and session is not None:  # what the page shows, for live updates
        version = content_version(TenantScope(session, principal), request.app.state.cloud.clock.now())
    return templates.TemplateResponse(
        request,
        name,
        {"me": principal, "now": now, "version": version, **context},
        status_code=status_code,
    )
