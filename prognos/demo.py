"""``prognos demo``: the simulated fleet through the real wire protocol, end to end so far.

What runs today (the cloud joins in a later issue):

    simulated devices --binary frames--> pty --SerialReader--> bridge --MQTT--> broker
    simulated devices --------------------MQTT JSON-----------------------> broker
    broker --MqttReader--> edge agent core (detection, alert policy) --> summary

mosquitto is used when installed; without it the demo shows the serial path alone.
"""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from edge.agent import Agent, AgentSettings
from firmware_bridge import DeviceEvent, DeviceMessage
from firmware_bridge.bridge import SerialMqttBridge
from firmware_bridge.contract import AlertMessage, parse_edge_message
from firmware_bridge.mqtt_link import BrokerAddress
from firmware_bridge.mqtt_reader import MqttReader
from firmware_bridge.serial_reader import SerialReader
from models.scoring import fault_metrics
from simulators.fleet import plan_fleet
from simulators.pty_link import PtyLink
from simulators.sinks import MqttSink, SerialSink, route_by_transport
from simulators.stream import MessageSink, run_stream
from simulators.truth import iso

from .broker import MosquittoBroker, find_mosquitto
from .progress import Progress

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the simulated fleet through serial, bridge and MQTT")
    p.add_argument("--devices", type=int, default=6)
    p.add_argument("--days", type=float, default=2.0, help="simulated days (default 2)")
    p.add_argument("--speed", type=float, default=7200.0, help="simulated seconds per second (default 7200)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--noise", type=float, default=0.002, help="chance of line noise before a serial frame")
    p.add_argument("--loss", type=float, default=0.001, help="share of messages lost on the way")
    p.add_argument("--summary-json", type=Path, help="also write the summary here")
    p.add_argument("--no-browser", action="store_true", help="accepted for forward compatibility")
    p.set_defaults(func=run)


class _Tally:
    """What arrived at the consumer side, run through the edge agent's core."""

    def __init__(self, tenant: str) -> None:
        self.by_kind: Counter[str] = Counter()
        self.devices: set[str] = set()
        self.trips: list[tuple[str, str, float]] = []
        self.agent = Agent(AgentSettings(tenant=tenant, agent_id="demo-edge"))
        self.raises: list[tuple[str, float, str]] = []  # device, device time, fault key
        self.lock = threading.Lock()

    def add(self, msg: DeviceMessage) -> None:
        with self.lock:
            self.by_kind[type(msg).__name__] += 1
            self.devices.add(msg.device_id)
            if isinstance(msg, DeviceEvent) and msg.severity >= 3:
                self.trips.append((msg.device_id, msg.name, msg.timestamp))
            for out in self.agent.handle(msg):
                if out.kind == "alert":
                    alert = parse_edge_message(out.payload)
                    if isinstance(alert, AlertMessage) and alert.transition == "raise":
                        self.raises.append((alert.device_id, alert.at, alert.fault_key))


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    binary = find_mosquitto()
    broker = MosquittoBroker(binary).start() if binary else None
    transports = ("serial", "mqtt") if broker else ("serial",)
    fleet = plan_fleet(args.devices, args.days, args.seed, transports=transports)
    workdir = Path(tempfile.mkdtemp(prefix="prognos-demo-"))
    link = PtyLink(workdir / "ttyGATEWAY0")
    serial_sink = SerialSink(link, noise=args.noise, seed=args.seed)
    reader = SerialReader(link.path, tenant=fleet.tenant)
    tally = _Tally(fleet.tenant)
    threads: list[threading.Thread] = []
    by_transport: dict[str, MessageSink] = {"serial": serial_sink}
    consumer: MqttReader | None = None
    bridge: SerialMqttBridge | None = None
    progress = Progress(every=2.0)
    print(f"prognos demo: {len(fleet.devices)} devices, {args.days:g} simulated days at {args.speed:g}x")
    print(f"  serial line  {link.path} -> {link.port}")
    if broker is not None:
        address = BrokerAddress(broker.host, broker.port)
        print(f"  MQTT broker  mosquitto on {broker.host}:{broker.port}")
        consumer = MqttReader(address, tenant=fleet.tenant)
        consumer.start()
        consumer.wait_subscribed()
        bridge = SerialMqttBridge(reader, address, tenant=fleet.tenant)
        threads.append(threading.Thread(target=bridge.run, daemon=True))
        mqtt_sink = MqttSink(address, fleet.tenant)
        mqtt_sink.start()
        by_transport["mqtt"] = mqtt_sink
        threads.append(
            threading.Thread(target=lambda: [tally.add(m) for m in _drain(consumer, stop)], daemon=True)
        )
    else:
        print(
            "  MQTT broker  none (install mosquitto to see the MQTT half); reading the serial line directly"
        )
        mqtt_sink = None
        threads.append(
            threading.Thread(target=lambda: [tally.add(m) for m in reader.messages()], daemon=True)
        )
    sinks = route_by_transport(fleet, by_transport)
    for th in threads:
        th.start()
    deadline = time.monotonic() + 5
    while reader.opens == 0 and time.monotonic() < deadline:  # pyserial flushes input on open
        time.sleep(0.01)
    truth: list[dict[str, Any]] = []
    started = time.monotonic()

    def show(ts: float, sent: int) -> None:
        s = reader.stats()
        progress.update(
            f"  {iso(ts)}  sent {sent:,}  received {sum(tally.by_kind.values()):,}  "
            f"frame errors {sum(s['frame_errors'].values())}  gaps {s['sequence_gaps']}"  # type: ignore[attr-defined]
        )

    result = run_stream(
        fleet,
        sinks,
        speed=args.speed,
        loss=args.loss,
        on_truth=truth.append,
        progress=show,
        should_stop=stop.is_set,
    )
    if mqtt_sink is not None:
        mqtt_sink.close()
    _settle(tally, result["sent"], stop)
    progress.done()
    reader.stop()
    if bridge is not None:
        bridge.stop()
    for th in threads:
        th.join(timeout=5)
    serial_sink.close()
    if consumer is not None:
        consumer.stop()
    if broker is not None:
        broker.stop()
    summary = _summary(fleet, result, tally, truth, reader, consumer, serial_sink, time.monotonic() - started)
    _print_summary(summary)
    if args.summary_json is not None:
        args.summary_json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def _drain(consumer: MqttReader, stop: threading.Event):  # type: ignore[no-untyped-def]
    while not stop.is_set():
        msg = consumer.get(timeout=0.2)
        if msg is not None:
            yield msg


