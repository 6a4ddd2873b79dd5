"""Serial-to-MQTT gateway: decode frames from a serial line, republish them as JSON.

For devices that only speak serial: every admitted message goes out with QoS 1 on
``prognos/v1/{tenant}/{device_id}/telemetry`` in the same JSON form a device that
publishes directly would use, so the edge reads both kinds of device one way.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable

from paho.mqtt.enums import MQTTErrorCode

from mqtt_client import BrokerAddress, ConnectedClient

from .json_codec import message_to_json
from .messages import DeviceMessage
from .serial_reader import SerialReader
from .topics import device_topic

__all__ = ["SerialMqttBridge"]

log = logging.getLogger(__name__)


class SerialMqttBridge:
    """Run a :class:`SerialReader` and publish what it yields.

    While the broker is away the bridge keeps up to ``max_queued`` messages in its own
    FIFO and sends them, oldest first, before anything newer once connected again (paho's
    own offline queue would let newer messages overtake them). Beyond that bound new
    messages are refused and counted as ``publish_refused``; the durable store-and-forward
    outbox is the edge agent's job, not the gateway's.
    """

    def __init__(
        self,
        reader: SerialReader,
        broker: BrokerAddress,
        *,
        tenant: str = "default",
        client_id: str | None = None,
        max_queued: int = 100_000,
    ) -> None:
        self.reader = reader
        self.tenant = tenant
        self.link = ConnectedClient(broker, client_id or f"prognos-bridge-{uuid.uuid4().hex[:8]}")
        self.max_queued = max_queued
        self._backlog: deque[DeviceMessage] = deque()
        self.published = 0
        self.acknowledged = 0
        self.publish_refused = 0
        self.link.client.on_publish = self._on_publish

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self.acknowledged += 1  # PUBACK received: the broker has it

    def flush(self, timeout: float = 10.0) -> bool:
        """Send the backlog and wait for every acknowledgement, so a shutdown loses nothing."""
        deadline = time.monotonic() + timeout
        while (self._backlog or self.acknowledged < self.published) and time.monotonic() < deadline:
            self._drain()
            time.sleep(0.02)
        return not self._backlog and self.acknowledged >= self.published

    def publish(self, msg: DeviceMessage) -> bool:
        """Send ``msg`` after everything older; keep it in the backlog while disconnected."""
        if len(self._backlog) >= self.max_queued:
            self.publish_refused += 1
            return False
        self._backlog.append(msg)
        self._drain()
        return True

    def _drain(self) -> None:
        while self._backlog and self.link.connected.is_set():
            msg = self._backlog[0]
            topic = device_topic(self.tenant, msg.device_id)
            info = self.link.client.publish(topic, message_to_json(msg), qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return  # the connection dropped under us: keep the message, retry later
            self._backlog.popleft()
            self.published += 1

    def run(self, on_message: Callable[[DeviceMessage], None] | None = None) -> None:
        """Bridge until the reader is stopped (e.g. by a signal handler calling ``stop``)."""
        self.link.connect()
        try:
            for msg in self.reader.messages():
                self.publish(msg)
                if on_message is not None:
                    on_message(msg)
        finally:
            if not self.flush():
                unsent = len(self._backlog) + self.published - self.acknowledged
                log.warning("%d messages unsent or unacknowledged at shutdown", unsent)
            self.link.close()

    def stop(self) -> None:
        self.reader.stop()

    def stats(self) -> dict[str, object]:
        return {
            "published": self.published,
            "acknowledged": self.acknowledged,
            "backlog": len(self._backlog),
            "publish_refused": self.publish_refused,
            "mqtt_connects": self.link.connects,
            "serial": self.reader.stats(),
        }
