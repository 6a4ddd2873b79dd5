"""``prognos sim``: file mode (CSV + truth) or streaming to a serial line and/or MQTT."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from firmware_bridge.contract import device_passwords
from mqtt_client import parse_broker
from simulators.files import write_fleet_files
from simulators.fleet import FleetSpec, load_fleet_config, plan_fleet
from simulators.pty_link import PtyLink
from simulators.sinks import MqttSink, SerialSink, route_by_transport
from simulators.stream import MessageSink, run_stream
from simulators.truth import iso

from .progress import Progress

__all__ = ["add_parser", "build_fleet"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sim", help="simulate a device fleet with injected faults and ground truth")
    p.add_argument("--devices", type=int, default=20, help="number of devices (default 20)")
    p.add_argument("--days", type=float, default=30.0, help="simulated days (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same fleet")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between samples (default 60)")
    p.add_argument("--fault-rate", type=float, default=0.4, help="share of devices that develop a fault")
    p.add_argument("--config", type=Path, help="fleet described in a TOML file (see simulators/fleet.py)")
    p.add_argument("--out", type=Path, help="folder for CSVs, truth.jsonl and fleet.json")
    p.add_argument("--workers", type=int, default=None, help="processes for file mode (default: all cores)")
    p.add_argument("--serial-link", type=Path, help="stream frames on a pty; make this symlink to it")
    p.add_argument("--mqtt", metavar="HOST:PORT", help="stream to this MQTT broker")
    p.add_argument("--tenant", default="demo", help="tenant in MQTT topics (default demo)")
    p.add_argument("--binary", action="store_true", help="publish binary frames instead of JSON")
    p.add_argument(
        "--logins",
        type=Path,
        help="with --mqtt: each device logs in as itself (a file from `prognos cloud broker-logins`)",
    )
    p.add_argument("--speed", type=float, default=0.0, help="simulated seconds per second (0 = flat out)")
    p.add_argument("--loss", type=float, default=0.0, help="share of messages lost on purpose (gaps)")
    p.add_argument(
        "--quiet", action="store_true", help="no progress or notes: only the JSON summary (stdout) and errors"
    )
    p.set_defaults(func=run)


def build_fleet(args: argparse.Namespace, transports: tuple[str, ...] = ("file",)) -> FleetSpec:
    if args.config is not None:
        return load_fleet_config(args.config)
    return plan_fleet(
        args.devices,
        args.days,
        args.seed,
        interval=args.interval,
        fault_rate=args.fault_rate,
        tenant=args.tenant,
        transports=transports,
    )


def run(args: argparse.Namespace) -> int:
    streaming = args.serial_link is not None or args.mqtt is not None
    if not streaming and args.out is None:
        raise SystemExit("prognos sim: give --out DIR (file mode) or --serial-link / --mqtt (streaming)")
    transports = tuple(t for t, on in (("serial", args.serial_link), ("mqtt", args.mqtt)) if on) or ("file",)
    fleet = build_fleet(args, transports)
    progress = Progress(quiet=args.quiet)
    if not streaming:
        report = write_fleet_files(
            fleet,
            args.out,
            workers=args.workers,
            progress=lambda done, total, rows: progress.update(f"sim: {done}/{total} devices, {rows:,} rows"),
        )
        progress.done()
        summary = {
            "devices": report.devices,
            "rows": report.rows,
            "values": report.values,
            "truth_records": report.truth_records,
            "seconds": round(report.seconds, 3),
            "rows_per_second": round(report.rows_per_second),
            "out": str(report.out_dir),
        }
        print(json.dumps(summary))
        return 0
    return _stream(fleet, args, progress)


def _stream(fleet: FleetSpec, args: argparse.Namespace, progress: Progress) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    by_transport: dict[str, MessageSink] = {}
    if args.serial_link is not None:
        link = PtyLink(args.serial_link)
        by_transport["serial"] = SerialSink(link)
        if not args.quiet:
            print(f"serial line: {link.path} -> {link.port}", flush=True)
    mqtt_sink = None
    if args.mqtt is not None:
        passwords = _device_passwords(args.logins, fleet.tenant) if args.logins else None
        mqtt_sink = MqttSink(parse_broker(args.mqtt), fleet.tenant, binary=args.binary, passwords=passwords)
        if not mqtt_sink.start():
            print(
                f"warning: broker {args.mqtt} not reachable yet; publishes are queued",
                file=sys.stderr,
                flush=True,
            )
        by_transport["mqtt"] = mqtt_sink
    sinks = route_by_transport(fleet, by_transport)
    truth: list[dict[str, Any]] = []
    try:
        result = run_stream(
            fleet,
            sinks,
            speed=args.speed,
            loss=args.loss,
            on_truth=truth.append,
            progress=lambda ts, n: progress.update(f"sim: {iso(ts)}  {n:,} messages sent"),
            should_stop=stop.is_set,
        )
    finally:
        for sink in by_transport.values():
            sink.close()
        progress.done()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / "truth.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in truth)
    delivery = {}
    if mqtt_sink is not None:  # what the broker acknowledged, not what was handed to paho
        acked, missing = mqtt_sink.acknowledged, mqtt_sink.unacknowledged
        delivery = {"mqtt_acknowledged": acked, "mqtt_unacknowledged": missing}
    print(json.dumps({**result, **delivery, "devices": len(fleet.devices), "truth_records": len(truth)}))
    if mqtt_sink is not None and mqtt_sink.unacknowledged:
        print(f"prognos sim: {mqtt_sink.unacknowledged} MQTT messages were not acknowledged by the broker",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _device_passwords(path: Path, tenant: str) -> dict[str, str]:
    """Device id -> password from a `prognos cloud broker-logins` file."""
    try:
        logins = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"prognos sim: cannot read logins {path}: {exc}") from None
    return device_passwords(logins, tenant)
