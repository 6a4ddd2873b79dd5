"""What bench/load.py watches while the fleet runs: an alert probe timing alert -> work
order through the REST API, and a once-a-second sampler of the edges, the database and
every process's CPU and memory."""

from __future__ import annotations

import json
import resource
import statistics
import threading
import time
import urllib.request
from collections import defaultdict
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from bench.edge_messages import alert
from bench.procs import sample
from cloud.db import TelemetrySummary, make_engine, make_session_factory
from prognos.load_stack import PROBE_AGENT, LoadStack
from prognos.load_tally import SentLog
from prognos.progress import Progress

__all__ = ["AlertProbe", "Sampler", "percentiles"]


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ms = sorted(values)

    def at(q: float) -> float:
        return ms[min(len(ms) - 1, int(q * len(ms)))]

    return {
        "n": len(ms),
        "p50": round(statistics.median(ms), 1),
        "p99": round(at(0.99), 1),
        "max": round(ms[-1], 1),
    }


class AlertProbe:
    """Raises an alert every ``every`` seconds on one of the probe's devices, published over
    MQTT to a cluster node as an edge would, and times it until the API lists its order."""

    RESEND_S = 5.0

    def __init__(self, stack: LoadStack, node: int, worker: int, every: float = 0.5) -> None:
        assert stack.cluster is not None
        self.stack, self.worker, self.every = stack, worker, every
        port = stack.cluster.nodes[node].mqtt_port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-probe", protocol=mqtt.MQTTv311
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.latencies_ms: list[float] = []
        self.unanswered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-probe", daemon=True)

    def _orders(self) -> int:
        url = f"{self.stack.url(self.worker)}/api/v1/work-orders?site_id={self.stack.probe_site_id}&limit=1"
        req = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {self.stack.tokens['dispatcher']}"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(json.load(r)["total"])

    def _run(self) -> None:
        seen, i = self._orders(), 0
        while not self._stop.is_set():
            device = self.stack.probe_devices[i % len(self.stack.probe_devices)]
            message = alert(device, i, PROBE_AGENT, self.stack.fleet.tenant, tag="probe")
            t0 = time.perf_counter()
            if self._until_ordered(message, seen, t0):
                seen += 1
            elif not self._stop.is_set():  # cut short by the end of the run: not counted
                self.unanswered += 1
            i += 1
            self._stop.wait(max(0.0, self.every - (time.perf_counter() - t0)))

    def _until_ordered(self, message: tuple[str, bytes], seen: int, t0: float) -> bool:
        """Publish, and publish again every ``RESEND_S`` as an edge's outbox would (a QoS 1
        message taken during a leader election can be lost; the cloud dedups by id), until
        the order is listed; False after 60 s."""
        topic, payload = message
        next_send = t0
        while time.perf_counter() - t0 < 60 and not self._stop.is_set():
            if time.perf_counter() >= next_send:
                self.client.publish(topic, payload, qos=1)
                next_send += self.RESEND_S
            if self._orders() > seen:
                self.latencies_ms.append(1000 * (time.perf_counter() - t0))
                return True
            time.sleep(0.005)
        return False

    def start(self) -> AlertProbe:
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(35)
        self.client.disconnect()
        self.client.loop_stop()
        return {**percentiles(self.latencies_ms), "unanswered": self.unanswered}


class Sampler:
    """Once a second: the edges' stats, the database's count, each process's CPU and RSS."""

    def __init__(self, stack: LoadStack, sent: SentLog, progress: Progress) -> None:
        self.stack, self.sent, self.progress = stack, sent, progress
        self.engine = make_engine(stack.db_url)
        self.sessions = make_session_factory(self.engine)
        self.edge_lag_s: list[float] = []
        self.backlog: list[int] = []
        self.peak_rss: dict[str, float] = defaultdict(float)
        self.snapshots: list[tuple[float, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def snapshot(self) -> dict[str, Any]:
        stats = self.stack.edge_stats()
        with self.sessions() as s:
            stored = s.scalar(select(func.count()).select_from(TelemetrySummary)) or 0
        procs = sample(self.stack.pids())
        for name, p in procs.items():
            self.peak_rss[name] = max(self.peak_rss[name], p.rss_mb)
        return {
            "sent": self.sent.samples,
            "sent_per_agent": dict(self.sent.per_agent),
            "received": {  # device messages read; the out_* counts are what the agent sent
                a: sum(n for k, n in s.get("received", {}).items() if not k.startswith("out_"))
                for a, s in stats.items()
            },
            "acked": sum(s.get("acked", 0) for s in stats.values()),
            "outbox": sum(s.get("outbox", 0) for s in stats.values()),
            "stored": stored,
            "procs": procs,
            "self_cpu_s": (lambda u: u.ru_utime + u.ru_stime)(resource.getrusage(resource.RUSAGE_SELF)),
        }

    def _run(self) -> None:
        per_agent_rate = self.stack.plan.samples_per_s / self.stack.plan.agents
        while not self._stop.wait(1.0):
            snap = self.snapshot()
            self.snapshots.append((time.monotonic(), snap))
            behind = [snap["sent_per_agent"].get(a, 0) - n for a, n in snap["received"].items()]
            self.edge_lag_s.append(max(behind, default=0) / per_agent_rate)
            self.backlog.append(snap["outbox"])
            self.progress.update(
                f"  sent {snap['sent']:,}  edges read {sum(snap['received'].values()):,}"
                f"  outboxes {snap['outbox']:,}  stored {snap['stored']:,}"
            )

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.engine.dispose()
