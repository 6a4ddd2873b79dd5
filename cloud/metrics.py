"""Prometheus metrics, one registry per app (so tests running several apps do not collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .services.ingest import IngestResult
from .services.scheduler import SchedulerReport

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ingested = Counter(
            "prognos_ingested_messages",
            "Edge messages handled, by kind and outcome",
            ["kind", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter("prognos_dead_letters", "Messages dead-lettered", registry=r)
        self.orders_created = Counter(
            "prognos_work_orders_created", "Work orders created, by source", ["source"], registry=r
        )
        self.sla_breaches = Counter("prognos_sla_breaches", "SLA deadlines missed", ["deadline"], registry=r)
        self.ingest_lag = Histogram(
            "prognos_ingest_lag_seconds",
            "Edge creation to cloud commit",
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
        )
        self.requests = Counter(
            "prognos_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "prognos_http_request_seconds", "HTTP request duration", ["route"], registry=r
        )
        # what the edge agents report in their status (totals since they were installed)
        self.edge_dropped = Gauge(
            "prognos_edge_dropped_messages",
            "Messages an edge agent dropped, by source and reason",
            ["tenant", "agent", "reason"],
            registry=r,
        )
        self.edge_lost = Gauge(
            "prognos_edge_lost_messages",
            "Messages the devices of an edge agent numbered that it never received",
            ["tenant", "agent"],
            registry=r,
        )

    def observe_ingest(self, result: IngestResult) -> None:
        self.ingested.labels(result.kind or "unknown", result.outcome).inc()
        if result.outcome == "dead_letter":
            self.dead_letters.inc()
        if result.lag_s is not None and result.outcome == "stored":
            self.ingest_lag.observe(result.lag_s)
        if result.created_orders:
            self.orders_created.labels(result.kind or "unknown").inc(len(result.created_orders))
        if result.agent is not None and result.agent_status is not None:
            tenant, agent = result.agent
            for reason, n in result.agent_status.dropped.items():
                self.edge_dropped.labels(tenant, agent, reason).set(n)
            self.edge_lost.labels(tenant, agent).set(sum(result.agent_status.lost.values()))

    def observe_scheduler(self, report: SchedulerReport) -> None:
        if report.escalated:
            self.sla_breaches.labels("response").inc(len(report.escalated))
        if report.overdue:
            self.sla_breaches.labels("resolution").inc(len(report.overdue))

    def render(self) -> bytes:
        return generate_latest(self.registry)
