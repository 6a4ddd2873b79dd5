"""Ingest from a replicated stream: the cloud side of the clustered message tier.

Devices and edges keep speaking MQTT, to the NATS cluster's MQTT listeners
(docs/scale.md); NATS maps ``prognos/v1/{tenant}/edge/{agent}/{kind}`` to the subject
``prognos.v1.{tenant}.edge.{agent}.{kind}``, and a JetStream stream replicated on three
nodes (:data:`STREAM`) keeps every one of them until it is acknowledged. The stream files
each message under one of N partitions by its agent (``prognos.p.{k}.prognos.v1.…``, NATS's
own ``partition()`` subject transform); a device belongs to one agent, so a partition's
order is each of its devices' order.

Each partition has its own durable pull consumer, and one worker at a time reads it: the
worker that holds the partition's lease in the :data:`OWNERS` key-value bucket. Every worker
renews a membership key there, computes the same :func:`assignment` from the live members,
takes the leases of its share and gives back the rest (after its current batch is acked),
so a joining worker gets its share within a few seconds and a dead worker's leases expire
and are taken by the living. A worker stores each batch through the same :class:`Ingestor`
as the MQTT path, in one transaction, acks it after the commit and tells the agent what was
stored on ``…/cmd/stored``. A worker that takes over a partition with unacked messages (its
last owner died holding a batch) waits ``ack_wait`` before reading, so the stream hands it
that batch again first and the order holds. A node that dies loses nothing: the stream's
other replicas elect a new leader and the clients reconnect to the living nodes. Redelivery
is harmless (message ids).

The worker runs an asyncio loop (the NATS client's) on its own thread; the database work
runs in that thread's executor, one batch at a time, so the client's heartbeats and lease
renewals keep going during a commit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import nats
from nats.errors import TimeoutError as FetchTimeout
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig, SubjectTransform
from nats.js.errors import KeyWrongLastSequenceError, NoKeysError, NotFoundError
from sqlalchemy.exc import OperationalError

from firmware_bridge.contract import stored_topic

from .confirmations import confirmations
from .db_turn import DbTurn
from .services.ingest import Ingestor, IngestResult
from .stream_partitions import PARTITION_PREFIX, assignment, partition_subject, topic_of

__all__ = [
    "OWNERS", "STREAM", "SUBJECTS", "StreamIngestWorker", "consumer_name", "ensure_stream", "subject_of",
    "topic_of",
]  # fmt: skip

log = logging.getLogger("prognos.cloud.ingest_stream")

STREAM = "PROGNOS_EDGE"
URGENT_KINDS = frozenset({"alert", "fault"})  # what opens work orders: first at the database
SUBJECTS = "prognos.v1.*.edge.*.*"  # what agents publish (not their commands: one token more)
OWNERS = "PROGNOS_INGEST_OWNERS"  # key-value bucket: member.{worker} and part.{k} leases


def consumer_name(partition: int) -> str:
    return f"cloud-ingest-p{partition}"


def subject_of(topic: str) -> str:
    return topic.replace("/", ".")


def _transform(partitions: int) -> SubjectTransform:
    """Stored as ``prognos.p.{k}.prognos.v1.{tenant}.edge.{agent}.{kind}``, ``k`` a hash of
    the tenant and agent tokens (NATS's ``partition()``, stable across nodes)."""
    tokens = [f"{{{{wildcard({n})}}}}" for n in (1, 2, 3)]
    by_agent = f"{{{{partition({partitions},1,2)}}}}"
    dest = f"{PARTITION_PREFIX}.{by_agent}.prognos.v1.{tokens[0]}.edge.{tokens[1]}.{tokens[2]}"
    return SubjectTransform(src=SUBJECTS, dest=dest)


async def ensure_stream(
    js: Any, replicas: int = 3, ack_wait: float = 30.0, partitions: int = 8, lease: float = 6.0
) -> int:
    """The edge stream (file storage, ``replicas`` copies, ``partitions`` partitions by
    agent), one consumer per partition and the owners' bucket; returns the partition count
    the stream really has (an existing stream keeps the count it was created with: moving
    agents between partitions would reorder their messages). A batch not acked within
    ``ack_wait`` seconds (its worker died) is handed out again."""
    try:
        info = await js.stream_info(STREAM)
        transform = info.config.subject_transform
        if transform is not None and "partition(" in transform.dest:
            partitions = int(transform.dest.split("partition(", 1)[1].split(",", 1)[0])
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=STREAM, subjects=[SUBJECTS], num_replicas=replicas, storage=StorageType.FILE,
                subject_transform=_transform(partitions),
            )
        )  # fmt: skip
    for p in range(partitions):
        try:
            await js.consumer_info(STREAM, consumer_name(p))
        except NotFoundError:
            await js.add_consumer(
                STREAM,
                ConsumerConfig(
                    durable_name=consumer_name(p),
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=ack_wait,
                    max_ack_pending=20_000,
                    filter_subject=partition_subject(p),
                ),
            )
    await js.create_key_value(bucket=OWNERS, ttl=lease, replicas=replicas)
    return partitions


