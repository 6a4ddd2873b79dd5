"""Cloud -> edge commands: a thread that publishes what the rollouts have made due.

Each pass takes the due commands in a transaction (:func:`~cloud.services.rollouts.take_pending`
marks them sent), publishes them retained at QoS 1 and waits for every PUBACK before the
transaction commits. A broker that is away, or a PUBACK that does not come, rolls the
transaction back: the commands stay due and the next pass sends them again, which the edge
takes calmly (it ignores a command it has already carried out). Route handlers call
:meth:`Downlink.poke` after committing a change, so a rollout goes out at once rather than
on the next tick.
"""

from __future__ import annotations

import logging
import threading

from .ingest_mqtt import cloud_mqtt_link
from .services.rollouts import take_pending
from .state import CloudState

__all__ = ["Downlink"]

log = logging.getLogger("prognos.cloud.downlink")


class PublishFailed(Exception):
    """The broker did not acknowledge a command in time."""


class Downlink:
    def __init__(self, state: CloudState, interval_s: float = 2.0) -> None:
        settings = state.settings
        assert settings.mqtt_url, "the downlink needs PROGNOS_MQTT_URL"
        client_id = f"{settings.mqtt_client_name()}-downlink"
        self.link = cloud_mqtt_link(settings, client_id)
        self.state = state
        self.interval_s = interval_s
        self.sent = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cloud-downlink", daemon=True)

    def start(self) -> None:
        self.link.connect()
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)
        self.link.close()

    def send_due(self, timeout_s: float = 5.0) -> int:
        """One pass: publish every due command; how many went out."""
        if not self.link.connected.is_set():
            return 0
        with self.state.sessions.begin() as session:
            commands = take_pending(session, self.state.clock.now())
            # all out at once, then the acks: the transaction (and SQLite's write lock) is held
            # for about one round trip, not one per command
            sent = [
                (cmd, self.link.client.publish(cmd.topic, cmd.payload, qos=1, retain=True))
                for cmd in commands
            ]
            for cmd, info in sent:
                info.wait_for_publish(timeout_s)
                if not info.is_published():
                    raise PublishFailed(f"no PUBACK for {cmd.topic} within {timeout_s} s")
        self.sent += len(commands)
        if commands:
            log.info("rollout commands published", extra={"count": len(commands)})
        return len(commands)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.send_due()
            except Exception as exc:  # noqa: BLE001 - the next pass tries again
                log.warning("rollout commands not sent, will retry: %s", exc)
