"""A name for the fault behind an alert, in the words a service desk and R&D use, and where
the name comes from, in order of trust:

1. **fault code**: the firmware tripped with a code its product family declares
   (``fault_catalog.FaultMode.code``);
2. **resolved cases**: engineers resolved earlier orders on the same product model with the
   same channel signature and wrote what they found (``WorkOrder.finding``); the most common
   finding names the new alert, with its share of those cases and the parts they usually
   took. A finding of ``no_fault_found`` names it too: the desk sees "no fault found (3 of 3
   earlier cases)" before sending someone out again;
3. **signature**: the best match between the alert's channels and the family's declared
   fault signatures, a weighted Jaccard similarity (the alert weighs each of its channels
   1, the signature its own weights: ``sum(min) / sum(max)`` over their channels), when at least
   ``MIN_MATCH``; channels that measure conditions (weather, feed water) are left out;
4. otherwise **none**: "unusual operating conditions" if only condition channels moved,
   else "unrecognised anomaly", the channels still one click away.

When an engineer resolves an order with a finding, the finding becomes the name of its
alerts (source "engineer"), which is what the next alert with that signature learns from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..catalog import family_of
from ..db import Alert, Device, WorkOrder, WorkOrderPart
from ..fault_catalog import CONDITION_CHANNELS, FAULT_MODES, fault_mode, label_of

__all__ = [
    "MIN_MATCH",
    "FaultName",
    "learn_finding",
    "name_alert",
    "name_by_code",
    "name_by_signature",
    "resolved_cases",
    "signature_of",
    "usual_parts",
]

MIN_MATCH = 0.3  # weighted Jaccard below this is not a recognisable signature
CASES_LOOKED_AT = 200  # the latest resolved cases on one model that name an alert


@dataclass(frozen=True, slots=True)
class FaultName:
    key: str  # a fault mode key, an engineer's finding, "unrecognised" or "operating_conditions"
    label: str
    source: str  # "fault code" | "resolved cases" | "signature" | "engineer" | "none"
    category: str | None  # the trade, when the name implies one
    confidence: float  # the signature match, or the share of resolved cases that agree
    cases: int = 0  # resolved cases behind a learned name
    parts: list[dict[str, Any]] = field(default_factory=list)  # what those cases usually took

    @property
    def explanation(self) -> str:
        if self.source == "resolved cases":
            agree = round(self.confidence * self.cases)
            return f"found on site in {agree} of {self.cases} earlier cases with these channels"
        if self.source == "signature":
            return f"channel signature, {self.confidence:.0%} match"
        if self.source == "fault code":
            return "the device's own trip code"
        if self.source == "engineer":
            return "found on site by the engineer"
        return "no known fault has these channels"


def signature_of(fault_key: str) -> str:
    """The channel set of a fault key in one canonical spelling (sorted, no repeats)."""
    return "+".join(sorted({c for c in fault_key.split("+") if c}))


def name_by_signature(model: str | None, fault_key: str) -> FaultName:
    family = family_of(model)
    conditions = CONDITION_CHANNELS.get(family or "", frozenset())
    channels = set(signature_of(fault_key).split("+")) - conditions - {""}
    if not channels:
        return FaultName("operating_conditions", label_of(family, "operating_conditions"), "none", None, 0.0)
    best, best_score = None, 0.0
    for mode in FAULT_MODES.get(family or "", ()):
        # the alert weighs each of its channels 1; the signature its own weights
        union = channels | set(mode.signature)
        shared = sum(min(1.0, mode.signature.get(c, 0.0)) for c in channels)
        score = shared / sum(max(1.0 if c in channels else 0.0, mode.signature.get(c, 0.0)) for c in union)
        if score > best_score:
            best, best_score = mode, score
    if best is None or best_score < MIN_MATCH:
        return FaultName("unrecognised", label_of(family, "unrecognised"), "none", None, best_score)
    return FaultName(best.key, best.label, "signature", best.category, round(best_score, 3))


def name_by_code(model: str | None, code: int) -> FaultName | None:
    family = family_of(model)
    mode = next((m for m in FAULT_MODES.get(family or "", ()) if m.code == code), None)
    if mode is None:
        return None
    return FaultName(mode.key, mode.label, "fault code", mode.category, 1.0)


def resolved_cases(
    session: Session, tenant_id: int, model: str | None, exclude: int | None = None
) -> list[WorkOrder]:
    """The latest resolved or closed orders on ``model`` whose engineer wrote a finding."""
    return list(
        session.scalars(
            select(WorkOrder)
            .join(Device, Device.id == WorkOrder.device_id)
            .where(
                WorkOrder.tenant_id == tenant_id,
                WorkOrder.id != (exclude or 0),
                WorkOrder.finding.is_not(None),
                WorkOrder.status.in_(("resolved", "closed")),
                Device.model == model if model is not None else Device.model.is_(None),
            )
            .order_by(WorkOrder.resolved_at.desc(), WorkOrder.id.desc())
            .limit(CASES_LOOKED_AT)
        )
    )


def usual_parts(session: Session, order_ids: list[int], limit: int = 5) -> list[dict[str, Any]]:
    """The parts these orders used, most often used first, with how many of them used each."""
    if not order_ids:
        return []
    used: Counter[tuple[str, str]] = Counter()
    for part in session.scalars(select(WorkOrderPart).where(WorkOrderPart.work_order_id.in_(order_ids))):
        used[(part.part_number, part.name)] += 1
    return [
        {"part_number": number, "name": name, "orders": n, "of": len(order_ids)}
        for (number, name), n in used.most_common(limit)
    ]


def name_alert(
    session: Session,
    tenant_id: int,
    model: str | None,
    fault_key: str,
    exclude: int | None = None,
    resolved: list[WorkOrder] | None = None,
) -> FaultName:
    """The best name for a new alert on ``model`` with these channels (see the module doc);
    ``exclude``: an order whose own finding must not count (the one being shown);
    ``resolved``: the model's :func:`resolved_cases`, when the caller already has them."""
    family = family_of(model)
    mine = signature_of(fault_key)
    if resolved is None:
        resolved = resolved_cases(session, tenant_id, model, exclude)
    cases = [o for o in resolved if o.id != exclude and signature_of(o.fault_key) == mine]
    if cases:
        findings = Counter(o.finding for o in cases if o.finding)  # latest first: wins a tie
        key, agree = findings.most_common(1)[0]
        mode = fault_mode(family, key)
        return FaultName(
            key,
            label_of(family, key),
            "resolved cases",
            mode.category if mode is not None else None,
            round(agree / len(cases), 3),
            len(cases),
            usual_parts(session, [o.id for o in cases if o.finding == key]),
        )
    return name_by_signature(model, fault_key)


def learn_finding(session: Session, order: WorkOrder, finding: str) -> None:
    """The engineer's finding names the order and the alerts behind it from now on."""
    order.finding = finding
    for alert in session.scalars(select(Alert).where(Alert.work_order_id == order.id)):
        alert.fault_name, alert.fault_source = finding, "engineer"
