"""Nothing is lost while the cloud is away: the edge keeps each message until the cloud has
stored it, so what the broker drops on the way is sent again.

Found by issue 15: with the cloud disconnected, mosquitto queued at most 1,000 messages for
its session and dropped the rest, after the edge had already deleted them on the PUBACK
(30-38 alerts and ~3,000 other messages lost per run, nothing counted). Here the broker's
queue holds 20 of the 150 messages the edge sends while the cloud is away.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cloud.db import Alert, InboxMessage, WorkOrder
from cloud.ingest_mqtt import MqttIngestWorker
from cloud.state import CloudState
from edge.outbox import Outbox, PendingMessage
from edge.uplink_mqtt import MqttUplink
from mqtt_client import BrokerAddress
from prognos.broker import MosquittoBroker, find_mosquitto
from tests.support.engines import engine_missing
from tests.support.threads import eventually

from .conftest import NOW
from .messages import alert, summary, wire
from .world import World

pytestmark = pytest.mark.integration

QUEUE = 20  # what the broker keeps for the absent cloud


@pytest.fixture
def small_queue_broker() -> Iterator[MosquittoBroker]:
    if find_mosquitto() is None:
        engine_missing("mosquitto", "Debian: apt-get install mosquitto")
    with MosquittoBroker(max_queued=QUEUE) as broker:
        yield broker


def _messages(n: int) -> list[PendingMessage]:
    rows = []
    for i in range(n):
        at = NOW + timedelta(minutes=i)
        msg = (
            alert("ac-1", "raise", at, alert_id=f"alert-{i:04d}")
            if i % 3 == 0
            else summary("pump-1", at + timedelta(seconds=i))
        )
        topic, payload = wire(msg)
        rows.append(PendingMessage(msg.message_id, msg.kind, topic, payload, at.timestamp()))
    return rows


def _count(state: CloudState, model: type) -> int:
    with state.sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _cloud(state: CloudState, broker: MosquittoBroker) -> MqttIngestWorker:
    state.settings.mqtt_url = f"mqtt://{broker.host}:{broker.port}"
    state.settings.mqtt_client_id = "prognos-cloud-e2e"  # one persistent session, across restarts
    worker = MqttIngestWorker(state.settings, state.ingestor, state.metrics)
    worker.start()
    assert worker.subscribed.wait(10)
    return worker


def _edge(broker: MosquittoBroker, outbox: Outbox, timeout: float = 0.5) -> MqttUplink:
    """Agent edge-1's uplink draining ``outbox``, started."""
    address = BrokerAddress(broker.host, broker.port)
    uplink = MqttUplink(outbox, address, tenant="acme", agent_id="edge-1", confirm_timeout_s=timeout)
    uplink.start()
    return uplink


def test_a_broker_queue_overflow_while_the_cloud_is_away_loses_nothing(
    state: CloudState, world: World, small_queue_broker: MosquittoBroker, tmp_path: Path
) -> None:
    _cloud(state, small_queue_broker).stop()  # the cloud had a session, and went away
    outbox = Outbox(tmp_path / "outbox.sqlite")
    sent = _messages(150)
    outbox.add(sent)
    uplink = _edge(small_queue_broker, outbox)
    try:
        # every message reached the broker, which keeps only QUEUE of them for the cloud
        assert eventually(lambda: uplink.acked >= len(sent), 20)
        assert outbox.size() == len(sent), "nothing may leave the outbox before the cloud has it"
        cloud = _cloud(state, small_queue_broker)
        try:
            assert eventually(lambda: outbox.size() == 0, 60), f"{outbox.size()} never confirmed"
        finally:
            cloud.stop()
    finally:
        uplink.stop(drain_timeout=0)
        outbox.close()
    assert uplink.resent > 0  # what the broker dropped went again
    with state.sessions() as s:
        stored = set(s.scalars(select(InboxMessage.message_id)))
    assert stored == {m.message_id for m in sent}  # every id once: the inbox key is the id
    assert _count(state, Alert) == 50 and _count(state, WorkOrder) == 1  # one fault, one order
    assert uplink.confirmed == len(sent) and uplink.refused == 0


def test_a_message_the_cloud_refuses_is_not_sent_forever(
    state: CloudState, world: World, small_queue_broker: MosquittoBroker, tmp_path: Path
) -> None:
    """A dead letter is confirmed as refused, with its reason: the edge logs it and stops."""
    cloud = _cloud(state, small_queue_broker)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    (good,) = _messages(1)
    stranger = alert("ac-1", "raise", NOW, tenant="nobody", alert_id="x-1")
    topic, payload = wire(stranger)
    bad = PendingMessage(stranger.message_id, "alert", topic.replace("/nobody/", "/acme/"), payload, 0.0)
    outbox.add([good, bad])
    uplink = _edge(small_queue_broker, outbox)
    try:
        assert eventually(lambda: outbox.size() == 0, 20)
    finally:
        uplink.stop(drain_timeout=0)
        outbox.close()
        cloud.stop()
    assert uplink.confirmed == 2 and uplink.refused == 1 and uplink.resent == 0


