"""Cloud throughput and latency, printed as JSON.

- ingest rate: edge messages published to a real mosquitto (QoS 1, as fast as paho sends
  them) until the cloud's ingest worker has committed and acked the last one, on SQLite
  and on PostgreSQL (a throwaway server with fsync on);
- alert-to-work-order latency: an alert published at the edge side until its work order is
  readable through the REST API (polled every 2 ms through the in-process ASGI client);
- dispatch: the time to dispatch N open work orders arriving at once, in one pass; and N
  alerts arriving at once through the batched path until each is an assigned order.

    python bench/cloud.py [--messages 3000] [--alerts 100] [--orders 5000] [--engines sqlite,postgresql]
                          [--workers 2] [--only ingest,drain,stream,latency,dispatch]

Needs mosquitto (and PostgreSQL for that engine; skipped with a note when absent).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench import edge_messages  # noqa: E402
from cloud.app import create_app  # noqa: E402
from cloud.db import Engineer, TelemetrySummary, WorkOrder  # noqa: E402
from cloud.db.migrate import upgrade  # noqa: E402
from cloud.ingest_mqtt import MqttIngestWorker  # noqa: E402
from cloud.seed import seed_fleet  # noqa: E402
from cloud.services.dispatch import dispatch_orders  # noqa: E402
from cloud.settings import Settings  # noqa: E402
from cloud.state import CloudState  # noqa: E402
from prognos.broker import MosquittoBroker, find_mosquitto  # noqa: E402
from prognos.postgres import PostgresServer, find_pg_bin  # noqa: E402
from simulators.fleet import plan_fleet  # noqa: E402

START = edge_messages.START
AGENT = "edge-1"  # the agent seed_fleet assigns the devices to: any other is refused as impersonation


def _cloud(
    url: str, devices: int, engineers: int, **settings: Any
) -> tuple[CloudState, list[str], dict[str, str]]:
    upgrade(url)
    state = CloudState.build(Settings(database_url=url, log_level="ERROR", **settings))
    manifest = [d.as_record() for d in plan_fleet(devices, 1.0, 3).devices]
    with state.sessions.begin() as s:
        report = seed_fleet(s, manifest, state.clock.now(), state.settings.secret_key, engineers=engineers)
    return state, [r["device_id"] for r in manifest], report.tokens


def _summary(device: str, i: int, agent: str = AGENT) -> tuple[str, bytes]:
    return edge_messages.summary(device, i, agent)


def _alert(device: str, i: int) -> tuple[str, bytes]:
    return edge_messages.alert(device, i, AGENT)


def _publisher(broker: MosquittoBroker) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-edge", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(200)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def _worker(state: CloudState, broker: MosquittoBroker, name: str = "bench-cloud-0") -> MqttIngestWorker:
    settings = state.settings.model_copy(
        update={"mqtt_url": f"mqtt://{broker.host}:{broker.port}", "mqtt_client_id": name}
    )
    worker = MqttIngestWorker(settings, state.ingestor, state.metrics)
    worker.start()
    assert worker.subscribed.wait(10)
    return worker


def _until_handled(pool: list[Any], n: int, t0: float) -> float:
    """Seconds from ``t0`` until the workers have handled ``n`` messages (or ten minutes)."""
    deadline = time.monotonic() + 600
    while sum(w.handled for w in pool) < n and time.monotonic() < deadline:
        time.sleep(0.005)
    return time.perf_counter() - t0


def _tally(states: list[CloudState], pool: list[Any], n: int, elapsed: float) -> dict[str, Any]:
    """What the (stopped) workers handled and the database holds; the pools closed."""
    with states[0].sessions() as s:
        stored = s.scalar(select(func.count()).select_from(TelemetrySummary)) or 0
    for st in states:
        st.close()
    handled = sum(w.handled for w in pool)
    return {
        "messages": n,
        "workers": len(pool),
        "handled": handled,
        "stored_once": stored,
        "per_worker": [w.handled for w in pool],
        "seconds": round(elapsed, 3),
        "messages_per_s": round(handled / elapsed, 1),
    }


def ingest_rate(
    url: str, broker: MosquittoBroker, n: int, workers: int = 2, bulk: bool = True
) -> dict[str, Any]:
    """``workers`` ingest workers (each its own database pool and MQTT session, as separate
    processes would be) sharing the subscription; summaries, the bulk of a real stream.
    ``bulk``: summaries through their bulk path (the default) or one savepoint each."""
    state, devices, _ = _cloud(url, 50, 5, ingest_bulk_summaries=bulk)
    states = [state] + [
        CloudState.build(Settings(database_url=url, log_level="ERROR", ingest_bulk_summaries=bulk))
        for _ in range(workers - 1)
    ]
    pool = [_worker(st, broker, f"bench-cloud-{i}") for i, st in enumerate(states)]
    pub = _publisher(broker)
    messages = [_summary(devices[i % len(devices)], i) for i in range(n)]
    t0 = time.perf_counter()
    infos = [pub.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(60)
    published = time.perf_counter() - t0
    elapsed = _until_handled(pool, n, t0)
    pub.disconnect()
    pub.loop_stop()
    for w in pool:
        w.stop()
    return {
        **_tally(states, pool, n, elapsed),
        "publish_seconds": round(published, 3),
        "publish_per_s": round(n / published, 1),
    }


def ingest_drain(url: str, broker: MosquittoBroker, n: int, workers: int = 2) -> dict[str, Any]:
    """The workers' own rate, without the publisher in the way: their sessions subscribe,
    go away, ``n`` summaries queue up in the broker, then the workers come back and drain it.
    (On one machine the single publishing client, not ingest, limits :func:`ingest_rate`.)"""
    state, devices, _ = _cloud(url, 50, 5)
    states = [state] + [
        CloudState.build(Settings(database_url=url, log_level="ERROR")) for _ in range(workers - 1)
    ]
    for i, st in enumerate(states):  # make the persistent sessions, then leave
        _worker(st, broker, f"bench-drain-{i}").stop()
    pub = _publisher(broker)
    infos = [pub.publish(*_summary(devices[i % len(devices)], i), qos=1) for i in range(n)]
    for info in infos:
        info.wait_for_publish(120)
    pub.disconnect()
    pub.loop_stop()
    t0 = time.perf_counter()
    pool = [_worker(st, broker, f"bench-drain-{i}") for i, st in enumerate(states)]
    elapsed = _until_handled(pool, n, t0)
    for w in pool:
        w.stop()
    return _tally(states, pool, n, elapsed)


def stream_drain(url: str, n: int, workers: int = 2, agents: int = 16) -> dict[str, Any]:
    """The clustered tier's drain rate: ``n`` summaries from 50 devices on ``agents`` agents
    wait in a 3-node NATS cluster's stream (8 partitions by agent), then ``workers`` stream
    workers (what ``prognos cloud serve --stream`` runs) share the partitions and store them."""
    import asyncio

    import nats

    from cloud.db import Device
    from cloud.ingest_stream import StreamIngestWorker, ensure_stream, subject_of
    from prognos.nats_cluster import NatsCluster

    state, devices, _ = _cloud(url, 50, 5)
    agent_of = {d: f"edge-{i % agents}" for i, d in enumerate(devices)}
    with state.sessions.begin() as s:
        for device in s.scalars(select(Device)):
            device.agent_key = agent_of[device.key]
    messages = [_summary(devices[i % 50], i, agent_of[devices[i % 50]]) for i in range(n)]
    states = [state] + [
        CloudState.build(Settings(database_url=url, log_level="ERROR")) for _ in range(workers - 1)
    ]
    with tempfile.TemporaryDirectory() as tmp, NatsCluster(3, workdir=Path(tmp)) as cluster:

        async def load() -> None:
            nc = await nats.connect(servers=cluster.urls)
            js = nc.jetstream(timeout=30)
            await ensure_stream(js, 3)
            for start in range(0, n, 500):  # async publishes, acknowledged 500 at a time
                acks = [await js.publish_async(subject_of(t), p) for t, p in messages[start : start + 500]]
                await asyncio.gather(*acks)
            await nc.close()

        asyncio.run(load())
        t0 = time.perf_counter()
        pool = [StreamIngestWorker(cluster.urls, st.ingestor, batch_max=500).start() for st in states]
        elapsed = _until_handled(pool, n, t0)
        owned = [sorted(w.owned) for w in pool]
        for w in pool:
            w.stop()
    return {**_tally(states, pool, n, elapsed), "partitions_owned": owned}


def alert_latency(url: str, broker: MosquittoBroker, n: int) -> dict[str, Any]:
    state, devices, tokens = _cloud(url, 50, 10)
    worker = _worker(state, broker)
    pub = _publisher(broker)
    auth = {"Authorization": f"Bearer {tokens['dispatcher']}"}
    latencies = []
    with TestClient(create_app(state.settings, state=state)) as api:
        seen = 0
        for i in range(n):
            topic, payload = _alert(devices[i % len(devices)], i)
            t0 = time.perf_counter()
            pub.publish(topic, payload, qos=1)
            while True:
                page = api.get("/api/v1/work-orders?limit=1", headers=auth).json()
                if page["total"] > seen:
                    break
                time.sleep(0.002)
            latencies.append(time.perf_counter() - t0)
            seen = page["total"]
    pub.disconnect()
    pub.loop_stop()
    worker.stop()
    state.close()
    ms = sorted(1000 * x for x in latencies)
    return {
        "alerts": n,
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1),
        "max_ms": round(ms[-1], 1),
    }


def dispatch_burst(url: str, n: int) -> dict[str, Any]:
    """N orders opened with auto-dispatch off (arriving at once), then one dispatch pass."""
    state, devices, _ = _cloud(url, 500, 50, auto_dispatch=False)
    t0 = time.perf_counter()
    for i in range(n):
        state.ingestor.handle(*_alert(devices[i % len(devices)], i))
    opened = time.perf_counter() - t0
    with state.sessions.begin() as s:
        for engineer in s.scalars(select(Engineer)):
            engineer.capacity = -(-n // 50)  # the crew can take the whole burst between them
    with state.sessions.begin() as s:
        orders = list(s.scalars(select(WorkOrder).where(WorkOrder.status == "open")))
        t1 = time.perf_counter()
        results = dispatch_orders(s, orders, START + timedelta(hours=1), "bench")
        ranked = time.perf_counter() - t1
    total = time.perf_counter() - t1  # with the commit of every assignment, event and notification
    state.close()
    assigned = sum(1 for r in results if r.engineer_id)
    return {
        "orders": len(orders),
        "assigned": assigned,
        "unassigned_no_capacity": len(orders) - assigned,
        "engineers": 50,
        "dispatch_seconds": round(ranked, 3),
        "with_commit_seconds": round(total, 3),
        "orders_per_s": round(len(orders) / ranked, 1),
        "open_seconds": round(opened, 2),
    }


def alert_burst(url: str, n: int, batch: int = 500) -> dict[str, Any]:
    """N alerts arriving at once, taken as the stream worker takes them (``handle_batch`` in
    batches of ``batch``, one transaction each) with auto-dispatch on: the time until every
    one is an assigned work order, and the crew's load against its capacity."""
    state, devices, _ = _cloud(url, 500, 50)
    with state.sessions.begin() as s:
        for engineer in s.scalars(select(Engineer)):
            engineer.capacity = -(-n // 50)
    deliveries = [_alert(devices[i % len(devices)], i) for i in range(n)]
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        state.ingestor.handle_batch(deliveries[start : start + batch])
    seconds = time.perf_counter() - t0
    with state.sessions() as s:
        orders = s.scalar(select(func.count()).select_from(WorkOrder)) or 0
        assigned = s.scalar(
            select(func.count()).select_from(WorkOrder).where(WorkOrder.assignee_id.is_not(None))
        )
        over = s.scalar(
            select(func.count())
            .select_from(Engineer)
            .where(
                Engineer.capacity
                < select(func.count()).where(WorkOrder.assignee_id == Engineer.id).scalar_subquery()
            )
        )
    state.close()
    return {
        "alerts": n,
        "batch": batch,
        "orders": orders,
        "assigned": assigned,
        "engineers_over_capacity": over,
        "seconds": round(seconds, 2),
        "alerts_per_s": round(n / seconds, 1),
        "target": "<= 5 s for 5,000",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--alerts", type=int, default=100)
    ap.add_argument("--orders", type=int, default=5000)
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--workers", type=int, default=2, help="ingest workers sharing the subscription")
    ap.add_argument("--only", default="ingest,drain,stream,latency,dispatch", help="which parts to run")
    args = ap.parse_args()
    out: dict[str, Any] = {"bench": "cloud"}
    if find_mosquitto() is None:
        print(json.dumps({"bench": "cloud", "error": "mosquitto is not installed"}))
        return
    with tempfile.TemporaryDirectory() as tmp, MosquittoBroker() as broker:
        urls: dict[str, str] = {}
        pg: PostgresServer | None = None
        if "sqlite" in args.engines:
            urls["sqlite"] = f"sqlite:///{tmp}/bench-%s.db"
        if "postgresql" in args.engines:
            bin_dir = find_pg_bin()
            if bin_dir is None:
                out["postgresql"] = "skipped: PostgreSQL is not installed"
            else:
                pg = PostgresServer(bin_dir, durable=True)
                pg.start()
                urls["postgresql"] = pg.url("bench_%s")
        try:
            for engine, template in urls.items():

                def fresh(name: str, engine: str = engine, template: str = template) -> str:
                    if engine == "postgresql":
                        assert pg is not None
                        pg.execute(f"CREATE DATABASE bench_{name}")
                    return template % name

                result: dict[str, Any] = {}
                if "ingest" in args.only:
                    print(f"[{engine}] ingest {args.messages} messages, {args.workers} workers ...",
                          file=sys.stderr, flush=True)  # fmt: skip
                    result["ingest"] = ingest_rate(fresh("ingest"), broker, args.messages, args.workers)
                    result["ingest_per_message"] = ingest_rate(
                        fresh("ingest_pm"), broker, args.messages, args.workers, bulk=False
                    )
                    result["ingest_bulk_speedup"] = round(
                        result["ingest"]["messages_per_s"] / result["ingest_per_message"]["messages_per_s"], 2
                    )
                if "drain" in args.only:
                    print(f"[{engine}] drain {args.messages} queued messages, {args.workers} workers ...",
                          file=sys.stderr, flush=True)  # fmt: skip
                    with MosquittoBroker() as empty:  # its own broker: nothing queued for other sessions
                        drained = ingest_drain(fresh("drain"), empty, args.messages, args.workers)
                    result["ingest_drain"] = drained
                if "stream" in args.only:
                    print(f"[{engine}] stream drain {args.messages} messages, {args.workers} workers ...",
                          file=sys.stderr, flush=True)  # fmt: skip
                    result["stream_drain"] = stream_drain(fresh("stream"), args.messages, args.workers)
                if "latency" in args.only:
                    print(
                        f"[{engine}] alert -> work order latency x{args.alerts} ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    result["alert_to_work_order"] = alert_latency(fresh("latency"), broker, args.alerts)
                if "dispatch" in args.only:
                    print(f"[{engine}] dispatch {args.orders} orders ...", file=sys.stderr, flush=True)
                    result["dispatch"] = dispatch_burst(fresh("dispatch"), args.orders)
                    print(
                        f"[{engine}] {args.orders} alerts at once, batched ...", file=sys.stderr, flush=True
                    )
                    result["alert_burst"] = alert_burst(fresh("burst"), args.orders)
                out[engine] = result
        finally:
            if pg is not None:
                pg.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
