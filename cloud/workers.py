"""The service's background work: the scheduler timer, the MQTT ingest worker, the stream
ingest worker (the clustered tier), the rollout downlink and the telemetry sink, started and
stopped together with the app."""

from __future__ import annotations

import logging
import threading

from .downlink import Downlink
from .ingest_mqtt import MqttIngestWorker
from .ingest_stream import StreamIngestWorker
from .services.scheduler import run_due
from .state import CloudState
from .telemetry_sink import InfluxSink

__all__ = ["Workers"]

log = logging.getLogger("prognos.cloud.workers")


class Workers:
    def __init__(self, state: CloudState) -> None:
        self.state = state
        self.ingest: MqttIngestWorker | None = None
        self.stream: StreamIngestWorker | None = None
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None

    def start(self) -> None:
        settings = self.state.settings
        if settings.influx_url and self.state.sink is None:
            self.state.sink = InfluxSink(settings)
        if settings.mqtt_url:
            self.ingest = MqttIngestWorker(settings, self.state.ingestor, self.state.metrics, self.state.sink)
            self.ingest.start()
            if self.state.downlink is None:
                self.state.downlink = Downlink(self.state, settings.downlink_interval_s)
                self.state.downlink.start()
        if settings.stream_url:
            self.stream = StreamIngestWorker(
                settings.stream_servers(),
                self.state.ingestor,
                batch_max=settings.ingest_batch_max,
                replicas=settings.stream_replicas,
                partitions=settings.stream_partitions,
                sink=self.state.sink,
            ).start()
        self._scheduler = threading.Thread(target=self._tick, name="cloud-scheduler", daemon=True)
        self._scheduler.start()

    def run_scheduler_once(self) -> None:
        with self.state.sessions.begin() as session:
            report = run_due(session, self.state.clock.now())
        self.state.metrics.observe_scheduler(report)
        if report.escalated or report.overdue or report.reopened or report.closed:
            log.info(
                "scheduler",
                extra={
                    "escalated": len(report.escalated),
                    "overdue": len(report.overdue),
                    "reopened": len(report.reopened),
                    "closed": len(report.closed),
                },
            )

    def _tick(self) -> None:
        while not self._stop.wait(self.state.settings.scheduler_interval_s):
            try:
                self.run_scheduler_once()
            except Exception:  # noqa: BLE001 - the timer outlives one bad pass
                log.exception("scheduler pass failed")

    def stop(self) -> None:
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.join(10)
        if self.ingest is not None:
            self.ingest.stop()
        if self.stream is not None:
            self.stream.stop()
        if self.state.downlink is not None:
            self.state.downlink.stop()
            self.state.downlink = None
        if self.state.sink is not None:
            self.state.sink.close()
            self.state.sink = None
