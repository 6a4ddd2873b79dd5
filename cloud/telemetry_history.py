"""Where the device page and the device-health API read a device's telemetry windows from.

By default the database's ``telemetry_summaries`` table. With
``PROGNOS_HISTORY_SOURCE=victoriametrics`` the windows come back from the time-series engine
the sink writes to (``PROGNOS_INFLUX_URL``, docs/scale.md), so the pages need not keep every
window in the database. VictoriaMetrics stores what influxdb-client wrote as one series per
field (``telemetry_mean{channel=...}``, ``anomaly_max_score``...) and gives raw samples back
from ``/api/v1/export``; each window is put together again from the samples at its end time.

Both sources give the same :class:`Window` list, oldest first, so the page and the API show
the same thing whichever is configured.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import Device, TelemetrySummary, Tenant
from .errors import Unavailable

__all__ = ["DatabaseHistory", "HistoryUnavailable", "TelemetryHistory", "VictoriaHistory", "Window"]

STATS = ("min", "mean", "max", "count")


@dataclass(frozen=True, slots=True)
class Window:
    window_start: datetime
    window_end: datetime
    max_score: float
    health: float | None = None
    channels: dict[str, dict[str, float]] = field(default_factory=dict)
    rul_cycles: list[float] | None = None  # kept in the database only, not in VictoriaMetrics


class HistoryUnavailable(Unavailable):
    """The time-series engine did not answer; the page says so instead of showing nothing."""


class TelemetryHistory(Protocol):
    def recent(self, session: Session, device: Device, limit: int) -> list[Window]: ...


class DatabaseHistory:
    def recent(self, session: Session, device: Device, limit: int) -> list[Window]:
        rows = session.scalars(
            select(TelemetrySummary)
            .where(TelemetrySummary.device_id == device.id)
            .order_by(TelemetrySummary.window_end.desc())
            .limit(limit)
        )
        windows = [
            Window(r.window_start, r.window_end, r.max_score, r.health, dict(r.channels), r.rul_cycles)
            for r in rows
        ]
        return windows[::-1]


class VictoriaHistory:
    """Windows from VictoriaMetrics, looking back ``lookback`` from the device's last report."""

    def __init__(self, url: str, token: str = "", lookback: timedelta = timedelta(days=30)) -> None:
        self.url, self.token, self.lookback = url.rstrip("/"), token, lookback

    def recent(self, session: Session, device: Device, limit: int) -> list[Window]:
        tenant = session.get(Tenant, device.tenant_id)
        assert tenant is not None
        end = device.last_seen_at or datetime.now(UTC)
        start = end - self.lookback
        selector = f'{{tenant="{_quote(tenant.slug)}",device="{_quote(device.key)}"}}'
        scores = self._export(f"anomaly_max_score{selector}", start, end + timedelta(days=1))
        times = sorted({t for s in scores for t in s["timestamps"]})[-limit:]
        if not times:
            return []
        first = datetime.fromtimestamp(times[0] / 1000, UTC)
        series = self._export(
            f'{{__name__=~"telemetry_(min|mean|max|count)|anomaly_.*",{selector[1:]}',
            first,
            end + timedelta(days=1),
        )
        return _windows(series, set(times))

    def _export(self, match: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode(
            {"match[]": match, "start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}"}
        )
        request = urllib.request.Request(f"{self.url}/api/v1/export?{query}")
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise HistoryUnavailable(f"VictoriaMetrics at {self.url} did not answer: {exc}") from None


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _windows(series: list[dict[str, Any]], times: set[int]) -> list[Window]:
    """Samples at each window's end time, put back together as that window."""
    at: dict[int, dict[str, Any]] = {t: {"channels": {}} for t in times}
    for s in series:
        name, channel = s["metric"]["__name__"], s["metric"].get("channel")
        for t, v in zip(s["timestamps"], s["values"], strict=True):
            if t not in at:
                continue
            if name.startswith("telemetry_") and channel is not None:
                at[t]["channels"].setdefault(channel, {})[name.removeprefix("telemetry_")] = v
            elif name.startswith("anomaly_"):
                at[t][name.removeprefix("anomaly_")] = v
    out = []
    for t in sorted(at):
        w = at[t]
        end = datetime.fromtimestamp(t / 1000, UTC)
        channels = {c: stats for c, stats in w["channels"].items() if all(k in stats for k in STATS)}
        out.append(
            Window(
                window_start=end - timedelta(seconds=float(w.get("window_s", 0.0))),
                window_end=end,
                max_score=float(w.get("max_score", 0.0)),
                health=w.get("health"),
                channels=channels,
            )
        )
    return out
