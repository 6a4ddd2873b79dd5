"""The version of what a page shows: a string that changes whenever something a page shows
may have changed. ``/ui/changes`` answers it and every page carries the one it was rendered
with, so the page's script compares against what it really shows (a change between the
render and the script's first poll is not missed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from ..api.scope import TenantScope
from ..db import Alert, Device, TelemetrySummary, WorkOrderEvent

__all__ = ["content_version"]


def content_version(scope: TenantScope, now: datetime) -> str:
    """Includes the service clock's minute, so countdowns move on even when no data arrives."""
    s = scope.session
    parts = [
        s.scalar(scope.where(select(func.max(WorkOrderEvent.id)), WorkOrderEvent)),
        s.scalar(scope.where(select(func.max(Alert.last_at)), Alert)),
        s.scalar(scope.where(select(func.max(TelemetrySummary.id)), TelemetrySummary)),
        s.scalar(scope.where(select(func.max(Device.last_seen_at)), Device)),
        now.replace(second=0, microsecond=0),
    ]
    return "|".join(str(p) for p in parts)
