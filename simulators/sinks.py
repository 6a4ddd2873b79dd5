"""Transports a simulated device speaks: binary frames on a serial line, MQTT publishes."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping

import numpy as np

from firmware_bridge import DeviceMessage, device_topic, encode, message_to_frame, message_to_json
from firmware_bridge.contract import broker_username
from mqtt_client import BrokerAddress, ConnectedClient

from .fleet import FleetSpec
from .pty_link import PtyLink
from .stream import MessageSink

__all__ = ["ListSink", "MqttSink", "SerialSink", "route_by_transport"]


class SerialSink:
    """Frames through the real codec onto a pty, as device firmware would write its UART.

    ``noise`` is the chance that a burst of random bytes (electrical noise on a long
    RS-485 run) is written before a frame; the burst ends in a delimiter, so the decoder
    must drop it and still recover the frame that follows.
    """

    def __init__(self, link: PtyLink, *, noise: float = 0.0, seed: int = 0) -> None:
        self.link = link
        self.noise = noise
        self.frames = 0
        self.noise_bursts = 0
        self._rng = np.random.default_rng([seed, 0x4015E])

    def send(self, msg: DeviceMessage) -> None:
        if self.noise and self._rng.uniform() < self.noise:
            burst = self._rng.integers(0, 256, int(self._rng.integers(1, 48)), dtype=np.uint8).tobytes()
            self.link.write(burst + b"\x00")
            self.noise_bursts += 1
        if self.link.write(encode(message_to_frame(msg))):
            self.frames += 1

    def close(self) -> None:
        self.link.close()


class MqttSink:
    """Publishes each message on its device topic with QoS 1, as JSON or a binary frame.

    Without ``passwords`` one client publishes for the whole fleet (a broker that takes
    anonymous clients). With them (device id -> its broker password, as the cloud issued
    them) each device connects as itself, ``device.{tenant}.{id}``, as real devices do on a
    broker whose ACL lets a login publish only its own topics.
    """

    def __init__(
        self,
        broker: BrokerAddress,
        tenant: str,
        *,
        binary: bool = False,
        passwords: Mapping[str, str] | None = None,
        window: int = 2_000,
    ) -> None:
        """``window``: at most this many publishes not yet acknowledged by the broker; a
        faster fleet waits for PUBACKs (flow control) instead of queueing without end."""
        self.tenant = tenant
        self.binary = binary
        self.broker = broker
        self.passwords = dict(passwords) if passwords is not None else None
        self.window = window
        self.published = 0
        self.acknowledged = 0
        self._acked = threading.Lock()  # PUBACKs arrive on each device's network thread
        self._links: dict[str | None, ConnectedClient] = {}
        self._started = False
        if self.passwords is None:
            self._open(None)

    def _open(self, device_id: str | None) -> ConnectedClient:
        broker = self.broker
        if device_id is not None and self.passwords is not None:
            password = self.passwords.get(device_id)
            if password is None:
                raise KeyError(f"no broker login for device {device_id!r}")
            broker = broker.login(broker_username("device", self.tenant, device_id), password)
        link = ConnectedClient(broker, f"prognos-sim-{device_id or uuid.uuid4().hex[:8]}")
        link.client.max_queued_messages_set(0)  # unbounded: the simulator must not lose data
        link.client.max_inflight_messages_set(200)
        link.client.on_publish = self._on_publish
        self._links[device_id] = link
        if self._started:
            link.connect()
        return link

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        with self._acked:  # paho calls this on its network thread once PUBACK arrives
            self.acknowledged += 1

    def start(self, timeout: float = 10.0) -> bool:
        self._started = True
        for link in self._links.values():
            link.connect()
        return all(link.wait_connected(timeout) for link in self._links.values())

    def send(self, msg: DeviceMessage) -> None:
        while self.published - self.acknowledged >= self.window and self._started:
            time.sleep(0.001)  # flow control: the broker has not caught up
        key = msg.device_id if self.passwords is not None else None
        link = self._links.get(key) or self._open(key)
        payload = encode(message_to_frame(msg)) if self.binary else message_to_json(msg)
        link.client.publish(device_topic(self.tenant, msg.device_id), payload, qos=1)
        self.published += 1

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every QoS 1 publish is acknowledged (or the timeout passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.acknowledged >= self.published:
                return True
            time.sleep(0.02)
        return False

    @property
    def unacknowledged(self) -> int:
        return self.published - self.acknowledged

    def close(self, timeout: float = 30.0) -> None:
        """Wait (up to ``timeout``) for the broker to acknowledge what was published, then
        disconnect; :attr:`unacknowledged` says what may not have arrived."""
        self.flush(timeout)
        for link in self._links.values():
            link.close()


class ListSink:
    """Collects messages in memory (tests, and the demo's accounting)."""

    def __init__(self) -> None:
        self.messages: list[DeviceMessage] = []

    def send(self, msg: DeviceMessage) -> None:
        self.messages.append(msg)

    def close(self) -> None:
        pass


def route_by_transport(fleet: FleetSpec, by_transport: dict[str, MessageSink]) -> dict[str, MessageSink]:
    """Each device's sink: the one for its transport, else the first one given."""
    if not by_transport:
        raise ValueError("no output: give a serial line and/or an MQTT broker")
    fallback = next(iter(by_transport.values()))
    return {d.device_id: by_transport.get(d.transport, fallback) for d in fleet.devices}
