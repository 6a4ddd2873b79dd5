"""The embedded broker over real sockets with paho clients: what the rest of the system relies on.

The system's own MQTT components (ingest worker, reader, sink) also run on it, in
tests/cloud/test_ingest_mqtt.py and tests/integration/test_mqtt_mosquitto.py, next to mosquitto.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from prognos.embedded_broker import EmbeddedBroker
from tests.support.threads import eventually


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


class Client:
    """A paho client that records what it receives."""

    def __init__(
        self,
        broker: EmbeddedBroker,
        client_id: str,
        *,
        v5: bool = True,
        will: tuple[str, bytes] | None = None,
    ) -> None:
        proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=proto)
        self.got: list[tuple[str, bytes, bool]] = []
        self.subscribed = threading.Event()
        self.c.on_message = lambda c, u, m: self.got.append((m.topic, m.payload, bool(m.retain)))
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        if will:
            self.c.will_set(will[0], will[1], qos=1, retain=True)
        self.c.connect(broker.host, broker.port, keepalive=30)
        self.c.loop_start()

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.c.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_retained_status_and_last_will_reach_a_late_subscriber(broker: EmbeddedBroker) -> None:
    agent = Client(broker, "edge-1", will=("prognos/v1/acme/edge/edge-1/status", b"offline"))
    agent.publish("prognos/v1/acme/edge/edge-1/status", b"online", retain=True)
    watcher = Client(broker, "watcher")
    watcher.subscribe("prognos/v1/acme/edge/+/status")
    assert eventually(lambda: watcher.got == [("prognos/v1/acme/edge/edge-1/status", b"online", True)], 5)
    agent.c._sock.close()  # type: ignore[union-attr]  # the agent vanishes: no DISCONNECT
    agent.c.loop_stop()
    assert eventually(lambda: len(watcher.got) == 2, 5)
    assert watcher.got[1][1] == b"offline"
    late = Client(broker, "late")
    late.subscribe("prognos/v1/acme/edge/+/status")
    assert eventually(lambda: late.got == [("prognos/v1/acme/edge/edge-1/status", b"offline", True)], 5)
    watcher.close()
    late.close()


def test_a_normal_disconnect_sends_no_will(broker: EmbeddedBroker) -> None:
    watcher = Client(broker, "watcher")
    watcher.subscribe("status/#")
    agent = Client(broker, "agent", will=("status/agent", b"gone"))
    agent.close()
    probe = Client(broker, "probe")
    probe.publish("status/probe", b"here")
    assert eventually(lambda: len(watcher.got) == 1, 5)
    assert watcher.got[0][1] == b"here"
    watcher.close()
    probe.close()


def test_mqtt_311_and_5_clients_talk_to_each_other(broker: EmbeddedBroker) -> None:
    old = Client(broker, "old-device", v5=False)
    new = Client(broker, "new-edge")
    new.subscribe("prognos/v1/acme/+/telemetry")
    old.subscribe("cmd/#")
    old.publish("prognos/v1/acme/pump-1/telemetry", b'{"seq": 1}')
    new.publish("cmd/pump-1", b"reset")
    assert eventually(lambda: new.got == [("prognos/v1/acme/pump-1/telemetry", b'{"seq": 1}', False)], 5)
    assert eventually(lambda: old.got == [("cmd/pump-1", b"reset", False)], 5)
    old.close()
    new.close()


def test_a_client_sending_garbage_is_cut_off_and_nobody_else_notices(broker: EmbeddedBroker) -> None:
    sub = Client(broker, "sub")
    sub.subscribe("t")
    with socket.create_connection((broker.host, broker.port)) as raw:
        raw.sendall(b"\x10\x0a\x00\x04XXXX\x05\x02\x00\x3c")  # a CONNECT for protocol "XXXX"
        raw.settimeout(5)
        refusal = raw.recv(200)
        assert refusal[0] == 0x20 and refusal[3] == 0x84  # CONNACK: unsupported protocol version
        assert raw.recv(100) == b""  # and closed
    pub = Client(broker, "pub")
    pub.publish("t", b"still fine")
    assert eventually(lambda: sub.got == [("t", b"still fine", False)], 5)
    assert broker.stats.malformed == 1
    sub.close()
    pub.close()


def test_the_same_client_id_takes_the_session_over(broker: EmbeddedBroker) -> None:
    first = Client(broker, "same")
    first.c.reconnect_delay_set(30, 60)  # do not fight back for the id during the test
    second = Client(broker, "same")
    second.subscribe("t")
    pub = Client(broker, "pub")
    pub.publish("t", b"x")
    assert eventually(lambda: second.got == [("t", b"x", False)], 5)
    assert first.got == []
    for c in (first, second, pub):
        c.close()
