"""The model registry and staged rollouts to the edge.

Publishing stores an ONNX file after checking it is one, with what its ``prognos.*``
metadata says (kind, features, training metrics and data hash) and the sha256 every agent
will verify its download against.

A rollout sends a model to the devices of a group (``all``, ``model:<product model>`` or
``site:<id>``) through the agents that last reported them:

1. ``canary_percent`` of those agents (at least one, chosen by a stable hash so a retry
   picks the same ones) get the command first; the rollout is ``canary``.
2. When every canary agent reports ``active`` (the model passed its probation against
   the old one on the same samples) the rollout is promoted to ``rolling`` and the other
   agents get it. A canary that fails or rolls back halts the rollout instead.
3. It is ``complete`` when every agent has finished, one way or the other.

Commands are not sent from here: rows wait as ``pending`` (or ``revert``) and
:func:`take_pending` hands them to the cloud's downlink, which publishes them retained
(the agent's desired state) after this transaction has committed.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from firmware_bridge.contract import ModelCommand, ModelRef, ModelStatusMessage, model_command_topic

from ..db import Agent, AgentRollout, Device, ModelArtifact, Rollout, Tenant
from ..errors import Conflict, InvalidRequest, NotFound

__all__ = [
    "OutgoingCommand",
    "agent_models",
    "on_model_status",
    "plan_rollout",
    "promote",
    "publish_artifact",
    "request_revert",
    "take_pending",
]

TERMINAL = {"active", "failed", "rolled_back", "reverted", "superseded"}
TROUBLE = {"failed", "rolled_back"}


@dataclass(frozen=True, slots=True)
class OutgoingCommand:
    agent_rollout_id: int
    topic: str
    payload: bytes


def publish_artifact(
    session: Session,
    tenant_id: int,
    content: bytes,
    actor: str,
    now: datetime,
    name: str | None = None,
    version: str | None = None,
) -> tuple[ModelArtifact, bool]:
    """Store a model file; (artifact, created). The same bytes again are the same artifact."""
    meta = _onnx_metadata(content)
    name = name or meta.get("prognos.name") or "model"
    version = version or meta.get("prognos.version")
    if not version:
        raise InvalidRequest("the model has no prognos.version in its metadata; give ?version=")
    digest = hashlib.sha256(content).hexdigest()
    existing = session.scalar(
        select(ModelArtifact).where(
            ModelArtifact.tenant_id == tenant_id, ModelArtifact.name == name, ModelArtifact.version == version
        )
    )
    if existing is not None:
        if existing.sha256 != digest:
            raise Conflict(
                f"{name} {version} is already published with other content (sha256 {existing.sha256[:12]}…)"
            )
        return existing, False
    artifact = ModelArtifact(
        tenant_id=tenant_id,
        name=name,
        version=version,
        kind=meta.get("prognos.kind", "unknown"),
        sha256=digest,
        size=len(content),
        features=_json(meta.get("prognos.features"), []),
        metrics=_json(meta.get("prognos.metrics"), {}),
        train_sha256=meta.get("prognos.train_sha256", "")[:64],
        published_by=actor,
        published_at=now,
        content=content,
    )
    session.add(artifact)
    session.flush()
    return artifact, True


def _onnx_metadata(content: bytes) -> dict[str, str]:
    import onnx

    try:
        model = onnx.load_from_string(content)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, ...
        raise InvalidRequest(f"not a valid ONNX model: {str(exc).splitlines()[0][:300]}") from None
    return {p.key: p.value for p in model.metadata_props}


def _json(text: str | None, default: Any) -> Any:
    try:
        value = json.loads(text) if text else default
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default


def _group_devices(session: Session, tenant_id: int, group: str) -> dict[str, list[str]]:
    """agent key -> the group's device keys it last reported."""
    q = select(Device.key, Device.last_agent).where(
        Device.tenant_id == tenant_id, Device.last_agent.is_not(None)
    )
    if group.startswith("model:"):
        q = q.where(Device.model == group[6:])
    elif group.startswith("site:") and group[5:].isdigit():
        q = q.where(Device.site_id == int(group[5:]))
    elif group != "all":
        raise InvalidRequest(f"group {group!r} is not all, model:<product model> or site:<id>")
    out: dict[str, list[str]] = {}
    for device, agent in session.execute(q.order_by(Device.key)):
        out.setdefault(agent, []).append(device)
    return out


