"""MQTT broker throughput: the embedded Python broker against mosquitto, printed as JSON.

One paho publisher sends N QoS 1 messages (200 in flight) to one subscriber, both
QoS 1, with a small telemetry-sized payload; the rate is messages delivered per second
from the first publish to the last delivery. Both brokers run in the same process run,
so compare them as a ratio. paho's own cost is in both figures (on 2 cores it is the
larger part), which is the point: this is what the system sees.

    python bench/broker.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from prognos.broker import MosquittoBroker, find_mosquitto  # noqa: E402
from prognos.embedded_broker import EmbeddedBroker  # noqa: E402

PAYLOAD = b'{"seq": 1, "ts": 1767225600.0, "values": {"vibration_rms": 2.31, "motor_current": 10.4}}'


def _client(name: str, host: str, port: int) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(200)
    c.max_queued_messages_set(0)
    c.connect(host, port)
    c.loop_start()
    return c


def measure(host: str, port: int, n: int) -> float:
    done = threading.Event()
    got = [0]

    def on_message(c, u, m) -> None:  # type: ignore[no-untyped-def]
        got[0] += 1
        if got[0] == n:
            done.set()

    subscribed = threading.Event()
    sub = _client("bench-sub", host, port)
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.subscribe("bench/+/telemetry", qos=1)
    subscribed.wait(10)
    pub = _client("bench-pub", host, port)
    t0 = time.perf_counter()
    for i in range(n):
        pub.publish(f"bench/dev-{i % 50}/telemetry", PAYLOAD, qos=1)
    if not done.wait(300):
        raise RuntimeError(f"only {got[0]} of {n} messages arrived")
    seconds = time.perf_counter() - t0
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return n / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20_000)
    args = ap.parse_args()
    out: dict[str, object] = {
        "messages": args.messages,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    with EmbeddedBroker() as embedded:
        out["embedded_msgs_per_s"] = round(measure(embedded.host, embedded.port, args.messages))
    if find_mosquitto() is None:
        out["mosquitto_msgs_per_s"] = None
        out["note"] = "mosquitto is not installed: no reference figure"
    else:
        with MosquittoBroker() as mosq:
            out["mosquitto_msgs_per_s"] = round(measure(mosq.host, mosq.port, args.messages))
        out["embedded_over_mosquitto"] = round(out["embedded_msgs_per_s"] / out["mosquitto_msgs_per_s"], 2)  # type: ignore[operator]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