def test_one_of_two_workers_dying_for_good_strands_nothing(
    state: CloudState, world: World, small_queue_broker: MosquittoBroker, tmp_path: Path
) -> None:
    """Issue 15: a dead member of the shared subscription kept its session, and the broker
    kept routing it a share of the stream (3,459 of 12,220 lost). Its share now goes unconfirmed
    and the edge sends it again until the living worker has it."""
    state.settings.mqtt_session_expiry_s = 3600  # the dead worker's session outlives the test
    living = _cloud(state, small_queue_broker)
    dead_settings = state.settings.model_copy(update={"mqtt_client_id": "prognos-cloud-dead"})
    dead = MqttIngestWorker(dead_settings, state.ingestor, state.metrics)
    dead.start()
    assert dead.subscribed.wait(10)
    dead.stop()  # and never comes back
    outbox = Outbox(tmp_path / "outbox.sqlite")
    sent = _messages(120)
    outbox.add(sent)
    uplink = _edge(small_queue_broker, outbox)
    try:
        assert eventually(lambda: outbox.size() == 0, 60), f"{outbox.size()} stranded"
    finally:
        uplink.stop(drain_timeout=0)
        outbox.close()
        living.stop()
    with state.sessions() as s:
        assert set(s.scalars(select(InboxMessage.message_id))) == {m.message_id for m in sent}
    assert _count(state, WorkOrder) == 1
    assert uplink.resent > 0  # the broker did route a share to the dead session


def test_a_broker_crash_while_the_cloud_is_away_loses_nothing(
    state: CloudState, world: World, tmp_path: Path
) -> None:
    """Issue 15: mosquitto with persistence keeps its queue in memory between autosaves, and a
    crash while the cloud was away lost 500 of 500 queued messages. The edge still has them."""
    if find_mosquitto() is None:
        engine_missing("mosquitto", "Debian: apt-get install mosquitto")
    with MosquittoBroker(persistence=True) as broker:
        _cloud(state, broker).stop()  # the cloud had a session, and went away
        outbox = Outbox(tmp_path / "outbox.sqlite")
        sent = _messages(90)
        outbox.add(sent)
        uplink = _edge(broker, outbox)
        try:
            assert eventually(lambda: uplink.acked >= len(sent), 20)  # all queued in the broker...
            broker.kill()  # ...which crashes before saving them
            broker.start()
            cloud = _cloud(state, broker)
            try:
                assert eventually(lambda: outbox.size() == 0, 60), f"{outbox.size()} never confirmed"
            finally:
                cloud.stop()
        finally:
            uplink.stop(drain_timeout=0)
            outbox.close()
    with state.sessions() as s:
        assert set(s.scalars(select(InboxMessage.message_id))) == {m.message_id for m in sent}
    assert _count(state, WorkOrder) == 1 and uplink.resent > 0


def test_a_cloud_killed_mid_stream_and_restarted_stores_everything_once(
    state: CloudState, world: World, small_queue_broker: MosquittoBroker, tmp_path: Path, db_url: str
) -> None:
    """`prognos cloud serve` as a process, SIGKILLed while it ingests and started again on the
    same database: every message stored once, one work order for the one fault."""
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    from prognos.broker import free_port

    root = Path(__file__).resolve().parents[2]

    def serve() -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(root),
            "PROGNOS_DATABASE_URL": db_url,
            "PROGNOS_MQTT_CLIENT_ID": "prognos-cloud-killed",  # its session survives the kill
            "PROGNOS_LOG_LEVEL": "WARNING",
        }
        cmd = [sys.executable, "-m", "prognos", "cloud", "serve", "--port", str(port),
               "--mqtt", f"mqtt://{small_queue_broker.host}:{small_queue_broker.port}"]  # fmt: skip
        proc = subprocess.Popen(
            cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        assert eventually(ready, 60), "the cloud did not become ready"
        return proc, port

    outbox = Outbox(tmp_path / "outbox.sqlite")
    sent = _messages(900)
    outbox.add(sent)
    cloud, _ = serve()
    uplink = _edge(small_queue_broker, outbox, timeout=1.0)
    try:
        assert eventually(lambda: uplink.confirmed > 0, 30)  # it is ingesting...
        cloud.send_signal(signal.SIGKILL)  # ...and dies mid-stream
        cloud.wait(10)
        assert uplink.confirmed < len(sent)
        cloud, _ = serve()
        assert eventually(lambda: outbox.size() == 0, 90), f"{outbox.size()} never confirmed"
    finally:
        uplink.stop(drain_timeout=0)
        outbox.close()
        cloud.terminate()
        cloud.wait(20)
    with state.sessions() as s:
        assert set(s.scalars(select(InboxMessage.message_id))) == {m.message_id for m in sent}
        assert s.scalar(select(func.count()).select_from(InboxMessage)) == len(sent)
    assert _count(state, Alert) == 300 and _count(state, WorkOrder) == 1
