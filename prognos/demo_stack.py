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

On mosquitto every party logs in as itself, as in the field (docs/security.md): the cloud
issues the logins when it seeds the fleet and writes the broker's password file and ACL,
so each simulated MQTT device may publish only its own topics, the serial bridge only for
the devices of its agent, the agent only its own reports, and anonymous clients are
refused. The embedded broker has no logins and listens on loopback only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from cloud.app import create_app
from cloud.clock import ManualClock
from cloud.db import Tenant
from cloud.db.migrate import upgrade
from cloud.seed import SeedReport, seed_fleet
from cloud.server_thread import ServerThread
from cloud.services.broker_identity import issue_fleet_logins
from cloud.settings import Settings
from cloud.state import CloudState
from cloud.workers import Workers
from edge.config import EdgeConfig, SourceConfig, UplinkConfig
from edge.process import EdgeProcess
from firmware_bridge.bridge import SerialMqttBridge
from firmware_bridge.contract import broker_username, device_passwords
from firmware_bridge.serial_reader import SerialReader
from mqtt_client import BrokerAddress
from simulators.field_crew import FieldCrew
from simulators.fleet import FleetSpec
from simulators.pty_link import PtyLink
from simulators.workshop import Workshop

from .broker import MosquittoBroker, find_mosquitto, free_port
from .embedded_broker import EmbeddedBroker

__all__ = ["DemoStack"]

AGENT_ID = "edge-1"
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
    logins: dict[str, str] = field(default_factory=dict)  # broker username -> password (mosquitto)
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
        secured = not (self.broker_kind == "embedded" or binary is None)
        port = free_port()
        self._prepare_cloud(port, secured)
        if secured:
            auth = self.workdir / "broker-auth"
            self.broker = MosquittoBroker(binary, port=port, auth_dir=auth, persistence=False)
            self.broker.start()
            assert self.state is not None
            self.state.settings.broker_pid_file = self.broker.pid_path  # admin changes apply live
        else:
            self.broker = EmbeddedBroker(port).start()
        self._serve_cloud()
        self._start_edge()
        return self

    def login(self, role: str, subject: str) -> BrokerAddress:
        """The broker, connecting as ``role``/``subject`` (anonymous on the embedded broker)."""
        name = broker_username(role, self.fleet.tenant if role != "cloud" else None, subject)
        return self.address.login(name, self.logins[name]) if name in self.logins else self.address

    def device_passwords(self) -> dict[str, str] | None:
        """Device id -> broker password for the fleet's MQTT devices (None: no logins)."""
        return device_passwords(self.logins, self.fleet.tenant) if self.logins else None

    def _prepare_cloud(self, port: int, secured: bool) -> None:
        """Database, fleet, crew, and (on mosquitto) every party's broker login and the
        password file and ACL the broker starts with."""
        cloud_dir = self.workdir / "cloud"
        cloud_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings(
            data_dir=cloud_dir,
            mqtt_url=f"mqtt://127.0.0.1:{port}",
            mqtt_client_id="prognos-demo-cloud",
            scheduler_interval_s=1.0,
            log_json=True,
            log_level="WARNING",
            offline_after_s=3 * SUMMARY_EVERY_S,
            broker_auth_dir=self.workdir / "broker-auth" if secured else None,
        )
        upgrade(settings.db_url)
        self.state = CloudState.build(settings, self.clock)
        crew = self.engineers or max(4, len(self.fleet.devices) // 4)
        with self.state.sessions.begin() as s:
            manifest = [d.as_record() for d in self.fleet.devices]
            self.seed = seed_fleet(
                s, manifest, self.clock.now(), settings.secret_key, tenant=self.fleet.tenant,
                engineers=crew, seed=self.fleet.seed, agent=AGENT_ID,
            )  # fmt: skip
            if secured:
                tenant = s.scalar(select(Tenant).where(Tenant.slug == self.fleet.tenant))
                assert tenant is not None
                self.logins = issue_fleet_logins(s, tenant, [AGENT_ID], self.clock.now(), cloud="demo")
                self.state.sync_broker(s)
                settings.mqtt_username = broker_username("cloud", None, "demo")
                settings.mqtt_password = self.logins[settings.mqtt_username]

    def _serve_cloud(self) -> None:
        assert self.state is not None
        app = create_app(self.state.settings, start_workers=True, state=self.state)
        self._server = ServerThread(app, self.port or 0).start()
        ingest = self.workers.ingest
        if ingest is None or not ingest.subscribed.wait(10):
            raise RuntimeError("the cloud's ingest did not subscribe to the broker")
        self.url = self._server.url

    def _start_edge(self) -> None:
        broker = f"{self.broker.host}:{self.broker.port}"  # type: ignore[union-attr]
        self.link = PtyLink(self.workdir / "ttyGATEWAY0")
        self.reader = SerialReader(self.link.path, tenant=self.fleet.tenant)
        self.bridge = SerialMqttBridge(self.reader, self.login("bridge", AGENT_ID), tenant=self.fleet.tenant)
        self._spawn("bridge", self.bridge.run)
        agent = self.login("agent", AGENT_ID)
        login = {"username": agent.username, "password": agent.password}
        config = EdgeConfig(
            data_dir=self.workdir / "edge",
            tenant=self.fleet.tenant,
            agent_id=AGENT_ID,
            summary_every_s=SUMMARY_EVERY_S,
            sources=[SourceConfig(kind="mqtt", broker=broker, **login)],
            uplink=UplinkConfig(broker=broker, client_id="prognos-demo-edge", **login),
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
