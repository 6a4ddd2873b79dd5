"""``prognos demo``: the whole system on embedded defaults, driven by a simulated fleet.

A broker, the cloud service (SQLite in a data folder, its pages on a local URL), an edge
agent, and a fleet of simulated devices in accelerated time, some on a pseudo-terminal
serial line through the bridge and some on MQTT, with injected faults and wearing
consumables (see ``prognos/demo_stack.py``). It shows progress, prints the pages' URL and
a login token, and at the end (or on Ctrl-C) prints what the ground truth says of the
result: faults caught before failure, lead time, false alerts, work orders, reminders.
"""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import threading
import time
import webbrowser
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from cloud.db import Alert, WorkOrder
from simulators.fleet import plan_fleet
from simulators.sinks import MqttSink, SerialSink, route_by_transport
from simulators.stream import MessageSink, run_stream
from simulators.truth import iso

from .broker import MosquittoBroker
from .demo_report import demo_summary, print_summary
from .demo_stack import DemoStack
from .progress import Progress

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="run broker, cloud, edge and a simulated fleet together")
    p.add_argument(
        "--devices", type=int, default=12, help="simulated devices, half serial, half MQTT (default 12)"
    )
    p.add_argument("--days", type=float, default=14.0, help="simulated days (default 14)")
    p.add_argument(
        "--speed",
        type=float,
        default=20_000.0,
        help="simulated seconds per second (default 20000; 0: as fast as it goes)",
    )
    p.add_argument("--seed", type=int, default=7, help="the fleet, its faults and its crew (default 7)")
    p.add_argument(
        "--interval",
        type=float,
        default=300.0,
        help="simulated seconds between a device's samples (default 300, as many appliances report)",
    )
    p.add_argument(
        "--broker",
        choices=("auto", "mosquitto", "embedded"),
        default="auto",
        help="MQTT broker: mosquitto when installed, else the embedded Python one (default auto)",
    )
    p.add_argument("--port", type=int, default=None, help="port of the pages (default: a free one)")
    p.add_argument("--data-dir", type=Path, default=None, help="keep the data here (default: a temp folder)")
    p.add_argument("--noise", type=float, default=0.002, help="chance of line noise before a serial frame")
    p.add_argument("--loss", type=float, default=0.0005, help="share of device messages lost on the way")
    p.add_argument("--no-browser", action="store_true", help="do not open the pages in a browser")
    p.add_argument(
        "--no-crew",
        action="store_true",
        help="no simulated field crew: the work orders wait for you to work them on the pages",
    )
    p.add_argument(
        "--summary-json", type=Path, help="write the summary here and exit when done (for scripts)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    fleet = plan_fleet(
        args.devices, args.days, args.seed, interval=args.interval, transports=("serial", "mqtt")
    )
    workdir = args.data_dir or Path(tempfile.mkdtemp(prefix="prognos-demo-"))
    stack = DemoStack(fleet, workdir, port=args.port, broker_kind=args.broker)
    try:
        return _run(args, fleet, stack, stop)
    finally:
        stack.stop()


def _run(args: argparse.Namespace, fleet: Any, stack: DemoStack, stop: threading.Event) -> int:
    print(
        f"prognos demo: {len(fleet.devices)} devices, {args.days:g} simulated days at up to {args.speed:g}x"
    )
    stack.start()
    assert stack.state is not None and stack.seed is not None and stack.link is not None
    serial_devices = sum(1 for d in fleet.devices if d.transport == "serial")
    kind = "mosquitto" if isinstance(stack.broker, MosquittoBroker) else "embedded Python broker"
    how = "a login per device and agent, ACL from the cloud" if stack.logins else "loopback only, no logins"
    print(f"  broker       {kind} on {stack.address.host}:{stack.address.port} ({how})")
    print(f"  serial line  {serial_devices} devices on {stack.link.path} -> bridge -> MQTT")
    print(f"  MQTT         {len(fleet.devices) - serial_devices} devices publishing directly")
    print("  edge agent   edge-1 (surprise detector, outbox in the data folder)")
    print(f"  cloud        {stack.url}/ui/  (data in {stack.workdir})")
    engineer = next(k for k in stack.seed.tokens if k.startswith("engineer:"))
    crew = None if args.no_crew else stack.field_crew()
    if crew is not None:
        print(f"  field crew   {len(crew.engineer_tokens)} simulated engineers and a dispatcher (REST API)")
    print(f"  log in as dispatcher: {stack.seed.tokens['dispatcher']}")
    print(f"  log in as {engineer.split(':')[2]} (engineer): {stack.seed.tokens[engineer]}")
    if not args.no_browser and args.summary_json is None:
        webbrowser.open(f"{stack.url}/ui/login")
    serial_sink = SerialSink(stack.link, noise=args.noise, seed=args.seed)
    mqtt_sink = MqttSink(stack.address, fleet.tenant, passwords=stack.device_passwords())
    mqtt_sink.start()
    by_transport: dict[str, MessageSink] = {"serial": serial_sink, "mqtt": mqtt_sink}
    truth: list[dict[str, Any]] = []
    progress = Progress(every=2.0)
    started = time.monotonic()
    reached = {"at": fleet.start}

    def show(ts: float, sent: int) -> None:
        stack.keep_up(sent, stop.is_set)
        stack.follow(ts)
        if crew is not None:
            crew.step(ts)
        reached["at"] = ts
        if not progress.due():
            return
        with stack.state.sessions() as s:  # type: ignore[union-attr]
            orders = s.scalar(select(func.count()).select_from(WorkOrder)) or 0
            alerts = s.scalar(select(func.count()).select_from(Alert)) or 0
        edge = stack.edge.stats() if stack.edge is not None else {}
        progress.update(
            f"  {iso(ts)}  sent {sent:,}  edge outbox {edge.get('outbox', 0):,}  "
            f"alerts {alerts}  work orders {orders}"
        )

    result = run_stream(
        fleet,
        route_by_transport(fleet, by_transport),
        speed=args.speed,
        loss=args.loss,
        on_truth=truth.append,
        progress=show,
        should_stop=stop.is_set,
        workshop=stack.workshop,
    )
    mqtt_sink.close()
    if not stop.is_set():
        stack.follow(fleet.end)
        progress.update("  the fleet is done; waiting for the edge and the cloud to catch up ...")
        stack.drain()
    progress.done()  # the serial line stays open until stack.stop(), after its reader stopped
    summary = demo_summary(stack.state, truth, fleet.end, len(fleet.devices), args.days, stack.clock.now())
    extra = {
        "wall_seconds": round(time.monotonic() - started, 1),
        "messages_sent": result["sent"],
        "messages_lost_on_purpose": result["lost_on_purpose"],
        "at": reached["at"],
        "interrupted": stop.is_set(),
    }
    print_summary(summary, extra)
    if args.summary_json is not None:
        args.summary_json.write_text(json.dumps({**summary, **extra}, indent=2) + "\n")
        return 0
    if not stop.is_set():
        print(f"\nthe pages stay up at {stack.url}/ui/ ; Ctrl-C to stop")
        stop.wait()
    return 0
