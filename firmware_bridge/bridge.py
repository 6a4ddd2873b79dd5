"""Serial-to-MQTT gateway: decode frames from a serial line, republish them as JSON.

For devices that only speak serial: every admitted message goes out with QoS 1 on
``prognos/v1/{tenant}/{device_id}/telemetry`` in the same JSON form a device that
publishes directly would use, so the edge reads both kinds of device one way.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from paho.mqtt.enums import MQTTErrorCode

from .json_codec import message_to_json
from .messages import DeviceMessage
from .mqtt_link import BrokerAddress, ConnectedClient
from .serial_reader import SerialReader
from .topics import device_topic

__all__ = ["SerialMqttBridge"]

log = logging.getLogger(__name__)


class SerialMqttBridge:
    """Run a :class:`SerialReader` and publish what it yields.

    While the broker is away paho queues up to ``max_queued`` messages in memory and
    sends them after reconnecting; beyond that the oldest policy is paho's refusal, which
    is counted as ``publish_refused`` (the durable store-and-forward outbox is the edge
    agent's job, not the gateway's).
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
        self.link.client.max_queued_messages_set(max_queued)
        self.published = 0
        self.publish_refused = 0

    def publish(self, msg: DeviceMessage) -> bool:
        topic = device_topic(self.tenant, msg.device_id)
        info = self.link.client.publish(topic, message_to_json(msg), qos=1)
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            # NO_CONN: paho keeps the QoS 1 message queued and sends it on reconnect.
            self.published += 1
            return True
        self.publish_refused += 1
        log.warning("publish refused (%s) for %s", info.rc, topic)
        return False

    def run(self, on_message: Callable[[DeviceMessage], None] | None = None) -> None:
        """Bridge until the reader is stopped (e.g. by a signal handler calling ``stop``)."""
        self.link.connect()
        try:
            for msg in self.reader.messages():
                self.publish(msg)
                if on_message is not None:
                    on_message(msg)
        finally:
            self.link.close()

    def stop(self) -> None:
        self.reader.stop()

    def stats(self) -> dict[str, object]:
        return {
            "published": self.published,
            "publish_refused": self.publish_refused,
            "mqtt_connects": self.link.connects,
            "serial": self.reader.stats(),
        }
