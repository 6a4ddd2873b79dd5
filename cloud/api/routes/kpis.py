"""Service KPIs as JSON: the same figures the KPI page shows (``services/kpis.py``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ...services.kpis import service_kpis
from ..deps import ScopeDep, SessionDep, Staff, StateDep

router = APIRouter(prefix="/api/v1", tags=["kpis"])


@router.get("/kpis")
def read_kpis(
    principal: Staff,
    session: SessionDep,
    scope: ScopeDep,
    state: StateDep,
    days: Annotated[int, Query(ge=1, le=3650)] = 90,
) -> dict[str, Any]:
    """Mean time to repair, SLA compliance, first-time fix, CSAT, alerts per device-day, top
    faults per model and the next 30 days' parts demand, over the last ``days`` days."""
    kpis = asdict(service_kpis(session, scope.tenant_id, state.clock.now(), days))
    kpis["top_faults"] = {
        m: [{"fault_key": f, "alerts": n} for f, n in v] for m, v in kpis["top_faults"].items()
    }
    return kpis