def _settle(tally: _Tally, sent: int, stop: threading.Event, timeout: float = 10.0) -> None:
    """Wait until what was sent has arrived, or nothing more arrives for a while."""
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline and not stop.is_set():
        got = sum(tally.by_kind.values())
        if got >= sent:
            return
        if got != last:
            last, last_change = got, time.monotonic()
        elif time.monotonic() - last_change > 2.0:
            return
        time.sleep(0.1)


def _summary(fleet, result, tally, truth, reader, consumer, serial_sink, seconds) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    faults = [r for r in truth if r["kind"] == "fault"]
    depleted = [r for r in truth if r["kind"] == "consumable" and r["event"] == "depleted"]
    end = fleet.end
    windows = [(r["device"], r["onset_ts"], min(r["failure_ts"], end)) for r in faults if r["onset_ts"] < end]
    detection = fault_metrics(windows, [(d, t) for d, t, _ in tally.raises], len(fleet.devices) * fleet.days)
    return {
        "detection": detection,
        "alerts_raised": [{"device": d, "at": iso(t), "fault_key": k} for d, t, k in tally.raises],
        "devices": len(fleet.devices),
        "simulated_days": fleet.days,
        "wall_seconds": round(seconds, 1),
        "messages_sent": result["sent"],
        "messages_lost_on_purpose": result["lost_on_purpose"],
        "messages_received": sum(tally.by_kind.values()),
        "received_by_kind": dict(tally.by_kind),
        "devices_heard": len(tally.devices),
        "serial": reader.stats(),
        "serial_noise_bursts": serial_sink.noise_bursts,
        "mqtt": consumer.stats() if consumer is not None else None,
        "faults_injected": [
            {k: r[k] for k in ("device", "fault", "onset", "failure", "failure_in_run")} for r in faults
        ],
        "device_trips_received": [{"device": d, "event": n, "at": iso(t)} for d, n, t in tally.trips],
        "consumables_depleted": [{k: r[k] for k in ("device", "consumable", "at")} for r in depleted],
    }


def _print_summary(s: dict[str, Any]) -> None:
    serial = s["serial"]
    print("\nsummary")
    heard, days, secs = s["devices_heard"], s["simulated_days"], s["wall_seconds"]
    print(f"  devices {s['devices']} ({heard} heard), {days:g} simulated days in {secs} s")
    print(
        f"  messages sent {s['messages_sent']:,}, received {s['messages_received']:,} {s['received_by_kind']}"
    )
    print(
        f"  serial line: {serial['frames']:,} frames, {s['serial_noise_bursts']} noise bursts injected, "
        f"frame errors {serial['frame_errors']}, sequence gaps {serial['sequence_gaps']}"
    )
    if s["mqtt"] is not None:
        m = s["mqtt"]
        gaps, dups = m["sequence_gaps"], m["duplicates"]
        print(f"  MQTT consumer: {m['accepted']:,} accepted, gaps {gaps}, duplicates {dups}")
    print(f"  faults injected {len(s['faults_injected'])}:")
    for f in s["faults_injected"]:
        print(f"    {f['device']:<10} {f['fault']:<24} onset {f['onset']}  failure {f['failure']}")
    trips, depleted = len(s["device_trips_received"]), len(s["consumables_depleted"])
    print(f"  device trips received {trips}, consumables depleted {depleted}")
    det = s["detection"]
    caught, lead = f"{det['caught_before_failure']}/{det['faults']}", det["median_lead_share"]
    print(f"  edge detection: {len(s['alerts_raised'])} alerts raised; faults caught before failure {caught}")
    print(f"    median lead {lead:.0%} of onset-to-failure, false alerts {det['false_alerts']}")
    print(
        "  (a new device learns for its first day: short runs catch little; work orders come with the cloud)"
    )
