"""Messages lost between the edge and the cloud while the cloud is away and the broker crashes.

A simulated fleet (12 devices by default) goes through the edge agent's core, and what it
produces (alerts, fault events, consumable statuses, summaries) is stored in a real outbox
and sent by the real uplink to mosquitto (its default queue of 1,000 messages for an absent
session). The cloud's ingest worker (SQLite) is away for the middle half of the stream;
while it is away mosquitto is SIGKILLed and restarted. Then the cloud comes back and the
bench waits until the edge has nothing left unconfirmed (or gives up). Two runs, same
stream: the edge deleting a row on the broker's PUBACK (``confirm_by = "broker"``, what
the edge did before) and keeping it until the cloud confirms it (the default).

    python bench/delivery.py [--devices 12] [--days 8] [--queue 1000]

JSON: per run, messages the edge produced, stored by the cloud (by kind), lost, copies the
cloud received again and dropped as duplicates, rows the edge resent, and seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from cloud.db import InboxMessage  # noqa: E402
from cloud.db.migrate import upgrade  # noqa: E402
from cloud.ingest_mqtt import MqttIngestWorker  # noqa: E402
from cloud.seed import seed_fleet  # noqa: E402
from cloud.settings import Settings  # noqa: E402
from cloud.state import CloudState  # noqa: E402
from edge.agent import Agent, AgentSettings  # noqa: E402
from edge.outbox import Outbox, PendingMessage  # noqa: E402
from edge.pending import to_pending  # noqa: E402
from edge.uplink_mqtt import MqttUplink  # noqa: E402
from mqtt_client import BrokerAddress  # noqa: E402
from prognos.broker import MosquittoBroker, find_mosquitto  # noqa: E402
from simulators.fleet import plan_fleet  # noqa: E402
from simulators.stream import fleet_messages  # noqa: E402

TENANT, AGENT = "demo", "edge-1"


def produce(devices: int, days: float, seed: int) -> tuple[list[PendingMessage], list[dict[str, Any]]]:
    """What the edge agent makes of the fleet's stream, as outbox rows, and the fleet's manifest."""
    fleet = plan_fleet(devices, days, seed, tenant=TENANT, interval=300.0)
    agent = Agent(AgentSettings(tenant=TENANT, agent_id=AGENT, summary_every_s=3600.0))
    out = [to_pending(m, TENANT, AGENT) for msg in fleet_messages(fleet) for m in agent.handle(msg)]
    out += [to_pending(m, TENANT, AGENT) for m in agent.flush()]
    return out, [d.as_record() for d in fleet.devices]


def wait(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def run(
    rows: list[PendingMessage], manifest: list[dict[str, Any]], confirm_by_cloud: bool, queue: int, tmp: Path
) -> dict[str, Any]:
    tag = "cloud" if confirm_by_cloud else "broker"
    url = f"sqlite:///{tmp}/delivery-{tag}.db"
    upgrade(url)
    with MosquittoBroker(persistence=True, max_queued=queue) as broker:
        settings = Settings(
            database_url=url,
            log_level="ERROR",
            mqtt_url=f"mqtt://{broker.host}:{broker.port}",
            mqtt_client_id=f"bench-delivery-{tag}",
            mqtt_session_expiry_s=3600,
        )
        state = CloudState.build(settings)
        with state.sessions.begin() as s:
            seed_fleet(
                s, manifest, state.clock.now(), settings.secret_key, tenant=TENANT, engineers=4, agent=AGENT
            )

        def cloud() -> MqttIngestWorker:
            worker = MqttIngestWorker(settings, state.ingestor, state.metrics)
            worker.start()
            assert worker.subscribed.wait(20), "the cloud did not subscribe"
            return worker

        outbox = Outbox(tmp / f"outbox-{tag}.sqlite", max_rows=len(rows) + 10)
        uplink = MqttUplink(
            outbox,
            BrokerAddress(broker.host, broker.port),
            tenant=TENANT,
            agent_id=AGENT,
            confirm_by_cloud=confirm_by_cloud,
            confirm_timeout_s=5.0,
        )
        t0 = time.perf_counter()
        worker = cloud()
        uplink.start()
        quarter = len(rows) // 4
        outbox.add(rows[:quarter])
        wait(lambda: uplink.acked >= quarter, 60)
        worker.stop()  # the cloud goes away for the middle half of the stream
        outbox.add(rows[quarter : 3 * quarter])
        wait(lambda: uplink.acked >= 3 * quarter, 120)
        broker.kill()  # and the broker crashes meanwhile, before its next autosave
        broker.start()
        worker = cloud()  # the cloud is back
        outbox.add(rows[3 * quarter :])
        wait(lambda: uplink.acked >= len(rows) and (outbox.size() == 0 or not confirm_by_cloud), 300)
        worker.wait_idle(60, quiet=2.0)
        seconds = time.perf_counter() - t0
        uplink.stop(drain_timeout=0)
        worker.stop()
        with state.sessions() as s:
            stored = Counter(
                dict(s.execute(select(InboxMessage.kind, func.count()).group_by(InboxMessage.kind)).all())
            )
        sent = Counter(r.kind for r in rows)
        dups = int(
            sum(
                state.metrics.registry.get_sample_value(
                    "prognos_ingested_messages_total", {"kind": k, "outcome": "duplicate"}
                )
                or 0
                for k in sent
            )
        )
        outbox.close()
        state.close()
    return {
        "produced": dict(sent),
        "stored": dict(stored),
        "lost": {k: sent[k] - stored.get(k, 0) for k in sent if sent[k] > stored.get(k, 0)},
        "lost_total": sum(sent.values()) - sum(stored.values()),
        "redeliveries_deduplicated": dups,  # stored once: the inbox is keyed by message id
        "resent_by_the_edge": uplink.resent,
        "seconds": round(seconds, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=12)
    ap.add_argument("--days", type=float, default=8.0)
    ap.add_argument("--queue", type=int, default=1000, help="mosquitto's max_queued_messages (its default)")
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args()
    if find_mosquitto() is None:
        print(json.dumps({"bench": "delivery", "error": "mosquitto is not installed"}))
        return
    rows, manifest = produce(args.devices, args.days, args.seed)
    print(f"bench/delivery.py: {len(rows)} edge messages from {args.devices} devices", file=sys.stderr)
    report: dict[str, Any] = {"bench": "delivery", "devices": args.devices, "broker_queue": args.queue}
    with tempfile.TemporaryDirectory(prefix="prognos-bench-delivery-") as tmp:
        for name, confirm in (("delete_on_puback (before)", False), ("kept_until_cloud_confirms", True)):
            print(f"bench/delivery.py: {name} ...", file=sys.stderr, flush=True)
            report[name] = run(rows, manifest, confirm, args.queue, Path(tmp))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
