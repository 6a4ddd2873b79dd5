"""Ingest from a replicated stream: the cloud side of the clustered message tier.

Devices and edges keep speaking MQTT, to the NATS cluster's MQTT listeners
(docs/scale.md); NATS maps ``prognos/v1/{tenant}/edge/{agent}/{kind}`` to the subject
``prognos.v1.{tenant}.edge.{agent}.{kind}``, and a JetStream stream replicated on three
nodes (:data:`STREAM`) keeps every one of them until it is acknowledged. Cloud workers
share one durable pull consumer (:data:`CONSUMER`): each fetch hands a worker a batch no
other worker holds; the worker stores it through the same :class:`Ingestor` as the MQTT
path, in one transaction, and acks the batch after the commit. A worker that dies before
acking loses nothing: after ``ack_wait`` the stream hands its batch to another. A node that
dies loses nothing either: the stream's other replicas elect a new leader and the clients
reconnect to the living nodes. Redelivery is harmless (message ids), and the agent is told
what was stored on ``…/cmd/stored``, as on the MQTT path.

The worker runs an asyncio loop (the NATS client's) on its own thread; the database work
runs in that thread's executor so the client's heartbeats keep going during a commit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import nats
from nats.errors import TimeoutError as FetchTimeout
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy.exc import OperationalError

from firmware_bridge.contract import stored_topic

from .confirmations import confirmations
from .services.ingest import Ingestor, IngestResult

__all__ = ["CONSUMER", "STREAM", "SUBJECTS", "StreamIngestWorker", "ensure_stream", "subject_of", "topic_of"]

log = logging.getLogger("prognos.cloud.ingest_stream")

STREAM = "PROGNOS_EDGE"
SUBJECTS = "prognos.v1.*.edge.*.*"  # what agents publish (not their commands: one token more)
CONSUMER = "cloud-ingest"


def topic_of(subject: str) -> str:
    """The MQTT topic a NATS subject carries (NATS maps ``/`` to ``.``)."""
    return subject.replace(".", "/")


def subject_of(topic: str) -> str:
    return topic.replace("/", ".")


async def ensure_stream(js: Any, replicas: int = 3, ack_wait: float = 30.0) -> None:
    """The edge stream (file storage, ``replicas`` copies) and the workers' shared consumer;
    a batch not acked within ``ack_wait`` seconds (its worker died) goes to another worker."""
    config = StreamConfig(name=STREAM, subjects=[SUBJECTS], num_replicas=replicas, storage=StorageType.FILE)
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(config)
    try:
        await js.consumer_info(STREAM, CONSUMER)
    except NotFoundError:
        await js.add_consumer(
            STREAM,
            ConsumerConfig(
                durable_name=CONSUMER,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ack_wait,
                max_ack_pending=20_000,
                filter_subject=SUBJECTS,
            ),
        )


class StreamIngestWorker:
    """One cloud worker on the stream: fetch a batch, store it, ack it, confirm to agents."""

    def __init__(
        self, servers: list[str], ingestor: Ingestor, *, batch_max: int = 200, replicas: int = 3,
        ack_wait: float = 30.0, sink: object | None = None,
    ) -> None:  # fmt: skip
        self.servers, self.ingestor, self.batch_max, self.replicas = servers, ingestor, batch_max, replicas
        self.ack_wait = ack_wait
        self.sink = sink
        self.handled = 0
        self.ready = threading.Event()  # the stream and its consumer exist and are bound
        self.problem: str | None = "connecting"  # why the stream is unavailable now, if it is
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cloud-stream-ingest", daemon=True)

    def start(self) -> StreamIngestWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        nc = None
        while nc is None and not self._stop.is_set():
            try:  # the first connection too: the service may start before the cluster
                nc = await nats.connect(
                    servers=self.servers,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.2,
                    connect_timeout=2,
                    error_cb=self._client_error,
                )
            except Exception as exc:  # noqa: BLE001 - no server answers yet: try again
                if self.problem == "connecting":
                    log.warning("no NATS server answers at %s (%r); retrying", ",".join(self.servers), exc)
                self.problem = f"no server answers: {exc!r}"[:300]
                await asyncio.sleep(1.0)
        if nc is None:
            return
        try:
            js = nc.jetstream(timeout=5)
            while not self._stop.is_set():
                try:
                    await ensure_stream(js, self.replicas, self.ack_wait)
                    sub = await js.pull_subscribe_bind(CONSUMER, stream=STREAM)
                    break
                except Exception as exc:  # noqa: BLE001 - the cluster may be electing: try again
                    log.warning("stream not ready: %s", exc)
                    self.problem = repr(exc)
                    await asyncio.sleep(0.5)
            else:
                return
            self.ready.set()
            self.problem = None
            while not self._stop.is_set():
                try:
                    msgs = await sub.fetch(self.batch_max, timeout=0.5)
                except (TimeoutError, FetchTimeout):  # nothing waiting
                    continue
                except Exception as exc:  # noqa: BLE001 - a node went away: the cluster is electing
                    if self.problem is None:  # once per outage, not five times a second
                        log.warning("stream unavailable (%r); retrying until it is back", exc)
                    self.problem = repr(exc)
                    await asyncio.sleep(0.2)
                    continue
                if self.problem is not None:
                    log.warning("stream available again")
                    self.problem = None
                if msgs:
                    await self._handle(nc, msgs)
        finally:
            await nc.close()

    async def _client_error(self, exc: Exception) -> None:
        """The client's own reports (a node refusing, reconnecting): the fetch loop says what
        matters once per outage, so these stay at debug instead of a traceback each."""
        log.debug("NATS client: %r", exc)

    async def _handle(self, nc: Any, msgs: list[Any]) -> None:
        deliveries = [(topic_of(m.subject), bytes(m.data)) for m in msgs]
        loop = asyncio.get_running_loop()
        delay = 0.5
        while True:
            try:
                results = await loop.run_in_executor(None, self.ingestor.handle_batch, deliveries)
                break
            except OperationalError as exc:  # the database is away: hold the batch, unacked
                log.error("database unavailable, holding %d messages: %s", len(msgs), exc.orig)
                if self._stop.is_set():
                    return
                await asyncio.sleep(delay)
                delay = min(2 * delay, 30.0)
        for m in msgs:
            try:
                await m.ack()
            except Exception as exc:  # noqa: BLE001 - not acked: redelivered, and harmless
                log.warning("ack failed: %s", exc)
        await self._confirm(nc, deliveries, results)
        for result in results:
            if result.summary is not None and self.sink is not None:
                self.sink.write(result.summary)  # type: ignore[attr-defined]
        self.handled += len(msgs)

    async def _confirm(
        self, nc: Any, deliveries: list[tuple[str, bytes]], results: list[IngestResult]
    ) -> None:
        for (tenant, agent), note in confirmations([t for t, _ in deliveries], results).items():
            try:
                await nc.publish(subject_of(stored_topic(tenant, agent)), note.model_dump_json().encode())
            except Exception as exc:  # noqa: BLE001 - the agent resends what stays unconfirmed
                log.warning("confirmation to %s/%s failed: %s", tenant, agent, exc)
