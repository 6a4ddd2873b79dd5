"""The MQTT side of ingest: a shared subscription, one worker thread, acks after commit.

- ``$share/<group>/prognos/v1/+/edge/+/+``: with MQTT v5 shared subscriptions the broker
  hands each message to one member of the group, so N cloud processes split the stream.
- ``manual_ack=True``: paho's network thread only queues a message; the worker thread takes
  whatever has queued (up to ``ingest_batch_max``), hands it to the
  :class:`~cloud.services.ingest.Ingestor` as one transaction and sends the PUBACKs once it
  committed (a bad message is dead-lettered inside the same transaction). A crash before
  that means redelivery, and the message id makes redelivery harmless. Acks leave in
  arrival order, as MQTT asks. Batches form only under load, so a lone alert is not held.
- ``clean_start=False`` with a session expiry (``PROGNOS_MQTT_SESSION_EXPIRY_S``, 300 s):
  messages published while the worker is briefly away wait in the broker for its client id.
  The client id is unique per process unless configured, so two workers never take each
  other's session; a dead worker's session, and what the broker routed to it, expires, and
  the edge sends again whatever the cloud never confirmed (below): nothing is stranded.
- the database away (``OperationalError``): the worker holds the message unacked and
  retries with backoff; the broker's receive window (``receive_maximum``) bounds the backlog.
- after each commit the worker tells every agent in the batch which of its message ids are
  now stored (or refused for good) on ``.../edge/{agent}/cmd/stored``; the agent keeps an
  outbox row until then and sends it again if no confirmation comes, so what a broker
  drops (its queue for an absent cloud overflowing, a crash between autosaves) is not lost.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import OperationalError

from firmware_bridge.contract import StoredConfirmation, stored_topic
from mqtt_client import BrokerAddress, ConnectedClient, secure_client

from .confirmations import confirmations
from .metrics import Metrics
from .services.ingest import Ingestor, IngestResult
from .settings import Settings

__all__ = ["MqttIngestWorker", "cloud_mqtt_link"]

log = logging.getLogger("prognos.cloud.ingest_mqtt")


@dataclass(frozen=True, slots=True)
class _Delivery:
    topic: str
    payload: bytes
    mid: int
    qos: int


def cloud_mqtt_link(settings: Settings, client_id: str, manual_ack: bool = False) -> ConnectedClient:
    """A client of the cloud's broker with the service's credentials and TLS settings."""
    host, port, tls = settings.mqtt_broker()
    link = ConnectedClient(BrokerAddress(host, port), client_id, manual_ack=manual_ack)
    secure_client(
        link.client,
        username=settings.mqtt_username,
        password=settings.mqtt_password,
        tls=tls,
        ca_file=settings.mqtt_ca_file,
    )
    return link


class MqttIngestWorker:
    def __init__(
        self,
        settings: Settings,
        ingestor: Ingestor,
        metrics: Metrics,
        sink: object | None = None,
    ) -> None:
        assert settings.mqtt_url, "MqttIngestWorker needs PROGNOS_MQTT_URL"
        self.ingestor, self.metrics, self.sink = ingestor, metrics, sink
        self.subscription = f"$share/{settings.mqtt_share_group}/{settings.mqtt_topic}"
        client_id = settings.mqtt_client_name()
        self.link = cloud_mqtt_link(settings, client_id, manual_ack=True)
        self.link.client.on_message = self._on_message
        self.link.client.on_subscribe = self._on_subscribe
        self.link.on_connected.append(self._subscribe)
        self.receive_maximum = settings.mqtt_receive_maximum
        self.session_expiry_s = settings.mqtt_session_expiry_s
        self.batch_max = settings.ingest_batch_max
        self.subscribed = threading.Event()
        self.received = 0  # counted on paho's thread
        self.handled = 0  # counted on the worker thread, after the ack
        self.confirmed = 0  # message ids confirmed to their agents
        self._queue: queue.Queue[_Delivery | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="cloud-ingest", daemon=True)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum
        self._thread.start()
        self.link.connect(clean_start=False, properties=props)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout)
        self.link.close()

    # paho network thread -------------------------------------------------------------

    def _subscribe(self) -> None:
        self.link.client.subscribe(self.subscription, qos=1)
        self._announce()

    def _announce(self) -> None:
        """Tell every known agent the cloud is (back) here with an empty confirmation: an agent
        that has been backing off its resends goes back to the short wait, so what it holds
        unconfirmed arrives within a minute of the cloud's return, not an hour."""
        try:
            agents = self.ingestor.known_agents()
        except Exception:  # noqa: BLE001 - the database may be away; ingest handles that itself
            log.warning("could not list the agents to announce the cloud to", exc_info=True)
            return
        hello = StoredConfirmation(at=time.time()).model_dump_json()
        for tenant, agent in agents:
            self.link.client.publish(stored_topic(tenant, agent), hello, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        if all(not rc.is_failure for rc in reason_codes):
            self.subscribed.set()
        else:
            log.error("subscription %s refused: %s", self.subscription, reason_codes)

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        self.received += 1
        self._queue.put(_Delivery(message.topic, bytes(message.payload), message.mid, message.qos))

    # worker thread ----------------------------------------------------------------------

    def _work(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Delivery | None] = [self._queue.get()]
            while len(batch) < self.batch_max:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = None in batch
            deliveries = [d for d in batch if d is not None]
            if deliveries:
                try:
                    self._handle(deliveries)
                except Exception:  # noqa: BLE001 - the worker outlives one bad batch
                    # left unacked: the broker redelivers it when the session reconnects
                    log.exception("ingest batch of %d failed", len(deliveries))

    def _handle(self, batch: list[_Delivery]) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                results = self.ingestor.handle_batch([(d.topic, d.payload) for d in batch])
                break
            except OperationalError as exc:
                log.error("database unavailable, holding %d messages (retry in %.1fs): %s",
                          len(batch), delay, exc.orig)  # fmt: skip
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
        else:
            return  # stopping: leave them unacked; the broker redelivers to the group
        self._confirm(batch, results)
        for delivery, result in zip(batch, results, strict=True):
            self.metrics.observe_ingest(result)
            if result.summary is not None and self.sink is not None:
                self.sink.write(result.summary)  # type: ignore[attr-defined]
            if delivery.qos > 0:
                self.link.client.ack(delivery.mid, delivery.qos)
        self.handled += len(batch)

    def _confirm(self, batch: list[_Delivery], results: list[IngestResult]) -> None:
        """One :class:`StoredConfirmation` per agent in the batch, after its commit."""
        notes = confirmations([d.topic for d in batch], results)
        for (tenant, agent), note in notes.items():
            self.link.client.publish(stored_topic(tenant, agent), note.model_dump_json(), qos=1)
        self.confirmed += sum(len(n.stored) + len(n.refused) for n in notes.values())

    def wait_idle(self, timeout: float, quiet: float = 0.5) -> bool:
        """True once every message received is handled and acked and nothing new arrived
        for ``quiet`` seconds (tests, benchmarks).

        The quiet period matters: with a receive window the broker sends the next messages
        only after the acks, so "handled == received" alone is also true in that gap.
        """
        deadline = time.monotonic() + timeout
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            if self.received != seen:
                seen, since = self.received, time.monotonic()
            elif self.handled >= seen and time.monotonic() - since >= quiet:
                return True
            time.sleep(0.01)
        return False
