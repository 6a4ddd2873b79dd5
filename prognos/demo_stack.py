"""Everything ``prognos demo`` runs besides the fleet, started in order and stopped in reverse.

    fleet (serial devices) --frames--> pty --SerialReader--> bridge --MQTT--+
    fleet (MQTT devices) ---------------------------------------------MQTT--+--> broker
    broker --device topics--> edge agent process (detection, alerts, summaries, outbox) --MQTT--> broker
    broker --edge topics ($share)--> cloud ingest --> SQLite --> REST API and pages (uvicorn)

The cloud's clock follows the simulation (:meth:`DemoStack.follow`), so SLA deadlines,
countdowns and "offline" are measured in simulated time, as they would be in the field.
Everything runs in this process's threads except mosquitto and the edge agent's own
process (see ``edge/process.py``); stopping is one call and leaves nothing behind.
Without mosquitto (or with ``--broker embedded``) the broker is the embedded Python one,
in a thread (``prognos/embedded_broker``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cloud.app import create_app
from cloud.clock import ManualClock
from cloud.db.migrate import upgrade
from cloud.seed import SeedReport, seed_fleet
from cloud.server_thread import ServerThread
from cloud.settings import Settings
from cloud.state import CloudState
from cloud.workers import Workers
from edge.config import EdgeConfig, SourceConfig, UplinkConfig
from edge.process import EdgeProcess
from firmware_bridge.bridge import SerialMqttBridge
from firmware_bridge.mqtt_link import BrokerAddress
from firmware_bridge.serial_reader import SerialReader
from simulators.field_crew import FieldCrew
from simulators.fleet import FleetSpec
from simulators.pty_link import PtyLink
from simulators.workshop import Workshop

from .broker import MosquittoBroker, find_mosquitto
from .embedded_broker import EmbeddedBroker

__all__ = ["DemoStack"]

SUMMARY_EVERY_S = 3600.0  # the edge's telemetry summaries: hourly in simulated time
MAX_BEHIND = 20_000  # device messages the edge may lag behind the fleet before it waits


@dataclass
class DemoStack:
    fleet: FleetSpec
    workdir: Path
    port: int | None = None
    engineers: int | None = None
    broker_kind: str = "auto"  # auto (mosquitto when installed) | mosquitto | embedded
    broker: MosquittoBroker | EmbeddedBroker | None = None
    clock: ManualClock = field(init=False)
    workshop: Workshop = field(default_factory=Workshop)  # the crew's repairs, into the fleet
    state: CloudState | None = None
    seed: SeedReport | None = None
    url: str = ""
    link: PtyLink | None = None
    reader: SerialReader | None = None
    bridge: SerialMqttBridge | None = None
    edge: EdgeProcess | None = None
    _server: ServerThread | None = None
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock = ManualClock(datetime.fromtimestamp(self.fleet.start, UTC))

    @property
    def address(self) -> BrokerAddress:
        assert self.broker is not None
        return BrokerAddress(self.broker.host, self.broker.port)

    @property
    def workers(self) -> Workers:
        assert self._server is not None
        return self._server.app.state.workers  # type: ignore[no-any-return]

    def start(self) -> DemoStack:
        binary = find_mosquitto()
        if self.broker_kind == "mosquitto" and binary is None:
            raise RuntimeError(
                "mosquitto is not installed (apt-get install mosquitto); try --broker embedded"
            )
        if self.broker_kind == "embedded" or binary is None:
            self.broker = EmbeddedBroker().start()
        else:
            self.broker = MosquittoBroker(binary, persistence=False).start()
        self._start_cloud()
        self._start_edge()
        return self

    def _start_cloud(self) -> None:
        cloud_dir = self.workdir / "cloud"
        cloud_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings(
            data_dir=cloud_dir,
            mqtt_url=f"mqtt://{self.broker.host}:{self.broker.port}",  # type: ignore[union-attr]
            mqtt_client_id="prognos-demo-cloud",
            scheduler_interval_s=1.0,
            log_json=True,
            log_level="WARNING",
            offline_after_s=3 * SUMMARY_EVERY_S,
        )
        upgrade(settings.db_url)
        self.state = CloudState.build(settings, self.clock)
        crew = self.engineers or max(4, len(self.fleet.devices) // 4)
        with self.state.sessions.begin() as s:
            manifest = [d.as_record() for d in self.fleet.devices]
            self.seed = seed_fleet(
                s, manifest, self.clock.now(), settings.secret_key, tenant=self.fleet.tenant,
                engineers=crew, seed=self.fleet.seed,
            )  # fmt: skip
        app = create_app(settings, start_workers=True, state=self.state)
        self._server = ServerThread(app, self.port or 0).start()
        ingest = self.workers.ingest
        if ingest is None or not ingest.subscribed.wait(10):
            raise RuntimeError("the cloud's ingest did not subscribe to the broker")
        self.url = self._server.url

    def _start_edge(self) -> None:
        broker = f"{self.broker.host}:{self.broker.port}"  # type: ignore[union-attr]
        self.link = PtyLink(self.workdir / "ttyGATEWAY0")
        self.reader = SerialReader(self.link.path, tenant=self.fleet.tenant)
        self.bridge = SerialMqttBridge(self.reader, self.address, tenant=self.fleet.tenant)
        self._spawn("bridge", self.bridge.run)
        config = EdgeConfig(
            data_dir=self.workdir / "edge",
            tenant=self.fleet.tenant,
            agent_id="edge-1",
            summary_every_s=SUMMARY_EVERY_S,
            sources=[SourceConfig(kind="mqtt", broker=broker)],
            uplink=UplinkConfig(broker=broker, client_id="prognos-demo-edge"),
        )
        self.edge = EdgeProcess(config).start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.reader.opens == 0:
            time.sleep(0.02)  # pyserial flushes input on open: send nothing before

    def _spawn(self, name: str, target: object) -> None:
        thread = threading.Thread(target=target, name=f"demo-{name}", daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def field_crew(self) -> FieldCrew:
        """Simulated engineers (every seeded one) and a dispatcher, working through the API."""
        assert self.seed is not None
        engineers = {
            int(name.split(":")[1]): token
            for name, token in self.seed.tokens.items()
            if name.startswith("engineer:")
        }
        return FieldCrew(
            self.url, engineers, self.seed.tokens["dispatcher"], self.fleet, workshop=self.workshop
        )

    def follow(self, sim_time: float) -> None:
        """The fleet has reached ``sim_time``: the cloud's clock moves there too."""
        self.clock.advance_to(datetime.fromtimestamp(sim_time, UTC))

    def keep_up(self, sent: int, should_stop: Callable[[], bool]) -> None:
        """Hold the fleet back while the edge is more than ``MAX_BEHIND`` messages behind it.

        Devices on MQTT get no backpressure from a slow consumer: the broker would queue
        for the agent until its limit and then drop. Pausing the simulation instead keeps
        "at up to --speed" honest on a small machine without losing a sample.
        """
        assert self.edge is not None
        while not should_stop():
            received = sum(self.edge.stats().get("received", {}).values())
            if sent - received <= MAX_BEHIND:
                return
            if not self.edge.alive():
                raise RuntimeError("the edge agent's process has exited; see its log above")
            time.sleep(0.05)

    def drain(self, timeout: float = 600.0, quiet: float = 2.0) -> bool:
        """Wait until what the fleet sent has been through the edge and into the cloud."""
        deadline = time.monotonic() + timeout
        assert self.edge is not None
        while time.monotonic() < deadline and self.edge.alive():
            if self.edge.idle():
                ingest = self.workers.ingest
                return ingest is None or ingest.wait_idle(max(1.0, deadline - time.monotonic()), quiet=quiet)
        return False

    def stop(self) -> None:
        """Reverse order of start; every step tolerates the ones before having failed."""
        if self.reader is not None:
            self.reader.stop()
        if self.bridge is not None:
            self.bridge.stop()
        if self.edge is not None:
            self.edge.stop()
        if self._server is not None:
            self._server.stop()  # the app's lifespan stops ingest and scheduler
        for thread in self._threads:
            thread.join(15)
        if self.link is not None:
            self.link.close()
        if self.broker is not None:
            self.broker.stop()
