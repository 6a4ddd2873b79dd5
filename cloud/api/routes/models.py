"""The model registry, rollouts to device groups, and which agent runs which version."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...db import Agent, AgentRollout, ModelArtifact, Rollout
from ...schemas.common import Page
from ...schemas.rollout import AgentModelPublic, AgentRolloutPublic, ModelPublic, RolloutCreate, RolloutPublic
from ...services import rollouts
from ...services.auth import Principal
from ..deps import Admin, Reader, StateDep, require_role
from ..params import Limit, Offset, PathId
from ..scope import TenantScope, page

router = APIRouter(tags=["models"])

AgentOrAdmin = Annotated[Principal, Depends(require_role("admin", "agent"))]
Name = Annotated[str | None, Query(min_length=1, max_length=200)]


def _artifact(session: Session, principal: Principal, model_id: int) -> ModelArtifact:
    return TenantScope(session, principal).get(ModelArtifact, model_id, "model")


def _rollout(session: Session, principal: Principal, rollout_id: int) -> Rollout:
    return TenantScope(session, principal).get(Rollout, rollout_id, "rollout")


def _rollout_public(session: Session, rollout: Rollout) -> RolloutPublic:
    parts = session.execute(
        select(AgentRollout, Agent.key)
        .join(Agent, AgentRollout.agent_id == Agent.id)
        .where(AgentRollout.rollout_id == rollout.id)
        .order_by(Agent.key)
    )
    agents = [AgentRolloutPublic.model_validate({**_columns(row), "agent": key}) for row, key in parts]
    model = ModelPublic.model_validate(session.get(ModelArtifact, rollout.artifact_id))
    return RolloutPublic.model_validate({**_columns(rollout), "model": model, "agents": agents})


def _columns(row: object) -> dict[str, object]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}  # type: ignore[attr-defined]


@router.post("/api/v1/models", status_code=201)
async def publish_model(
    request: Request,
    response: Response,
    principal: Admin,
    state: StateDep,
    name: Name = None,
    version: Name = None,
) -> ModelPublic:
    """Publish an ONNX file (the request body). Name and version default to its metadata;
    the same bytes published again answer 200 with the existing entry."""
    content = await request.body()
    with state.sessions.begin() as session:
        row, created = rollouts.publish_artifact(
            session, principal.tenant_id, content, principal.actor, state.clock.now(), name, version
        )
        if not created:
            response.status_code = 200
        return ModelPublic.model_validate(row)


@router.get("/api/v1/models")
def list_models(
    principal: Reader, state: StateDep, limit: Limit = 100, offset: Offset = 0, name: Name = None
) -> Page[ModelPublic]:
    with state.sessions() as session:
        q = TenantScope(session, principal).select(ModelArtifact)
        if name is not None:
            q = q.where(ModelArtifact.name == name)
        rows, total = page(session, q.order_by(ModelArtifact.id.desc()), limit, offset)
        return Page[ModelPublic](items=rows, total=total, limit=limit, offset=offset)


@router.get("/api/v1/models/{model_id}")
def get_model(model_id: PathId, principal: Reader, state: StateDep) -> ModelPublic:
    with state.sessions() as session:
        return ModelPublic.model_validate(_artifact(session, principal, model_id))


@router.get("/api/v1/models/{model_id}/artifact", response_class=Response)
def download_model(model_id: PathId, principal: AgentOrAdmin, state: StateDep) -> Response:
    """The file itself, for agents; its sha256 also travels in the ``ETag``."""
    with state.sessions() as session:
        row = _artifact(session, principal, model_id)
        headers = {
            "ETag": f'"{row.sha256}"',
            "Content-Disposition": f'attachment; filename="{row.name}-{row.version}.onnx"',
        }
        return Response(row.content, media_type="application/octet-stream", headers=headers)


@router.post("/api/v1/models/{model_id}/rollouts", status_code=201)
def create_rollout(model_id: PathId, body: RolloutCreate, principal: Admin, state: StateDep) -> RolloutPublic:
    """Send a model to a device group: the canary share of their agents now, the rest once
    the canaries pass probation (or at once with canary_percent 0 or 100)."""
    with state.sessions.begin() as session:
        rollout = rollouts.plan_rollout(
            session,
            principal.tenant_id,
            model_id,
            actor=principal.actor,
            now=state.clock.now(),
            **body.model_dump(),
        )
        out = _rollout_public(session, rollout)
    _poke(state)
    return out


@router.get("/api/v1/rollouts")
def list_rollouts(
    principal: Reader, state: StateDep, limit: Limit = 100, offset: Offset = 0
) -> Page[RolloutPublic]:
    with state.sessions() as session:
        q = TenantScope(session, principal).select(Rollout).order_by(Rollout.id.desc())
        rows, total = page(session, q, limit, offset)
        return Page[RolloutPublic](
            items=[_rollout_public(session, r) for r in rows], total=total, limit=limit, offset=offset
        )


@router.get("/api/v1/rollouts/{rollout_id}")
def get_rollout(rollout_id: PathId, principal: Reader, state: StateDep) -> RolloutPublic:
    with state.sessions() as session:
        return _rollout_public(session, _rollout(session, principal, rollout_id))


@router.post("/api/v1/rollouts/{rollout_id}/promote")
def promote_rollout(rollout_id: PathId, principal: Admin, state: StateDep) -> RolloutPublic:
    """Send a canary (or halted) rollout to every agent now, without waiting for the canaries."""
    return _change(state, principal, rollout_id, rollouts.promote, f"promoted by {principal.actor}")


@router.post("/api/v1/rollouts/{rollout_id}/revert")
def revert_rollout(rollout_id: PathId, principal: Admin, state: StateDep) -> RolloutPublic:
    """Every agent that got the model goes back to what it ran before."""
    return _change(state, principal, rollout_id, rollouts.request_revert, f"reverted by {principal.actor}")


def _change(
    state: StateDep,
    principal: Principal,
    rollout_id: int,
    action: Callable[[Session, Rollout, datetime, str], None],
    reason: str,
) -> RolloutPublic:
    """Apply ``action`` in its own transaction, then let the downlink send what became due."""
    with state.sessions.begin() as session:
        rollout = _rollout(session, principal, rollout_id)
        action(session, rollout, state.clock.now(), reason)
        out = _rollout_public(session, rollout)
    _poke(state)
    return out


@router.get("/api/v1/agents")
def list_agents(principal: Reader, state: StateDep) -> list[AgentModelPublic]:
    """Every edge agent with the model version each rollout left it running (or trying)."""
    with state.sessions() as session:
        return [AgentModelPublic(**row) for row in rollouts.agent_models(session, principal.tenant_id)]


def _poke(state: StateDep) -> None:
    if state.downlink is not None:
        state.downlink.poke()
