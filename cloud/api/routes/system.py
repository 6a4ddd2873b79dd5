"""Liveness, readiness, metrics, the caller's identity, tokens and the scheduler."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import RedirectResponse
from sqlalchemy import text

from ...db.migrate import current_revision, head_revision
from ...schemas.ops import SchedulerRun, TokenCreate, TokenIssued
from ...services.auth import issue_token
from ...services.scheduler import run_due
from ..deps import Admin, CurrentPrincipal, ScopeDep, SessionDep, StateDep

router = APIRouter()


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    """People who open the service's address want the pages."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/healthz", tags=["system"])
def get_liveness() -> dict[str, str]:
    """The process answers. Says nothing about the database (that is /readyz)."""
    return {"status": "ok"}


@router.get("/readyz", tags=["system"], responses={503: {"description": "not ready"}})
def get_readiness(state: StateDep, request: Request, response: Response) -> dict[str, object]:
    """Ready when the database answers, its schema is at the migrations' head, and (when the
    service ingests from MQTT) the broker has accepted the ingest worker's subscription, and
    (when it ingests from the clustered tier) the stream answers."""
    checks: dict[str, object] = {}
    workers = getattr(request.app.state, "workers", None)
    ingest = workers.ingest if workers is not None else None
    if ingest is not None:
        link = ingest.link
        if link.connected.is_set() and ingest.subscribed.is_set():
            checks["broker"] = "ok"
        else:
            checks["broker"] = f"unreachable: {state.settings.mqtt_url} ({link.last_error or 'connecting'})"
    stream = workers.stream if workers is not None else None
    if stream is not None:
        ok = stream.ready.is_set() and stream.problem is None
        checks["stream"] = "ok" if ok else f"unavailable: {state.settings.stream_url} ({stream.problem})"
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current, head = current_revision(state.engine), head_revision()
        checks["schema"] = (
            "ok" if current == head else f"at {current}, head is {head}: run `prognos cloud migrate`"
        )
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        checks["database"] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "ready" if ready else "not ready", "checks": checks}


@router.get("/metrics", tags=["system"], response_class=Response)
def get_metrics(state: StateDep) -> Response:
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/api/v1/me", tags=["auth"])
def read_me(principal: CurrentPrincipal) -> dict[str, object]:
    return {
        "tenant": principal.tenant,
        "role": principal.role,
        "name": principal.name,
        "engineer_id": principal.engineer_id,
        "device_id": principal.device_id,
    }


@router.post("/api/v1/tokens", tags=["auth"], status_code=201)
def create_token(
    body: TokenCreate, principal: Admin, session: SessionDep, scope: ScopeDep, state: StateDep
) -> TokenIssued:
    row, plain = issue_token(
        session,
        scope.tenant_id,
        body.role,
        body.name,
        state.clock.now(),
        state.settings.secret_key,
        body.engineer_id,
        body.device_id,
    )
    return TokenIssued(id=row.id, name=row.name, role=row.role, token=plain)


@router.post("/api/v1/scheduler/run", tags=["system"])
def run_scheduler(principal: Admin, session: SessionDep, scope: ScopeDep, state: StateDep) -> SchedulerRun:
    """Run the time-driven rules for this tenant now (the service also runs them on a timer)."""
    report = run_due(session, state.clock.now(), scope.tenant_id)
    state.metrics.observe_scheduler(report)
    return SchedulerRun.model_validate(report)
