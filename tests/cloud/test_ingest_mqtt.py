"""The MQTT ingest worker against a real mosquitto and the embedded broker: shared
subscription, ack after commit, nothing lost while the cloud is down, poison messages
dead-lettered once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from cloud.db import DeadLetter, InboxMessage, TelemetrySummary, WorkOrder
from cloud.ingest_mqtt import MqttIngestWorker
from cloud.state import CloudState
from prognos.broker import MosquittoBroker
from prognos.embedded_broker import EmbeddedBroker
from tests.support.threads import eventually

from .conftest import NOW
from .messages import alert, summary, wire
from .world import World

pytestmark = pytest.mark.integration

Broker = MosquittoBroker | EmbeddedBroker


@contextmanager
def publisher(broker: Broker) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-edge", protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def publish_all(client: mqtt.Client, messages: list[tuple[str, bytes]]) -> None:
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)


@contextmanager
def worker(state: CloudState, broker: Broker, client_id: str) -> Iterator[MqttIngestWorker]:
    settings = state.settings.model_copy(
        update={"mqtt_url": f"mqtt://{broker.host}:{broker.port}", "mqtt_client_id": client_id}
    )
    w = MqttIngestWorker(settings, state.ingestor, state.metrics)
    w.start()
    try:
        assert w.subscribed.wait(10), "subscription not acknowledged"
        yield w
    finally:
        w.stop()


def _count(state: CloudState, model: type) -> int:
    with state.sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _summaries(n: int, offset: int = 0) -> list[tuple[str, bytes]]:
    return [wire(summary("ac-1", NOW + timedelta(minutes=5 * (i + offset)))) for i in range(n)]


def test_two_workers_share_the_stream_and_store_each_message_once(
    state: CloudState, world: World, any_broker: Broker
) -> None:
    messages = _summaries(150) + [
        wire(alert("ac-1", "raise", NOW)),
        wire(alert("pump-1", "raise", NOW, fault_key="vibration_rms")),
    ]
    with worker(state, any_broker, "cloud-a") as a, worker(state, any_broker, "cloud-b") as b, \
            publisher(any_broker) as pub:  # fmt: skip
        publish_all(pub, messages)
        publish_all(pub, messages[:20])  # the edge redelivers after a reconnect
        eventually(lambda: a.handled + b.handled == len(messages) + 20, timeout=30)
        assert a.handled > 0 and b.handled > 0, "a shared subscription splits the load"
    assert _count(state, InboxMessage) == len(messages)
    assert _count(state, TelemetrySummary) == 150 and _count(state, WorkOrder) == 2
    text = state.metrics.render().decode()
    assert 'prognos_ingested_messages_total{kind="summary",outcome="stored"} 150.0' in text
    assert 'prognos_work_orders_created_total{source="alert"} 2.0' in text


def test_messages_published_while_the_cloud_is_down_arrive_later(
    state: CloudState, world: World, any_broker: Broker
) -> None:
    with worker(state, any_broker, "cloud-a"):
        pass  # the broker now knows the persistent session and its shared subscription
    with publisher(any_broker) as pub:
        publish_all(pub, _summaries(25))
    with worker(state, any_broker, "cloud-a") as w:
        eventually(lambda: w.handled == 25, timeout=20)
    assert _count(state, TelemetrySummary) == 25


def test_poison_message_is_dead_lettered_once_and_the_stream_goes_on(
    state: CloudState, world: World, any_broker: Broker
) -> None:
    topic, _ = _summaries(1)[0]
    with worker(state, any_broker, "cloud-a") as w, publisher(any_broker) as pub:
        publish_all(pub, [(topic, b"{not json"), *_summaries(5)])
        eventually(lambda: w.handled == 6, timeout=20)
    with worker(state, any_broker, "cloud-a") as w:  # acked: not redelivered on reconnect
        pass
    assert _count(state, DeadLetter) == 1 and _count(state, TelemetrySummary) == 5