def plan_rollout(
    session: Session,
    tenant_id: int,
    artifact_id: int,
    *,
    group: str,
    canary_percent: int,
    mode: str,
    probation_samples: int,
    max_alert_factor: float,
    actor: str,
    now: datetime,
) -> Rollout:
    artifact = session.get(ModelArtifact, artifact_id)
    if artifact is None or artifact.tenant_id != tenant_id:
        raise NotFound(f"model {artifact_id} not found")
    by_agent = _group_devices(session, tenant_id, group)
    if not by_agent:
        raise InvalidRequest(f"no device in group {group!r} has reported through an agent yet")
    rollout = Rollout(
        tenant_id=tenant_id,
        artifact_id=artifact.id,
        group=group,
        mode=mode,
        canary_percent=canary_percent,
        probation_samples=probation_samples,
        max_alert_factor=max_alert_factor,
        state="canary" if 0 < canary_percent < 100 else "rolling",
        created_by=actor,
        created_at=now,
    )
    session.add(rollout)
    session.flush()
    keys = sorted(by_agent, key=lambda k: hashlib.sha256(f"{rollout.id}:{k}".encode()).hexdigest())
    n_canary = math.ceil(len(keys) * canary_percent / 100) if rollout.state == "canary" else 0
    touched: set[int] = set()  # older rollouts this one takes agents from
    for i, key in enumerate(keys):
        agent = _agent(session, tenant_id, key)
        for older in session.scalars(
            select(AgentRollout).where(AgentRollout.agent_id == agent.id, AgentRollout.state.not_in(TERMINAL))
        ):
            older.state, older.reason, older.updated_at = (
                "superseded",
                f"superseded by rollout {rollout.id}",
                now,
            )
            touched.add(older.rollout_id)
        session.add(
            AgentRollout(
                rollout_id=rollout.id,
                agent_id=agent.id,
                canary=i < n_canary,
                devices=by_agent[key],
                state="pending",
            )
        )
    session.flush()
    for older_id in touched:
        older_rollout = session.get(Rollout, older_id)
        if older_rollout is not None:
            _advance(session, older_rollout, now)
    return rollout


def _agent(session: Session, tenant_id: int, key: str) -> Agent:
    agent = session.scalar(select(Agent).where(Agent.tenant_id == tenant_id, Agent.key == key))
    if agent is None:  # seen in device messages, never on the status topic
        agent = Agent(tenant_id=tenant_id, key=key, state="unknown")
        session.add(agent)
        session.flush()
    return agent


def promote(session: Session, rollout: Rollout, now: datetime, reason: str) -> None:
    if rollout.state not in ("canary", "halted"):
        raise Conflict(
            f"rollout {rollout.id} is {rollout.state}; only a canary or halted rollout can be promoted"
        )
    rollout.state, rollout.promoted_at, rollout.reason = "rolling", now, reason


def request_revert(session: Session, rollout: Rollout, now: datetime, reason: str) -> None:
    """Every agent that was sent the model is told to go back to what it ran before."""
    if rollout.state == "reverted":
        return
    rollout.state, rollout.reason, rollout.finished_at = "reverted", reason, now
    for row in session.scalars(select(AgentRollout).where(AgentRollout.rollout_id == rollout.id)):
        if row.state == "pending":
            row.state, row.updated_at = "reverted", now  # never sent: nothing to undo
        elif row.state not in ("reverted", "superseded"):
            row.state, row.updated_at = "revert", now


def on_model_status(session: Session, tenant: Tenant, msg: ModelStatusMessage, now: datetime) -> str | None:
    """Record an agent's report and move its rollout on; why it was ignored, or None."""
    rollout = session.get(Rollout, msg.rollout_id)
    if rollout is None or rollout.tenant_id != tenant.id:
        return f"unknown rollout {msg.rollout_id}"
    agent = _agent(session, tenant.id, msg.agent_id)
    row = session.scalar(
        select(AgentRollout).where(AgentRollout.rollout_id == rollout.id, AgentRollout.agent_id == agent.id)
    )
    if row is None:
        return f"agent {msg.agent_id!r} is not part of rollout {rollout.id}"
    if row.state == "superseded":
        return None
    row.state, row.reason, row.updated_at = msg.state, msg.reason, now
    row.samples, row.alerts_new, row.alerts_old = msg.samples, msg.alerts_new, msg.alerts_old
    session.flush()
    _advance(session, rollout, now)
    return None


