"""HTTP ingest for devices that cannot speak MQTT, and the dead-letter queue."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from firmware_bridge.contract import edge_topic

from ...db import DeadLetter, Device
from ...errors import Forbidden, InvalidRequest
from ...schemas.common import Page
from ...schemas.ops import DeadLetterPublic
from ..deps import AdminOrPlatform, DeviceCaller, SessionDep, StateDep
from ..params import Limit, Offset
from ..scope import page

router = APIRouter(prefix="/api/v1", tags=["ingest"])


@router.post(
    "/ingest",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
async def ingest_message(request: Request, principal: DeviceCaller, state: StateDep) -> dict[str, object]:
    """One contract message (the body MQTT would carry). A device token may publish only as
    its own device; anything invalid is dead-lettered and answered 422 with the reason."""
    payload = await request.body()
    with state.sessions() as session:
        device = session.get(Device, principal.device_id)
        own_key = device.key if device is not None else None
    try:
        doc = json.loads(payload)
    except ValueError:
        doc = None
    claimed = doc.get("device_id") if isinstance(doc, dict) else None
    if claimed is not None and claimed != own_key:
        raise Forbidden(f"this token publishes as device {own_key!r}, not {claimed!r}")
    kind = doc.get("kind") if isinstance(doc, dict) and isinstance(doc.get("kind"), str) else "unknown"
    agent = doc.get("agent_id") if isinstance(doc, dict) and isinstance(doc.get("agent_id"), str) else "http"
    topic = edge_topic(principal.tenant, agent or "http", kind or "unknown")
    result = await run_in_threadpool(lambda: state.ingestor.handle(topic, payload, from_device=True))
    state.metrics.observe_ingest(result)
    if result.outcome == "dead_letter":
        raise InvalidRequest(result.reason or "invalid message")
    return {"outcome": result.outcome, "work_orders_created": result.created_orders}


@router.get("/dead-letters")
def list_dead_letters(
    principal: AdminOrPlatform, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> Page[DeadLetterPublic]:
    """Dead letters are not tenant-tagged (the tenant may be what was wrong), so admins of a
    tenant see those whose topic names their tenant, and the platform role sees them all
    (an unknown tenant's, a topic that is no topic)."""
    q = select(DeadLetter).order_by(DeadLetter.id.desc())
    if principal.role != "platform":
        q = q.where(DeadLetter.topic.startswith(f"prognos/v1/{principal.tenant}/", autoescape=True))
    rows, total = page(session, q, limit, offset)
    items = [
        DeadLetterPublic(
            id=r.id,
            received_at=r.received_at,
            topic=r.topic,
            reason=r.reason,
            payload=r.payload.decode("utf-8", "replace"),
        )
        for r in rows
    ]
    return Page[DeadLetterPublic](items=items, total=total, limit=limit, offset=offset)
