"""Fleet health, device detail, the engineer's route, KPIs, models and rollouts, and the change
feed for live updates.

Every page reads through the same scoping as the API (``cloud/api/scope.py``): an engineer
sees only devices they have work on, and another tenant's rows are "not found".
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from ..api.deps import SessionDep, StateDep
from ..api.params import PathId
from ..db import (
    Alert,
    Consumable,
    Engineer,
    ModelArtifact,
    Rollout,
    Site,
    WorkOrder,
)
from ..errors import Forbidden
from ..services import rollouts
from ..services.knowledge import similar_cases
from ..services.kpis import service_kpis
from ..services.lifecycle import actions_for_role
from ..services.route import plan_route
from ..services.sla import deadline_of
from ..telemetry_history import HistoryUnavailable
from .charts import Marker, Series, time_chart
from .fleet_view import SORTS, fleet_choices, fleet_rows
from .render import countdown, page
from .session import PagePrincipal, PageScope
from .versions import content_version

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)
TREND_WINDOWS = 400  # summaries on the device page's trend charts


@router.get("/fleet")
def fleet_page(
    request: Request,
    principal: PagePrincipal,
    scope: PageScope,
    state: StateDep,
    site: str | None = None,
    model: str | None = None,
    sort: str = "health",
) -> HTMLResponse:
    now = state.clock.now()
    rows = fleet_rows(scope, now, state.offline_after, site=site, model=model, sort=sort)
    sites, models = fleet_choices(scope)
    return page(
        request,
        "fleet.html",
        principal,
        now,
        rows=rows,
        sites=sites,
        models=models,
        site=site or "",
        model=model or "",
        sort=sort if sort in SORTS else "health",
        sorts=list(SORTS),
        counts={
            s: sum(1 for r in rows if r.status == s) for s in ("critical", "major", "warning", "offline")
        },
    )


@router.get("/devices/{device_id}")
def device_page(
    device_id: PathId,
    request: Request,
    principal: PagePrincipal,
    session: SessionDep,
    scope: PageScope,
    state: StateDep,
) -> HTMLResponse:
    now = state.clock.now()
    device = scope.device(device_id)
    site = session.get(Site, device.site_id) if device.site_id else None
    try:
        summaries = state.history.recent(session, device, TREND_WINDOWS)
        history_problem = None
    except HistoryUnavailable as exc:  # the page still shows the rest, and says why no trend
        summaries, history_problem = [], str(exc)
    alerts = list(
        session.scalars(select(Alert).where(Alert.device_id == device.id).order_by(Alert.raised_at))
    )
    start = summaries[0].window_start if summaries else None
    markers = [
        Marker(
            a.raised_at,
            f"alert {a.fault_key} ({a.severity}) at {a.raised_at:%Y-%m-%d %H:%M}",
            data={"alert": a.key},
        )
        for a in alerts
        if start is None or a.raised_at >= start
    ]
    channels = sorted({c for s in summaries for c in s.channels})
    charts = [
        (
            channel,
            time_chart(
                [
                    Series(
                        channel,
                        [
                            (s.window_end, s.channels[channel]["mean"])
                            for s in summaries
                            if channel in s.channels
                        ],
                        band=[
                            (s.window_end, s.channels[channel]["min"], s.channels[channel]["max"])
                            for s in summaries
                            if channel in s.channels
                        ],
                    )
                ],
                markers=markers,
                title=f"{channel} (mean, min-max band)",
            ),
        )
        for channel in channels
    ]
    score_chart = time_chart(
        [
            Series("anomaly score", [(s.window_end, s.max_score) for s in summaries], color="#dc2626"),
            Series(
                "health",
                [(s.window_end, s.health) for s in summaries if s.health is not None],
                color="#16a34a",
            ),
        ],
        markers=markers,
        title="anomaly score (window maximum) and health (1 = like when new)",
        y_range=(0.0, 1.0),
    )
    called = [s for s in summaries if s.rul_cycles]
    rul_chart = (
        time_chart(
            [
                Series(
                    "remaining useful life",
                    [(s.window_end, s.rul_cycles[1]) for s in called if s.rul_cycles],
                    band=[(s.window_end, s.rul_cycles[0], s.rul_cycles[2]) for s in called if s.rul_cycles],
                    color="#7c3aed",
                )
            ],
            markers=markers,
            title="remaining useful life in cycles, with its 90 % interval",
            unit="cycles",
        )
        if called
        else None
    )
    orders = list(
        session.scalars(
            select(WorkOrder).where(WorkOrder.device_id == device.id).order_by(WorkOrder.created_at.desc())
        )
    )
    if principal.role == "engineer":
        orders = [o for o in orders if o.assignee_id == principal.engineer_id]
    live = next((o for o in orders if o.status not in ("closed", "cancelled")), orders[0] if orders else None)
    consumables = list(
        session.scalars(select(Consumable).where(Consumable.device_id == device.id).order_by(Consumable.name))
    )
    return page(
        request,
        "device.html",
        principal,
        now,
        device=device,
        site=site,
        charts=charts,
        score_chart=score_chart,
        rul_chart=rul_chart,
        alerts=alerts[::-1][:20],
        orders=orders,
        consumables=consumables,
        similar=similar_cases(session, live) if live is not None else [],
        similar_for=live,
        failure=countdown(device.predicted_failure_at, now) if device.predicted_failure_at else None,
        history_problem=history_problem,
    )


@router.get("/me")
def my_route_page(
    request: Request, principal: PagePrincipal, session: SessionDep, state: StateDep
) -> HTMLResponse:
    if principal.role != "engineer" or principal.engineer_id is None:
        raise Forbidden("'my work orders' is the engineers' page")
    engineer = session.get(Engineer, principal.engineer_id)
    assert engineer is not None
    now = state.clock.now()
    stops = plan_route(session, engineer)
    return page(
        request,
        "me.html",
        principal,
        now,
        engineer=engineer,
        stops=stops,
        total_km=sum(s.leg_km or 0.0 for s in stops),
        due={s.order.id: countdown(deadline_of(s.order), now) for s in stops},
        actions={s.order.id: actions_for_role(s.order.status, False, principal.role) for s in stops},
    )


@router.get("/kpis")
def kpis_page(
    request: Request,
    principal: PagePrincipal,
    session: SessionDep,
    scope: PageScope,
    state: StateDep,
    days: int = 90,
) -> HTMLResponse:
    if principal.role not in ("admin", "dispatcher"):
        raise Forbidden("the KPIs are for the service desk")
    now = state.clock.now()
    days = min(max(days, 1), 3650)
    k = service_kpis(session, scope.tenant_id, now, days)
    return page(
        request,
        "kpis.html",
        principal,
        now,
        k=k,
        days=days,
        # one scale for every bar of the chart, whatever model group it is in
        top_scale=max((f.alerts for faults in k.top_faults.values() for f in faults), default=1),
    )


@router.get("/models")
def models_page(
    request: Request, principal: PagePrincipal, session: SessionDep, scope: PageScope, state: StateDep
) -> HTMLResponse:
    """The registry, the rollouts and which agent runs which version."""
    if principal.role not in ("admin", "dispatcher"):
        raise Forbidden("models and rollouts are for the service desk")
    artifacts = session.scalars(scope.select(ModelArtifact).order_by(ModelArtifact.id.desc()).limit(50)).all()
    by_id = {a.id: a for a in artifacts}
    runs = session.scalars(scope.select(Rollout).order_by(Rollout.id.desc()).limit(50)).all()
    return page(
        request,
        "models.html",
        principal,
        state.clock.now(),
        artifacts=artifacts,
        rollouts=[(r, by_id.get(r.artifact_id) or session.get(ModelArtifact, r.artifact_id)) for r in runs],
        agents=rollouts.agent_models(session, scope.tenant_id),
    )


@router.get("/changes")
def changes(scope: PageScope, state: StateDep) -> dict[str, str]:
    """What the pages poll to know when to reload their content (see cloud/web/versions.py)."""
    return {"version": content_version(scope, state.clock.now())}
