"""Priority and SLA deadlines of a work order: pure functions of what is known about it.

Points add up from four facts and map to P1 (urgent) .. P4 (routine):

=====================  ==========================================
severity               critical +3, major +2, warning +1
time to failure        < 1 day +3, < 3 days +2, < 14 days +1
customer tier          gold +1, silver +0, standard -1
warranty               under warranty +1 (the maker pays for the failure)
=====================  ==========================================

>>> priority_for("critical", timedelta(hours=10), "gold", True)
1
>>> priority_for("warning", None, "standard", False)
4
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "SEVERITY_RANK",
    "SLA",
    "Deadlines",
    "deadlines_for",
    "priority_for",
    "raise_priority",
    "worse_severity",
]

#: alert severities in order; also the priority points each adds
SEVERITY_RANK = {"warning": 1, "major": 2, "critical": 3}
_TIER = {"gold": 1, "silver": 0, "standard": -1}


@dataclass(frozen=True, slots=True)
class Deadlines:
    response: timedelta  # accepted by an engineer within
    resolution: timedelta  # resolved within


#: SLA per priority; a tenant contract would override these.
SLA: dict[int, Deadlines] = {
    1: Deadlines(timedelta(hours=2), timedelta(hours=8)),
    2: Deadlines(timedelta(hours=4), timedelta(hours=24)),
    3: Deadlines(timedelta(hours=8), timedelta(hours=72)),
    4: Deadlines(timedelta(hours=24), timedelta(days=7)),
}


def priority_for(
    severity: str, time_to_failure: timedelta | None, tier: str | None, under_warranty: bool
) -> int:
    points = SEVERITY_RANK.get(severity, 1)
    if time_to_failure is not None:
        if time_to_failure < timedelta(days=1):
            points += 3
        elif time_to_failure < timedelta(days=3):
            points += 2
        elif time_to_failure < timedelta(days=14):
            points += 1
    points += _TIER.get(tier or "standard", -1)
    points += 1 if under_warranty else 0
    if points >= 6:
        return 1
    if points >= 4:
        return 2
    if points >= 2:
        return 3
    return 4


def worse_severity(a: str, b: str) -> str:
    """The more severe of two severities."""
    return a if SEVERITY_RANK.get(a, 0) >= SEVERITY_RANK.get(b, 0) else b


def raise_priority(priority: int, steps: int = 1) -> int:
    """One step more urgent, never beyond P1."""
    return max(1, priority - steps)


def deadlines_for(priority: int, opened_at: datetime) -> tuple[datetime, datetime]:
    """(respond by, resolve by) for an order of ``priority`` opened at ``opened_at``."""
    sla = SLA[priority]
    return opened_at + sla.response, opened_at + sla.resolution
