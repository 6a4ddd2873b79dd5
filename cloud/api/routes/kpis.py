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
    """Mean time to repair, SLA compliance, first-time fix, CSAT, alerts per device-day, orders
    overdue now, top faults per model by fault name (with the channel sets behind each) and
    the next 30 days' parts demand in whole units with the chance each is enough, over the
    last ``days`` days."""
    kpis = asdict(service_kpis(session, scope.tenant_id, state.clock.now(), days))
    for faults in kpis["top_faults"].values():
        for fault in faults:
            fault["channels"] = [{"fault_key": k, "alerts": n} for k, n in fault["channels"]]
    return kpis
