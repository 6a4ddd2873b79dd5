"""A 1,000-device fleet through every tier, each a real process, printed as JSON.

    devices (serial + MQTT) -> edge agents (one per group of sites) -> 3-node NATS cluster
    -> cloud workers (``prognos cloud serve --stream``) -> PostgreSQL + VictoriaMetrics

(see ``prognos/load_stack.py``). The fleet runs paced for ``--seconds`` of wall time; an
alert probe meanwhile raises an alert every half second as an edge would and times it
until its work order is readable through the REST API. Then everything drains and the
ground truth is tallied: every summary the devices' samples owe stored once
(``prognos/load_tally.py``). Run twice: steady, and with the stream's leader node and one
cloud worker SIGKILLed halfway.

    python bench/load.py [--devices 1000] [--agents 4] [--workers 2] [--seconds 60]
                         [--speed 60] [--only steady,faults]

Reported per run: messages/s at each hop, edge lag (samples not yet read, in seconds) and
ingest lag (a summary's window end, in the fleet's paced time, to its row in PostgreSQL),
alert -> work order p50/p99, CPU and RSS per process, VictoriaMetrics' points, and the tally.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from bench.load_watch import AlertProbe, Sampler, percentiles  # noqa: E402
from bench.procs import ProcSample  # noqa: E402
from cloud.db import (  # noqa: E402
    Alert,
    Device,
    InboxMessage,
    WorkOrder,
    make_engine,
    make_session_factory,
)  # noqa: E402
from mqtt_client import BrokerAddress  # noqa: E402
from prognos.load_stack import LoadPlan, LoadStack, missing_engines  # noqa: E402
from prognos.load_tally import SentLog, tally  # noqa: E402
from prognos.progress import Progress  # noqa: E402
from simulators.sinks import MqttSink, SerialSink  # noqa: E402
from simulators.stream import MessageSink, run_stream  # noqa: E402


def _cpu_and_memory(
    first: dict[str, Any], last: dict[str, Any], seconds: float, peak: dict[str, float]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    a: dict[str, ProcSample] = first["procs"]
    for name, p in last["procs"].items():
        if name in a:
            out[name] = {
                "cpu_pct": round(100 * (p.cpu_s - a[name].cpu_s) / seconds, 1),
                "peak_rss_mb": round(peak[name], 1),
            }
    out["simulator"] = {"cpu_pct": round(100 * (last["self_cpu_s"] - first["self_cpu_s"]) / seconds, 1)}
    return out


def _ingest_lag_ms(stack: LoadStack, sent: SentLog, wall0: float) -> dict[str, float]:
    """Per device, its k-th stored summary is its k-th window (order is kept per device): the
    lag is its row's arrival less the wall time the paced fleet reached that window's end."""
    plan, fleet = stack.plan, stack.fleet
    engine = make_engine(stack.db_url)
    try:
        with make_session_factory(engine)() as s:
            rows = s.execute(
                select(InboxMessage.device_key, InboxMessage.received_at)
                .where(InboxMessage.kind == "summary")
                .order_by(InboxMessage.device_key, InboxMessage.received_at)
            ).all()
    finally:
        engine.dispose()
    arrivals: dict[str, list[float]] = defaultdict(list)
    for key, at in rows:
        arrivals[key].append(at.timestamp())
    lags = []
    for device, times in arrivals.items():
        for window, arrived in zip(sorted(sent.windows.get(device, ())), times, strict=False):
            end = (window + 1) * plan.summary_every_s
            lags.append(1000 * (arrived - (wall0 + (end - fleet.start) / plan.speed)))
    return percentiles(lags)


def _alert_to_order_in_db_ms(stack: LoadStack) -> dict[str, float]:
    """The probe's alerts from their publish (the alert's own time) to their order's creation
    in the cloud's transaction: what the broker tier and the worker's queue cost, without the
    commit and the API's read that the probe's own figure includes."""
    engine = make_engine(stack.db_url)
    try:
        with make_session_factory(engine)() as s:
            rows = s.execute(
                select(Alert.raised_at, WorkOrder.created_at)
                .join(WorkOrder, WorkOrder.id == Alert.work_order_id)
                .join(Device, Device.id == Alert.device_id)
                .where(Device.site_id == stack.probe_site_id)
            ).all()
    finally:
        engine.dispose()
    return percentiles([1000 * (made - raised).total_seconds() for raised, made in rows])


def _victoria_points(stack: LoadStack, stored: int) -> int:
    """Anomaly points in VictoriaMetrics (one per summary), once the workers' sinks have sent
    their last batches (they flush every second) or after 15 s."""
    assert stack.victoria is not None
    deadline, points = time.monotonic() + 15, 0
    while time.monotonic() < deadline and points < stored:
        query = "sum(count_over_time(anomaly_max_score[3650d]))"
        result = stack.victoria.query(query, stack.fleet.end + 86_400)
        points = int(float(result[0]["value"][1])) if result else 0
        time.sleep(0.5)
    return points


def run_once(plan: LoadPlan, faults: bool, workdir: Path, progress: Progress) -> dict[str, Any]:
    with LoadStack(plan, workdir) as stack:
        fleet = stack.fleet
        leader = stack.stream_leader()
        probe_node = (leader + 1) % plan.nodes
        survivor = plan.workers - 1
        sinks: dict[str, MessageSink] = {}
        mqtt_sinks = []
        agent_of = {d.device_id: plan.agent_of(d.site) for d in fleet.devices}
        per_agent: dict[str, dict[str, MessageSink]] = {}
        for agent in stack.agents:
            site = stack.site_brokers[agent]
            m = MqttSink(BrokerAddress(site.host, site.port), fleet.tenant)
            m.start()
            mqtt_sinks.append(m)
            per_agent[agent] = {"serial": SerialSink(stack.links[agent]), "mqtt": m}
        for d in fleet.devices:
            sinks[d.device_id] = per_agent[agent_of[d.device_id]][d.transport]
        sent = SentLog(plan.summary_every_s)
        serial = {d.device_id for d in fleet.devices if d.transport == "serial"}
        counted = sent.wrap(sinks, agent_of, millisecond_wire=serial)
        sampler = Sampler(stack, sent, progress).start()
        probe = AlertProbe(stack, probe_node, survivor).start()
        killed: dict[str, Any] = {}
        wall0 = time.time()
        t0 = time.monotonic()
        first = sampler.snapshot()

        def inject() -> None:
            stack.kill_node(leader)
            stack.kill_worker(0)
            assert stack.cluster is not None
            killed.update(
                at_s=round(time.monotonic() - t0, 1), node=stack.cluster.nodes[leader].name, worker="cloud-0"
            )

        timer = threading.Timer(plan.seconds / 2, inject)
        if faults:
            timer.start()
        result = run_stream(fleet, counted, speed=plan.speed)
        if faults:
            timer.join()
        load_s = time.monotonic() - t0
        last = sampler.snapshot()
        for m in mqtt_sinks:
            m.close()
        progress.update("  fleet done; draining ...")
        deadline = time.monotonic() + plan.drain_timeout_s
        counts = tally(stack.db_url, sent)
        while time.monotonic() < deadline and counts["lost"]:
            time.sleep(1.0)
            counts = tally(stack.db_url, sent)
        drain_s = time.monotonic() - t0 - load_s
        latency = probe.stop()
        sampler.stop()
        stats = stack.edge_stats()
        out = {
            "faults": killed or None,
            "load_seconds": round(load_s, 1),
            "drain_seconds": round(drain_s, 1),
            "samples_sent": result["sent"],
            "hops_per_s": {
                "devices_to_edges": round((last["sent"] - first["sent"]) / load_s),
                "edges_read": round(sum(last["received"].values()) / load_s),
                "edges_to_broker_tier": round((last["acked"] - first["acked"]) / load_s),
                "into_postgresql": round((last["stored"] - first["stored"]) / load_s),
            },
            "edge_lag_s": {
                "p50": round(statistics.median(sampler.edge_lag_s or [0]), 2),
                "max": round(max(sampler.edge_lag_s or [0]), 2),
            },
            "edge_outbox_backlog_max": max(sampler.backlog or [0]),
            "ingest_lag_ms": _ingest_lag_ms(stack, sent, wall0),
            "alert_to_work_order_ms": latency,
            "alert_to_order_created_ms": _alert_to_order_in_db_ms(stack),
            "processes": _cpu_and_memory(first, last, load_s, sampler.peak_rss),
            "edges": {
                a: {k: s.get(k) for k in ("resent", "confirmed", "dropped", "lost")} for a, s in stats.items()
            },
            "device_hop": {
                "pty_frames_dropped": {a: link.writes_dropped for a, link in stack.links.items()},
                "mqtt_unacknowledged": sum(m.unacknowledged for m in mqtt_sinks),
            },
            "victoria_metrics_anomaly_points": _victoria_points(stack, counts["summaries_stored"]),
            "tally": counts,
        }
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    ap.add_argument("--only", default="steady,faults")
    args = ap.parse_args()
    missing = missing_engines()
    if missing:
        print(json.dumps({"bench": "load", "error": "missing: " + "; ".join(missing)}))
        return
    plan = LoadPlan(
        devices=args.devices, agents=args.agents, workers=args.workers, seconds=args.seconds, speed=args.speed
    )
    out: dict[str, Any] = {
        "bench": "load",
        "plan": {**dataclasses.asdict(plan), "samples_per_s": plan.samples_per_s},
    }
    progress = Progress(every=2.0)
    for kind in ("steady", "faults"):
        if kind in args.only:
            what = f"{plan.devices} devices, {plan.samples_per_s:g} samples/s, {plan.seconds:g} s"
            print(f"[load] {kind}: {what} ...", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory(prefix="prognos-load-") as tmp:
                out[kind] = run_once(plan, kind == "faults", Path(tmp), progress)
            progress.done()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
