"""The one place that builds paho-mqtt clients: callback API v2, MQTT v5, backoff.

Readers, the bridge and the simulator all get their client here, so protocol version,
reconnect policy and error translation are decided once.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

__all__ = ["BrokerAddress", "ConnectedClient", "MqttError", "parse_broker", "secure_client"]


class MqttError(Exception):
    """The MQTT client reported an error it cannot recover from on its own (a TLS file that
    cannot be loaded); firmware_bridge's error tree places it under ``TransportError``."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where a client connects, and as whom (a login the cloud issued; see docs/security.md)."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in logs or reprs

    def login(self, username: str | None, password: str | None) -> BrokerAddress:
        """The same broker, connecting as ``username``."""
        return replace(self, username=username, password=password)


def parse_broker(text: str) -> BrokerAddress:
    """``"host:port"`` or ``"host"`` (port 1883) -> :class:`BrokerAddress`."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return BrokerAddress(text)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"broker address {text!r} is not HOST:PORT")
    return BrokerAddress(host, int(port))


def parse_brokers(text: str) -> list[BrokerAddress]:
    """``"h1:1883,h2:1883"`` -> the nodes of one broker tier, in the order to try them."""
    parts = [p.strip() for p in text.split(",")]
    if not all(parts):
        raise ValueError(f"broker list {text!r} has an empty entry")
    return [parse_broker(p) for p in parts]


def secure_client(
    client: mqtt.Client,
    *,
    username: str | None = None,
    password: str | None = None,
    tls: bool = False,
    ca_file: Path | None = None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
) -> None:
    """Credentials and TLS for a client, with unreadable files reported as :class:`MqttError`.

    TLS uses the system trust store unless a private CA is named; a client certificate is
    sent only when given (mutual TLS).
    """
    if username:
        client.username_pw_set(username, password)
    if tls or ca_file:
        files = [str(f) if f else None for f in (ca_file, client_cert, client_key)]
        try:
            client.tls_set(ca_certs=files[0], certfile=files[1], keyfile=files[2])
        except (OSError, ssl.SSLError) as exc:
            named = ", ".join(f for f in files if f) or "system trust store"
            raise MqttError(f"TLS: cannot load {named}: {exc}") from None


class ConnectedClient:
    """A paho client running its network loop in a thread, with connection state exposed.

    ``connect()`` returns at once; paho keeps reconnecting with backoff (1 s doubling
    to 30 s by default) while the broker is away. ``on_connected`` callbacks run after
    every (re)connect, which is where subscriptions belong.
    """

    def __init__(
        self,
        broker: BrokerAddress,
        client_id: str,
        *,
        keepalive: int = 30,
        reconnect_min: int = 1,
        reconnect_max: int = 30,
        manual_ack: bool = False,
    ) -> None:
        self.broker = broker
        self.keepalive = keepalive
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack
        )
        self.client.reconnect_delay_set(min_delay=reconnect_min, max_delay=reconnect_max)
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.connected = threading.Event()
        self.connects = 0
        self.disconnects = 0
        self.last_error: str | None = None  # why the last attempt failed or the link dropped
        self.on_connected: list[Callable[[], None]] = []

    def connect(
        self, clean_start: bool | int = mqtt.MQTT_CLEAN_START_FIRST_ONLY, properties: object = None
    ) -> None:
        """Start the network thread and connect in the background."""
        # connect_async raises on bad arguments and returns nothing; errors arrive in callbacks
        self.client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=self.keepalive,
            clean_start=clean_start,  # type: ignore[arg-type]
            properties=properties,  # type: ignore[arg-type]
        )
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def close(self) -> None:
        """Disconnect cleanly and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            self.last_error = f"refused: {reason_code}"
            return
        self.last_error = None
        self.connects += 1
        for callback in self.on_connected:
            callback()
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self.disconnects += 1
        self.connected.clear()
        if reason_code.is_failure:
            self.last_error = f"disconnected: {reason_code}"

    def _on_connect_fail(self, client, userdata) -> None:  # type: ignore[no-untyped-def]
        self.last_error = "cannot connect (nothing listening, or the network is down)"
