"""MQTT adapter for devices that publish directly: JSON or binary frames, one per message.

Subscribes to ``prognos/v1/{tenant}/+/telemetry`` (``+`` for every tenant). The topic
names the device; a payload that claims another device is rejected, so a device can
only publish as itself. Messages pass the same :class:`MessageGate` as serial ones.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqtt_client import BrokerAddress, ConnectedClient

from .decoder import decode_one
from .frames import FrameError
from .gate import MessageGate
from .json_codec import JsonError, message_from_json
from .messages import DeviceMessage, message_from_frame
from .topics import parse_device_topic, telemetry_filter

__all__ = ["MqttReader", "parse_payload"]

log = logging.getLogger(__name__)


def parse_payload(payload: bytes, device_id: str, tenant: str) -> DeviceMessage | JsonError | FrameError:
    """JSON when the payload starts with ``{``, otherwise one binary v1 frame."""
    if payload.lstrip()[:1] == b"{":
        return message_from_json(payload, device_id, tenant)
    frame = decode_one(payload)
    if isinstance(frame, FrameError):
        return frame
    if frame.device_id != device_id:
        return JsonError("device_mismatch", f"frame says {frame.device_id!r}, topic says {device_id!r}")
    return message_from_frame(frame, tenant)


class MqttReader:
    """Subscribe to device telemetry and hand admitted messages to a consumer.

    paho's network thread parses and gates each message and puts it on a bounded
    queue; :meth:`messages` (or :meth:`get`) takes them out on the caller's thread.
    When the queue is full the network thread blocks, which stops reading from the
    socket, so the broker (QoS 1) holds the backlog instead of this process dropping it.
    """

    def __init__(
        self,
        broker: BrokerAddress,
        *,
        tenant: str | None = None,
        client_id: str | None = None,
        qos: int = 1,
        queue_size: int = 10_000,
        into: queue.Queue[DeviceMessage] | None = None,
        session_expiry_s: int | None = None,
    ) -> None:
        """``client_id`` with ``session_expiry_s``: a persistent session, so what devices send
        while this reader is away (an edge restart) waits in the broker for it; without them
        a clean session with a random id (a tool that reads what is live now)."""
        if session_expiry_s is not None and client_id is None:
            raise ValueError("a persistent session needs a stable client_id")
        self.session_expiry_s = session_expiry_s
        self.topic_filter = telemetry_filter(tenant)
        self.qos = qos
        self.gate = MessageGate()
        self.rejected_topics = 0
        # ``into``: a consumer's own queue (the edge runner's inbox), saving a hop and a thread.
        self._queue: queue.Queue[DeviceMessage] = queue.Queue(maxsize=queue_size) if into is None else into
        self._link = ConnectedClient(broker, client_id or f"prognos-reader-{uuid.uuid4().hex[:8]}")
        self._subscribed = threading.Event()
        self._link.client.on_message = self._on_message
        self._link.client.on_subscribe = self._on_subscribe
        self._link.on_connected.append(self._subscribe)

    def start(self) -> None:
        if self.session_expiry_s is None:
            self._link.connect()
            return
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry_s
        self._link.connect(clean_start=False, properties=props)

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """True once the broker has acknowledged the subscription (SUBACK)."""
        return self._subscribed.wait(timeout)

    def stop(self) -> None:
        self._link.close()

    def get(self, timeout: float | None = None) -> DeviceMessage | None:
        """Next admitted message, or ``None`` after ``timeout`` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def messages(self, idle_timeout: float = 1.0) -> Iterator[DeviceMessage]:
        """Yield messages until none arrives for ``idle_timeout`` seconds."""
        while (msg := self.get(idle_timeout)) is not None:
            yield msg

    def stats(self) -> dict[str, object]:
        return {
            "connects": self._link.connects,
            "disconnects": self._link.disconnects,
            "rejected_topics": self.rejected_topics,
            **self.gate.snapshot(),
        }

    def _subscribe(self) -> None:
        self._subscribed.clear()
        self._link.client.subscribe(self.topic_filter, qos=self.qos)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        if not any(rc.is_failure for rc in reason_codes):
            self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        # Runs on paho's thread: any exception here would kill the loop, so every defect
        # is turned into a counted rejection instead.
        try:
            topic = parse_device_topic(message.topic)
            if topic is None or topic.kind != "telemetry":
                self.rejected_topics += 1
                return
            parsed = parse_payload(bytes(message.payload), topic.device_id, topic.tenant)
            if isinstance(parsed, JsonError):
                self.gate.reject(parsed.kind)
                return
            if isinstance(parsed, FrameError):
                self.gate.reject(f"frame_{parsed.kind.value}")
                return
            admitted = self.gate.admit(parsed)
        except Exception:  # pragma: no cover - a bug, logged and counted, never fatal
            log.exception("failed to handle a message on %s", message.topic)
            self.gate.reject("internal_error")
            return
        if admitted is not None:
            self._queue.put(admitted)
