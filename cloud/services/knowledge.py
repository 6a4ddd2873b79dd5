"""Similar resolved cases for a work order: what fixed this kind of fault on this model before.

Candidates are resolved or closed orders of the same tenant, product model and fault
category. They are ranked by how alike the evidence is:

    similarity = 0.6 * Jaccard(channels in the fault key) + 0.2 * same severity
                 + 0.2 * (1 - |peak score difference|)

and, among equals, first-time fixes and recent cases first. Each case comes with its fix
and the parts it used, which is what the engineer wants to know before leaving.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Device, WorkOrder, WorkOrderPart

__all__ = ["similar_cases"]


def _channels(fault_key: str) -> set[str]:
    return set(fault_key.split("+"))


def _peak(order: WorkOrder) -> float:
    peaks = [e.get("peak") for e in order.evidence if isinstance(e.get("peak"), int | float)]
    return max(peaks, default=0.0)


def similar_cases(session: Session, order: WorkOrder, limit: int = 5) -> list[dict[str, Any]]:
    device = session.get(Device, order.device_id)
    model = device.model if device is not None else None
    rows = session.scalars(
        select(WorkOrder)
        .join(Device, Device.id == WorkOrder.device_id)
        .where(
            WorkOrder.tenant_id == order.tenant_id,
            WorkOrder.id != order.id,
            WorkOrder.category == order.category,
            WorkOrder.status.in_(("resolved", "closed")),
            WorkOrder.fix.is_not(None),
            Device.model == model if model is not None else Device.model.is_(None),
        )
        .order_by(WorkOrder.resolved_at.desc())
        .limit(500)
    ).all()
    mine, my_peak = _channels(order.fault_key), _peak(order)
    scored = []
    for case in rows:
        theirs = _channels(case.fault_key)
        jaccard = len(mine & theirs) / len(mine | theirs) if mine | theirs else 0.0
        sim = (
            0.6 * jaccard + 0.2 * (case.severity == order.severity) + 0.2 * (1.0 - abs(_peak(case) - my_peak))
        )
        scored.append((round(sim, 4), case.reopened == 0, case.resolved_at, case))
    scored.sort(key=lambda t: (t[0], t[1], t[2]), reverse=True)
    best = scored[:limit]
    parts: dict[int, list[dict[str, Any]]] = {}
    if best:
        for p in session.scalars(
            select(WorkOrderPart).where(WorkOrderPart.work_order_id.in_([t[3].id for t in best]))
        ):
            parts.setdefault(p.work_order_id, []).append(
                {"part_number": p.part_number, "name": p.name, "quantity": p.quantity}
            )
    return [
        {
            "work_order_id": case.id,
            "similarity": sim,
            "fault_key": case.fault_key,
            "finding": case.finding,
            "severity": case.severity,
            "fix": case.fix,
            "parts": parts.get(case.id, []),
            "first_time_fix": first_time,
            "resolved_at": resolved_at.isoformat() if resolved_at else None,
        }
        for sim, first_time, resolved_at, case in best
    ]
