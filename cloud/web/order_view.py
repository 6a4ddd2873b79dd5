"""What a work order's page and card say about its evidence and its history.

- The evidence: the latest sample windows the edge attached (an order collects one per alert
  and per repeat), newest first, each with a visible heading and one titled chart per channel.
- The history: every event in order, each with what it was about (the reason of a decline, a
  cancellation or a reopening; the fix; the stars), except the repeats of the same evidence:
  those are one line with a count, so 166 attachments do not bury the five steps that matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from ..catalog import family_of
from ..db import Device, Engineer, WorkOrder, WorkOrderEvent
from ..fault_catalog import label_of
from ..services.fault_names import name_alert, name_by_signature, resolved_cases, usual_parts
from .charts import Marker, Series, time_chart

__all__ = [
    "EvidenceWindow",
    "FaultView",
    "HistoryLine",
    "describe_fault",
    "evidence_windows",
    "history_lines",
    "rul_phrase",
]

REPEATED = "evidence_attached"


def rul_phrase(rul: dict[str, Any] | None) -> str | None:
    """ "fails in 120–190 cycles (about 9–14 days at this device's pace)": a RUL model's 90 %
    interval in the unit it was trained in, and in time at the pace the device runs cycles."""
    if not rul or not rul.get("cycles"):
        return None
    low, _, high = rul["cycles"]
    text = f"fails in {low:.0f}–{high:.0f} cycles"
    pace = rul.get("seconds_per_cycle")
    if pace:
        days_low, days_high = low * pace / 86400, high * pace / 86400
        text += f" (about {_days(days_low)}–{_days(days_high)} days at this device's pace)"
    return text


def _days(d: float) -> str:
    return f"{d:.1f}" if d < 10 else f"{d:.0f}"


@dataclass(frozen=True, slots=True)
class FaultView:
    label: str  # "condenser coil fouling"
    explanation: str  # why it is called that
    channels: list[str]  # what moved: the detail behind the name
    parts: list[dict[str, Any]]  # what earlier cases of this fault on this model took
    finding: str | None  # what the engineer found, in words


def describe_fault(session: Session, order: WorkOrder, device: Device) -> FaultView | None:
    """The order's fault as the page shows it: its name, why, the channels and usual parts,
    judged on the cases resolved so far (not counting this order's own finding). None for
    orders that are not about a fault (a consumable's replacement, a task by hand)."""
    if order.source not in ("alert", "fault"):
        return None
    family = family_of(device.model)
    key = order.fault_name or "unrecognised"
    explanation = "named before fault names existed" if order.fault_name is None else ""
    if order.fault_source == "resolved cases":
        explanation = name_alert(
            session, order.tenant_id, device.model, order.fault_key, order.id
        ).explanation
    elif order.fault_source == "signature":
        explanation = name_by_signature(device.model, order.fault_key).explanation
    elif order.fault_source == "fault code":
        explanation = "the device's own trip code"
    elif order.fault_source == "none":
        explanation = "no known fault of this model has these channels"
    same = [
        o.id for o in resolved_cases(session, order.tenant_id, device.model, order.id) if o.finding == key
    ]
    return FaultView(
        label_of(family, key),
        explanation,
        [] if order.fault_key.startswith("code:") else order.fault_key.split("+"),
        usual_parts(session, same),
        label_of(family, order.finding) if order.finding else None,
    )


@dataclass(frozen=True, slots=True)
class EvidenceWindow:
    heading: str  # "alert a1 raised 2026-03-02 09:00 · major · score 0.91"
    charts: list[tuple[str, Markup]]  # (visible title, chart)


def evidence_windows(order: WorkOrder, windows: int = 3, channels: int = 4) -> list[EvidenceWindow]:
    """The latest ``windows`` sample windows on the order, newest first, each drawn as a chart
    per channel (up to ``channels``) and one of the anomaly score."""
    with_samples = [e for e in order.evidence if e.get("window")]
    return [_window(e, channels) for e in reversed(with_samples[-windows:])]


def _window(entry: dict[str, Any], channels: int) -> EvidenceWindow:
    at = datetime.fromisoformat(entry["at"]) if entry.get("at") else None
    points = [(datetime.fromtimestamp(p["t"], tz=UTC), p) for p in entry["window"] if "t" in p]
    markers = [Marker(at, "alert raised")] if at else []
    names = sorted({c for _, p in points for c in p.get("values", {})})
    charts = [
        (
            channel.replace("_", " "),
            time_chart(
                # a channel that dropped out in a sample (None) is a gap in its line, not a point
                [
                    Series(
                        channel,
                        [(t, v) for t, p in points if (v := p.get("values", {}).get(channel)) is not None],
                    )
                ],
                markers=markers,
                title=f"{channel}: the samples that triggered the alert",
                css_class="chart small",
            ),
        )
        for channel in names[:channels]
    ]
    scores = [(t, p["score"]) for t, p in points if p.get("score") is not None]
    if scores:
        charts.append(
            (
                "anomaly score",
                time_chart(
                    [Series("score", scores, color="#dc2626")],
                    markers=markers,
                    title="anomaly score over the same window",
                    y_range=(0.0, 1.0),
                    css_class="chart small",
                ),
            )
        )
    parts = [f"alert {entry.get('alert_id', '?')} {entry.get('transition', '')}".strip()]
    if at is not None:
        parts[0] += f" {at:%Y-%m-%d %H:%M}"
    if entry.get("severity"):
        parts.append(str(entry["severity"]))
    if isinstance(entry.get("score"), int | float):
        parts.append(f"score {entry['score']:.2f}")
    return EvidenceWindow(" · ".join(parts), charts)


@dataclass(slots=True)
class HistoryLine:
    at: datetime
    kind: str
    actor: str
    detail: str = ""
    count: int = 1  # > 1: this many events of the same kind, folded into this line
    last_at: datetime | None = None


def history_lines(events: Sequence[WorkOrderEvent], engineers: dict[int, Engineer]) -> list[HistoryLine]:
    """The order's events as lines, the repeats of attached evidence folded into the first."""
    lines: list[HistoryLine] = []
    folded: HistoryLine | None = None
    for e in events:
        if e.kind == REPEATED and folded is not None:
            folded.count += 1
            folded.last_at = e.at
            if e.actor != folded.actor and "several" not in folded.actor:
                folded.actor = "several"
            continue
        line = HistoryLine(e.at, e.kind.replace("_", " "), e.actor, _detail(e, engineers))
        if e.kind == REPEATED:
            folded = line
        lines.append(line)
    return lines


def _detail(e: WorkOrderEvent, engineers: dict[int, Engineer]) -> str:
    d = e.data or {}

    def who(key: str) -> str:
        engineer = engineers.get(d.get(key) or 0)
        return engineer.name if engineer is not None else "an engineer"

    priority = d.get("priority")
    moved = f"P{priority['from']} → P{priority['to']}" if isinstance(priority, dict) else ""
    match e.kind:
        case "created":
            return f"from {d.get('source', '?')}, P{d.get('priority', '?')}, {d.get('category', '')}".rstrip(
                ", "
            )
        case "assigned":
            return f"to {who('engineer_id')}"
        case "declined":
            return f"{who('engineer_id')}: {d.get('reason', 'no reason given')}"
        case "escalated":
            return f"level {d.get('level', '?')}" + (f", {moved}" if moved else "")
        case "resolved":
            return str(d.get("fix", ""))
        case "rated":
            comment = f" “{d['comment']}”" if d.get("comment") else ""
            return "★" * int(d.get("stars") or 0) + comment
        case "reopened" | "cancelled" | "dispatch_failed":
            return f"reason: {d.get('reason') or 'none given'}"
        case "alert_cleared":
            return f"alert {d.get('alert_id', '?')} cleared"
        case "evidence_attached":
            return moved and f"priority {moved}"
    return ""