class StreamIngestWorker:
    """One cloud worker on the stream: own a share of the partitions; for each, fetch a
    batch, store it, ack it, confirm to the agents."""

    def __init__(
        self, servers: list[str], ingestor: Ingestor, *, batch_max: int = 200, replicas: int = 3,
        ack_wait: float = 30.0, partitions: int = 8, lease: float = 6.0, sink: object | None = None,
    ) -> None:  # fmt: skip
        self.servers, self.ingestor, self.batch_max, self.replicas = servers, ingestor, batch_max, replicas
        self.ack_wait, self.partitions, self.lease = ack_wait, partitions, lease
        self.sink = sink
        self.name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}".replace(".", "-")
        self.handled = 0
        self.owned: set[int] = set()  # partitions whose lease this worker holds now
        self.ready = threading.Event()  # the stream, its consumers and the bucket exist
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

    async def _connect(self) -> Any:
        while not self._stop.is_set():
            try:  # the first connection too: the service may start before the cluster
                return await nats.connect(
                    servers=self.servers, max_reconnect_attempts=-1, reconnect_time_wait=0.2,
                    connect_timeout=2, error_cb=self._client_error,
                )  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - no server answers yet: try again
                if self.problem == "connecting":
                    log.warning("no NATS server answers at %s (%r); retrying", ",".join(self.servers), exc)
                self.problem = f"no server answers: {exc!r}"[:300]
                await asyncio.sleep(1.0)
        return None

    async def _main(self) -> None:
        nc = await self._connect()
        if nc is None:
            return
        try:
            js = nc.jetstream(timeout=5)
            while not self._stop.is_set():
                try:
                    self.partitions = await ensure_stream(
                        js, self.replicas, self.ack_wait, self.partitions, self.lease
                    )
                    kv = await js.key_value(OWNERS)
                    break
                except Exception as exc:  # noqa: BLE001 - the cluster may be electing: try again
                    log.warning("stream not ready: %s", exc)
                    self.problem = repr(exc)
                    await asyncio.sleep(0.5)
            else:
                return
            self.ready.set()
            self.problem = None
            await self._own_partitions(nc, js, kv)
        finally:
            await nc.close()

    async def _own_partitions(self, nc: Any, js: Any, kv: Any) -> None:
        """The membership loop: renew this worker's key and its leases, take its share,
        give back what is no longer its share (each reader finishes its batch first)."""
        revisions: dict[int, int] = {}  # lease revision per owned partition
        readers: dict[int, asyncio.Task[None]] = {}
        giving_back: set[int] = set()
        db_turn = DbTurn()  # one transaction at a time per worker, alerts first
        member = f"member.{self.name}"

        def owns(p: int) -> Callable[[], bool]:
            return lambda: p in revisions and p not in giving_back

        try:  # be seen before taking a share: workers starting together then split at once
            await kv.put(member, str(time.time()).encode())
            await asyncio.sleep(self.lease / 4)
        except Exception as exc:  # noqa: BLE001 - the loop below retries
            log.debug("first membership put failed: %r", exc)
        while not self._stop.is_set():
            try:
                await kv.put(member, str(time.time()).encode())
                try:  # (nats-py's key filters match substrings: filter here)
                    members = [k.split(".", 1)[1] for k in await kv.keys() if k.startswith("member.")]
                except NoKeysError:
                    members = []
                share = set(assignment(self.partitions, [*members, self.name])[self.name])
                for p in [p for p, task in readers.items() if task.done()]:
                    readers.pop(p)
                for p in sorted(set(revisions)):
                    if p not in share:
                        giving_back.add(p)
                    if p in giving_back and p not in readers:  # its reader has stopped: release
                        await self._release(kv, p, revisions.pop(p))
                        giving_back.discard(p)
                        continue
                    try:
                        revisions[p] = await kv.update(f"part.{p}", self.name.encode(), last=revisions[p])
                    except KeyWrongLastSequenceError:  # expired and taken: no longer ours
                        log.warning("lost the lease of partition %d", p)
                        revisions.pop(p)
                        giving_back.add(p)
                for p in sorted(share - set(revisions) - set(readers)):
                    try:
                        revisions[p] = await kv.create(f"part.{p}", self.name.encode())
                    except KeyWrongLastSequenceError:
                        continue  # its owner has not given it back yet
                    giving_back.discard(p)
                for p in sorted(set(revisions) - set(readers) - giving_back):  # new, or its reader failed
                    readers[p] = asyncio.create_task(self._read(nc, js, p, owns(p), db_turn))
                self.owned = set(revisions) - giving_back
                if self.problem is not None and not self.problem.startswith("no server"):
                    self.problem = None
            except Exception as exc:  # noqa: BLE001 - a node went away: the cluster is electing
                if self.problem is None:
                    log.warning("owners' bucket unavailable (%r); retrying", exc)
                self.problem = repr(exc)
            await asyncio.sleep(self.lease / 4)
        giving_back.update(readers)
        for task in readers.values():
            await task
        for p, rev in revisions.items():  # let the others take over at once
            await self._release(kv, p, rev)
        try:
            await kv.delete(member)
        except Exception as exc:  # noqa: BLE001 - it expires by itself
            log.debug("membership not released: %r", exc)

    async def _release(self, kv: Any, partition: int, revision: int) -> None:
        """Give a lease back (only if it is still ours: ``last`` is its revision)."""
        try:
            await kv.delete(f"part.{partition}", last=revision)
        except Exception as exc:  # noqa: BLE001 - it expires by itself
            log.debug("lease of %d not released: %r", partition, exc)

    async def _read(
        self, nc: Any, js: Any, partition: int, owned: Callable[[], bool], db_turn: DbTurn
    ) -> None:
        """Read one partition while this worker owns it."""
        consumer = consumer_name(partition)
        try:
            sub = await js.pull_subscribe_bind(consumer, stream=STREAM)
            info = await js.consumer_info(STREAM, consumer)
        except Exception as exc:  # noqa: BLE001 - the next membership round tries again
            log.warning("partition %d not readable: %r", partition, exc)
            return
        if info.num_ack_pending:  # its last owner died holding a batch: let it be redelivered first
            log.info(
                "partition %d: %d unacked; waiting %.0f s", partition, info.num_ack_pending, self.ack_wait
            )
            deadline = time.monotonic() + self.ack_wait
            while time.monotonic() < deadline and owned() and not self._stop.is_set():
                await asyncio.sleep(0.2)
        try:
            while owned() and not self._stop.is_set():
                try:
                    msgs = await self._fetch(sub)
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
                    await self._handle(nc, msgs, db_turn)
        finally:
            await sub.unsubscribe()

    async def _fetch(self, sub: Any) -> list[Any]:
        """The next batch: wait (up to 0.5 s) for one message, then take the ones the stream
        says are waiting behind it (its ``num_pending``), up to ``batch_max``. nats-py's
        ``fetch(n)`` would hold a first message until n arrive or the wait ends, so an alert
        in a quiet partition sat out the rest of the half second."""
        first: list[Any] = await sub.fetch(1, timeout=0.5)
        pending = min(self.batch_max - 1, first[0].metadata.num_pending) if first else 0
        if pending <= 0:  # the stream says nothing else is waiting: do not wait for more
            return first
        try:
            return first + list(await sub.fetch(pending, timeout=0.5))
        except (TimeoutError, FetchTimeout):  # taken meanwhile by a redelivery's reader
            return first

    async def _client_error(self, exc: Exception) -> None:
        """The client's own reports (a node refusing, reconnecting): the fetch loop says what
        matters once per outage, so these stay at debug instead of a traceback each."""
        log.debug("NATS client: %r", exc)

    async def _handle(self, nc: Any, msgs: list[Any], db_turn: DbTurn) -> None:
        """Store a batch in one transaction (the worker's turn at the database, alerts
        first), then ack it, confirm it to the agents and hand its summaries to the sink."""
        deliveries = [(topic_of(m.subject), bytes(m.data)) for m in msgs]
        urgent = any(topic.rsplit("/", 1)[-1] in URGENT_KINDS for topic, _ in deliveries)
        loop = asyncio.get_running_loop()
        delay = 0.5
        while True:
            try:
                async with db_turn.turn(urgent):
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
