"""Edge -> cloud uplink on paho-mqtt 2 (MQTT v5, or 3.1.1 for brokers that speak only
that): drains the outbox in order, QoS 1.

The only module on the edge side that touches paho for sending. Rows are published in
outbox order with a bounded number in flight. When a row's PUBACK arrives the row is
marked published; it leaves the outbox when the cloud confirms it stored that message id
(``.../cmd/stored``, :class:`~firmware_bridge.contract.StoredConfirmation`). Rows the cloud
has not confirmed ``confirm_timeout_s`` after their PUBACK are sent again, with the wait
doubling (to an hour) while no confirmation at all arrives, so a cloud that is away for
long is not flooded with copies. After a disconnect the in-flight bookkeeping is dropped
and draining restarts from the oldest unsent row, so an outage replays everything in
order (some rows possibly twice; the cloud dedups by id).
A retained last will on the status topic tells the cloud when the agent is gone. The same
connection hears the agent's downlink (model rollout commands, see :meth:`subscribe`).

A clustered broker tier (docs/scale.md) is several nodes: given ``failover`` addresses, a
connection that drops or cannot be made moves on to the next node in turn, so a dead node
costs a reconnect, not an outage until it is back.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from firmware_bridge.contract import AgentStatus, StoredConfirmation, edge_topic, stored_topic
from mqtt_client import BrokerAddress, MqttError, secure_client

from .errors import ConfigError
from .outbox import Outbox

__all__ = ["MqttUplink"]

log = logging.getLogger(__name__)


class MqttUplink:
    def __init__(
        self,
        outbox: Outbox,
        broker: BrokerAddress,
        *,
        tenant: str,
        agent_id: str,
        tls: bool = False,
        ca_file: Path | None = None,
        client_cert: Path | None = None,
        client_key: Path | None = None,
        client_id: str | None = None,
        max_inflight: int = 50,
        confirm_by_cloud: bool = True,
        confirm_timeout_s: float = 60.0,
        mqtt_version: Literal["5", "3.1.1"] = "5",
        puback_timeout_s: float = 30.0,
        failover: Sequence[BrokerAddress] = (),
    ) -> None:
        self.outbox = outbox
        self.broker = broker  # the node connected to, or tried next
        self.nodes = [broker, *failover]
        self.failovers = 0  # moves to another node after a drop or a failed connect
        self.max_inflight = max_inflight
        self.confirm_by_cloud = confirm_by_cloud
        self.confirm_timeout_s = confirm_timeout_s
        self.puback_timeout_s = puback_timeout_s
        self._last_puback = time.monotonic()  # or the last connect, or the last idle moment
        self.stalls = 0  # reconnects because the broker stopped acknowledging
        self._wait_s = confirm_timeout_s  # grows while the cloud confirms nothing
        self._next_requeue = 0.0
        self.status_topic = edge_topic(tenant, agent_id, "status")
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"prognos-edge-{agent_id}",
            protocol=mqtt.MQTTv5 if mqtt_version == "5" else mqtt.MQTTv311,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        try:
            secure_client(
                self.client,
                username=broker.username,  # the login travels with the address, as for every client
                password=broker.password,
                tls=tls,
                ca_file=ca_file,
                client_cert=client_cert,
                client_key=client_key,
            )
        except MqttError as exc:
            raise ConfigError(f"uplink {exc}") from None
        offline = AgentStatus(agent_id=agent_id, state="offline").model_dump_json()
        self.client.will_set(self.status_topic, offline, qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.subscriptions: dict[str, Callable[[bytes], None]] = {}  # downlink topic -> handler
        self.agent_id = agent_id
        self.connected = threading.Event()
        self.acked = 0  # PUBACKs
        self.confirmed = 0  # rows the cloud confirmed (stored or refused for good)
        self.refused = 0  # of those, refused: each is logged with the cloud's reason
        self.resent = 0  # rows sent again because no confirmation came
        self.store_errors = 0  # outbox writes that failed on the network thread (a full disk)
        self._status: AgentStatus | None = None  # the latest report, sent again on reconnect
        self.connects = 0
        self._lock = threading.Lock()
        self._inflight: dict[int, int] = {}  # mid -> outbox seq
        self._early: set[int] = set()  # PUBACKs that beat the bookkeeping of their publish
        self._last_seq = 0  # highest outbox seq handed to paho since the last (re)connect
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="uplink", daemon=True)
        if confirm_by_cloud:
            self.subscribe(stored_topic(tenant, agent_id), self._on_stored)

    def start(self) -> None:
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()
        self._thread.start()

    def notify(self) -> None:
        """New rows are in the outbox."""
        self._wake.set()

    def stop(self, drain_timeout: float = 5.0) -> None:
        deadline = time.monotonic() + drain_timeout
        while self.connected.is_set() and self.outbox.size() and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        self._thread.join(5)
        if self.connected.is_set():
            last = self._status or AgentStatus(agent_id=self.agent_id, state="online")
            offline = last.model_copy(update={"state": "offline", "at": time.time()}).model_dump_json()
            self.client.publish(self.status_topic, offline, qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    # paho callbacks run on paho's network thread
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.warning("uplink refused: %s", reason_code)
            return
        self.connects += 1
        with self._lock:
            self._inflight.clear()
            self._early.clear()
            self._last_seq = 0  # replay from the oldest unsent row
            self._last_puback = time.monotonic()
        status = self._status or AgentStatus(agent_id=self.agent_id, state="online", at=time.time())
        client.publish(self.status_topic, status.model_dump_json(), qos=1, retain=True)
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        self.connected.set()
        self._wake.set()

    def report(self, status: AgentStatus) -> None:
        """Publish the agent's status (retained; it is also what goes out on reconnect)."""
        self._status = status
        if self.connected.is_set():
            self.client.publish(self.status_topic, status.model_dump_json(), qos=1, retain=True)

    def subscribe(self, topic: str, handler: Callable[[bytes], None]) -> None:
        """Hear a downlink topic (before :meth:`start`); subscribed again on every connect."""
        self.subscriptions[topic] = handler

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        handler = self.subscriptions.get(message.topic)
        if handler is not None:
            handler(message.payload)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self.connected.clear()
        self._next_node()

    def _on_connect_fail(self, client, userdata) -> None:  # type: ignore[no-untyped-def]
        self._next_node()

    def _next_node(self) -> None:
        """Point paho's next reconnect at the next node of the tier (with one node, or while
        stopping, nothing changes). Same login, same session: the cluster shares sessions,
        and the outbox replays whatever the last node did not acknowledge."""
        if len(self.nodes) < 2 or self._stop.is_set():
            return
        self.broker = self.nodes[(self.nodes.index(self.broker) + 1) % len(self.nodes)]
        self.failovers += 1
        log.warning("uplink lost its broker node; trying %s:%d next", self.broker.host, self.broker.port)
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        with self._lock:
            self._last_puback = time.monotonic()
            seq = self._inflight.pop(mid, None)
            if seq is None:
                self._early.add(mid)
        if seq is not None:
            self._acked([seq])
            self._wake.set()

    def _acked(self, seqs: list[int]) -> None:
        # runs on paho's network thread: an exception here would stop it for good ("uplink
        # up, acked 0"), so a write the disk refuses is logged and the rows go again later
        try:
            if self.confirm_by_cloud:
                self.outbox.published(seqs, time.time())  # wall clock: it outlives this process
            else:
                self.outbox.remove(seqs)
        except sqlite3.Error as exc:
            self._store_error(exc)
            return
        self.acked += len(seqs)

    def _store_error(self, exc: Exception) -> None:
        self.store_errors += 1
        if self.store_errors == 1 or self.store_errors % 1000 == 0:
            log.error("outbox write failed in the uplink (%d so far): %s", self.store_errors, exc)
        with self._lock:
            self._last_seq = 0  # what could not be marked is sent again from the oldest row

    def _on_stored(self, payload: bytes) -> None:
        try:
            note = StoredConfirmation.model_validate_json(payload)
        except ValueError as exc:
            log.warning("ignoring a confirmation that is not one: %s", str(exc).splitlines()[0])
            return
        for message_id, reason in note.refused.items():
            log.warning("the cloud refused message %s for good: %s", message_id, reason)
        try:
            self.confirmed += self.outbox.confirm([*note.stored, *note.refused])
        except sqlite3.Error as exc:  # the rows stay; the cloud confirms them again when resent
            self._store_error(exc)
            return
        self.refused += len(note.refused)
        self._wait_s = self.confirm_timeout_s  # the cloud is there: back to the short wait
        self._wake.set()

    def _requeue_unconfirmed(self) -> None:
        """Rows published long enough ago and still unconfirmed go out again."""
        now = time.time()
        if not self.confirm_by_cloud or now < self._next_requeue:
            return
        self._next_requeue = now + min(self._wait_s, 5.0)
        try:
            again = self.outbox.requeue(now - self._wait_s)
        except sqlite3.Error as exc:
            self._store_error(exc)
            return
        if again:
            log.info("%d messages unconfirmed after %.0f s: sending them again", again, self._wait_s)
            self.resent += again
            self._wait_s = min(self._wait_s * 2, 3600.0)
            with self._lock:
                self._last_seq = 0  # they are older than the cursor

    def _stalled(self) -> bool:
        """A broker that takes publishes and stops acknowledging them (NATS's MQTT listener
        while its cluster elects a leader) holds them in flight for ever: MQTT resends
        unacknowledged messages only on a new connection. So after ``puback_timeout_s``
        without a PUBACK while messages are in flight, reconnect; the connect replays from
        the oldest row not yet acknowledged."""
        with self._lock:
            if not self._inflight:
                self._last_puback = time.monotonic()
                return False
            waited = time.monotonic() - self._last_puback
            if waited < self.puback_timeout_s:
                return False
            self._last_puback = time.monotonic()  # one reconnect per timeout
            held = len(self._inflight)
        self.stalls += 1
        log.warning("broker acknowledged none of %d messages in %.0f s: reconnecting", held, waited)
        self.connected.clear()
        try:
            self.client.reconnect()
        except (OSError, ValueError) as exc:  # paho's own loop keeps trying
            log.warning("reconnect failed: %s", exc)
        return True

    def _pump(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            if not self.connected.is_set():
                continue
            self._requeue_unconfirmed()
            if self._stalled():
                continue
            with self._lock:
                room = self.max_inflight - len(self._inflight)
                after = self._last_seq
            if room <= 0:
                continue
            for row in self.outbox.pending(limit=room, after_seq=after):
                info = self.client.publish(row.topic, row.payload, qos=1)
                if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break  # not connected any more: the next connect replays from the oldest row
                with self._lock:
                    self._last_seq = row.seq
                    early = info.mid in self._early
                    self._early.discard(info.mid)
                    if not early:
                        self._inflight[info.mid] = row.seq
                if early:
                    self._acked([row.seq])
