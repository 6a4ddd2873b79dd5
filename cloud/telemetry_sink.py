"""Telemetry summaries to InfluxDB 2.x through influxdb-client, when PROGNOS_INFLUX_URL is set.

The embedded store (the ``telemetry_summaries`` table) always keeps what the device-health
view needs; InfluxDB gets the full history. influxdb-client's batching write API groups
points (``influx_batch_size``, ``influx_flush_interval_ms``) and retries with backoff on 429
and 5xx answers, so a busy or restarting InfluxDB costs latency, not data.

One point per channel per window::

    telemetry,tenant=T,device=D,agent=A,channel=C min=..,mean=..,max=..,count=..i <window_end, ms>

and one ``anomaly`` point with the window's ``max_score``, its length ``window_s`` and the
edge's ``health`` (when it sent one): enough to put the window back together when the
device page reads its history from the engine (``cloud/telemetry_history.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import WriteOptions

from firmware_bridge.contract import TelemetrySummaryMessage

from .settings import Settings

__all__ = ["InfluxSink", "summary_points"]

log = logging.getLogger("prognos.cloud.influx")


def summary_points(msg: TelemetrySummaryMessage) -> list[Point]:
    at = int(msg.window_end * 1000)
    tags = {"tenant": msg.tenant, "device": msg.device_id, "agent": msg.agent_id}
    points = []
    for channel, stats in sorted(msg.channels.items()):
        p = Point("telemetry")
        for k, v in {**tags, "channel": channel}.items():
            p = p.tag(k, v)
        p = (
            p.field("min", stats.min)
            .field("mean", stats.mean)
            .field("max", stats.max)
            .field("count", stats.count)
        )
        points.append(p.time(at, WritePrecision.MS))
    anomaly = Point("anomaly")
    for k, v in tags.items():
        anomaly = anomaly.tag(k, v)
    anomaly = anomaly.field("max_score", msg.max_score).field("window_s", msg.window_end - msg.window_start)
    if msg.health is not None:
        anomaly = anomaly.field("health", msg.health)
    points.append(anomaly.time(at, WritePrecision.MS))
    return points


class InfluxSink:
    def __init__(self, settings: Settings, *, max_retries: int = 5, retry_interval_ms: int = 1000) -> None:
        assert settings.influx_url
        self.bucket, self.org = settings.influx_bucket, settings.influx_org
        self.client = InfluxDBClient(
            url=settings.influx_url, token=settings.influx_token, org=settings.influx_org
        )
        self.failed = 0
        options = WriteOptions(
            batch_size=settings.influx_batch_size,
            flush_interval=settings.influx_flush_interval_ms,
            retry_interval=retry_interval_ms,
            max_retries=max_retries,
            max_retry_delay=30_000,
            exponential_base=2,
        )
        self.write_api = self.client.write_api(write_options=options, error_callback=self._failed)

    def write(self, msg: TelemetrySummaryMessage) -> None:
        self.write_api.write(
            bucket=self.bucket, org=self.org, record=summary_points(msg), write_precision=WritePrecision.MS
        )

    def _failed(self, conf: Any, data: Any, exc: Exception) -> None:
        self.failed += 1
        log.error("InfluxDB write failed after retries: %s", exc)

    def close(self) -> None:
        """Flush what is batched and stop the writer thread."""
        self.write_api.close()
        self.client.close()