def _advance(session: Session, rollout: Rollout, now: datetime) -> None:
    rows = list(session.scalars(select(AgentRollout).where(AgentRollout.rollout_id == rollout.id)))
    if rollout.state == "canary":
        canaries = [r for r in rows if r.canary]
        bad = [r for r in canaries if r.state in TROUBLE]
        if bad:
            rollout.state = "halted"
            rollout.reason = f"canary {bad[0].state.replace('_', ' ')}: {bad[0].reason}"[:2000]
        elif canaries and all(r.state == "active" for r in canaries):
            promote(session, rollout, now, f"all {len(canaries)} canary agent(s) passed probation")
    if rollout.state == "rolling" and all(r.state in TERMINAL for r in rows):
        rollout.state, rollout.finished_at = "complete", now
        failed = sum(r.state in TROUBLE for r in rows)
        summary = f"{len(rows) - failed} of {len(rows)} agent(s) active"
        summary += f", {failed} failed or rolled back" if failed else ""
        rollout.reason = f"{rollout.reason}; {summary}" if rollout.reason else summary


def take_pending(session: Session, now: datetime, limit: int = 500) -> list[OutgoingCommand]:
    """Commands due to be published: canary rows at once, the others once promoted, reverts.

    Rows are marked ``sent`` here; if publishing then fails the caller rolls the
    transaction back, so they stay due."""
    q = (
        select(AgentRollout, Rollout, ModelArtifact, Agent, Tenant)
        .join(Rollout, AgentRollout.rollout_id == Rollout.id)
        .join(ModelArtifact, Rollout.artifact_id == ModelArtifact.id)
        .join(Agent, AgentRollout.agent_id == Agent.id)
        .join(Tenant, Rollout.tenant_id == Tenant.id)
        .where(
            or_(
                AgentRollout.state == "revert",
                and_(AgentRollout.state == "pending", or_(AgentRollout.canary, Rollout.state == "rolling")),
            )
        )
        .order_by(AgentRollout.id)
        .limit(limit)
    )
    out = []
    for row, rollout, artifact, agent, tenant in session.execute(q):
        command = ModelCommand(
            rollout_id=rollout.id,
            action="deploy" if row.state == "pending" else "revert",
            model=ModelRef(
                artifact_id=artifact.id,
                name=artifact.name,
                version=artifact.version,
                sha256=artifact.sha256,
                size=artifact.size,
                path=f"/api/v1/models/{artifact.id}/artifact",
            ),
            mode=rollout.mode,  # type: ignore[arg-type]
            devices=row.devices,
            probation_samples=rollout.probation_samples,
            max_alert_factor=rollout.max_alert_factor,
            issued_at=now.timestamp(),
        )
        row.state = "sent" if row.state == "pending" else "reverting"
        row.sent_at = row.updated_at = now
        out.append(
            OutgoingCommand(
                row.id, model_command_topic(tenant.slug, agent.key), command.model_dump_json().encode()
            )
        )
    session.flush()
    return out


def agent_models(session: Session, tenant_id: int) -> list[dict[str, Any]]:
    """Each agent with its connection state and, per rollout it took part in, the version and
    how it went there (oldest first: the last entry is what it runs or tries now)."""
    agents = session.scalars(select(Agent).where(Agent.tenant_id == tenant_id).order_by(Agent.key)).all()
    parts = session.execute(
        select(AgentRollout, ModelArtifact)
        .join(Rollout, AgentRollout.rollout_id == Rollout.id)
        .join(ModelArtifact, Rollout.artifact_id == ModelArtifact.id)
        .where(Rollout.tenant_id == tenant_id)
        .order_by(AgentRollout.id)
    )
    models: dict[int, list[dict[str, Any]]] = {}
    for row, artifact in parts:
        models.setdefault(row.agent_id, []).append(
            {
                "rollout_id": row.rollout_id,
                "name": artifact.name,
                "version": artifact.version,
                "state": row.state,
                "devices": len(row.devices),
            }
        )
    return [
        {"agent": a.key, "state": a.state, "last_seen_at": a.last_seen_at, "models": models.get(a.id, [])}
        for a in agents
    ]
