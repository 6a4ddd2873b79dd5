"""The demo's summary: the simulator's ground truth against what reached the cloud.

A fault counts as caught before failure when the cloud holds an alert for its device
raised (in device time) between the fault's onset and its failure; the lead time is from
that first alert to the failure. Every other alert is a false alert. Work orders,
dispatches and reminders are counted from the cloud's database, as an engineer would see
them.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cloud.db import Alert, Device, Reminder, WorkOrder
from cloud.services.kpis import service_kpis
from cloud.state import CloudState
from models.scoring import fault_metrics
from simulators.truth import iso

__all__ = ["demo_summary", "print_summary"]


def demo_summary(
    state: CloudState, truth: list[dict[str, Any]], fleet_end: float, devices: int, days: float, now: datetime
) -> dict[str, Any]:
    faults = [r for r in truth if r["kind"] == "fault" and r["onset_ts"] < fleet_end]
    with state.sessions() as s:
        keys = dict(s.execute(select(Device.id, Device.key)).tuples().all())
        alerts = [(keys[a.device_id], a.raised_at.timestamp()) for a in s.scalars(select(Alert))]
        orders = list(s.scalars(select(WorkOrder)))
        reminders = list(s.scalars(select(Reminder)))
        tenant = s.scalar(select(Device.tenant_id).limit(1))
        kpis = service_kpis(s, tenant, now, days=days + 1) if tenant is not None else None
    windows = [(r["device"], r["onset_ts"], min(r["failure_ts"], fleet_end)) for r in faults]
    detection = fault_metrics(windows, alerts, devices * days)
    missed = set(detection["missed_devices"])  # type: ignore[arg-type]
    return {
        "devices": devices,
        "simulated_days": days,
        "faults_injected": len(faults),
        "faults_caught_before_failure": detection["caught_before_failure"],
        "median_lead_time_hours": detection["median_lead_hours"],
        "median_lead_share": detection["median_lead_share"],
        "false_alerts": detection["false_alerts"],
        "false_alerts_per_device_day": detection["false_alerts_per_device_day"],
        "alerts_in_cloud": len(alerts),
        "work_orders_created": len(orders),
        "work_orders_by_kind": dict(Counter(o.kind for o in orders)),
        "work_orders_dispatched": sum(1 for o in orders if o.assigned_at is not None),
        "reminders": len(reminders),
        "reminders_active": sum(1 for r in reminders if r.status == "active"),
        "work_orders_by_status": dict(Counter(o.status for o in orders)),
        "kpis": None
        if kpis is None
        else {
            "mttr_hours": _round(kpis.mttr_hours, 1),
            "sla_response": _round(kpis.sla_response, 3),
            "sla_resolution": _round(kpis.sla_resolution, 3),
            "first_time_fix": _round(kpis.first_time_fix, 3),
            "csat": _round(kpis.csat, 2),
            "ratings": kpis.ratings,
        },
        "faults": [
            {
                "device": r["device"],
                "fault": r["fault"],
                "onset": r["onset"],
                "failure": r["failure"],
                "caught": r["device"] not in missed,
            }
            for r in faults
        ],
        "missed_devices": detection["missed_devices"],
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def print_summary(s: dict[str, Any], extra: dict[str, Any]) -> None:
    print("\nsummary")
    print(
        f"  {s['devices']} devices, {s['simulated_days']:g} simulated days in {extra['wall_seconds']} s; "
        f"{extra['messages_sent']:,} device messages sent"
    )
    lead = s["median_lead_time_hours"]
    print(
        f"  faults injected {s['faults_injected']}, caught before failure {s['faults_caught_before_failure']}"
        + (
            f", median lead time {lead:g} h ({s['median_lead_share']:.0%} of onset-to-failure)"
            if lead
            else ""
        )
    )
    print(f"  false alerts {s['false_alerts']} ({s['false_alerts_per_device_day']:g} per device-day)")
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(s["work_orders_by_kind"].items())) or "none"
    print(
        f"  work orders created {s['work_orders_created']} ({kinds}), "
        f"dispatched {s['work_orders_dispatched']}; reminders {s['reminders']}"
    )
    statuses = ", ".join(f"{n} {k}" for k, n in sorted(s["work_orders_by_status"].items())) or "none"
    print(f"  work orders now: {statuses}")
    k = s["kpis"]
    if k and k["mttr_hours"] is not None:

        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.0%}"

        print(
            f"  service: MTTR {k['mttr_hours']:g} h, SLA response {pct(k['sla_response'])}, "
            f"resolution {pct(k['sla_resolution'])}, first-time fix {pct(k['first_time_fix'])}, "
            f"CSAT {k['csat'] if k['csat'] is not None else 'n/a'} ({k['ratings']} ratings)"
        )
    for f in s["faults"]:
        mark = "caught" if f["caught"] else "missed"
        print(f"    {f['device']:<12} {f['fault']:<24} onset {f['onset']}  failure {f['failure']}  {mark}")
    if extra.get("at") is not None:
        print(f"  simulation reached {iso(extra['at'])}")
