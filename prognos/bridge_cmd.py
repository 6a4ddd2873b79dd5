"""``prognos bridge``: a serial-to-MQTT gateway for devices that only speak serial."""

from __future__ import annotations

import argparse
import json
import signal
from typing import Any

from firmware_bridge.bridge import SerialMqttBridge
from firmware_bridge.serial_reader import SerialReader
from mqtt_client import parse_broker

from .progress import Progress

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bridge", help="read device frames from a serial port and republish them to MQTT")
    p.add_argument("--serial", required=True, metavar="PORT", help="port path or pyserial URL")
    p.add_argument("--mqtt", required=True, metavar="HOST:PORT", help="MQTT broker")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--tenant", default="demo", help="tenant in the published topics (default demo)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    reader = SerialReader(args.serial, args.baud, tenant=args.tenant)
    bridge = SerialMqttBridge(reader, parse_broker(args.mqtt), tenant=args.tenant)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: bridge.stop())
    progress = Progress(quiet=args.quiet, every=5.0)

    def show(_msg: object) -> None:
        s = reader.stats()
        errors = sum(dict(s["frame_errors"]).values())  # type: ignore[call-overload]
        progress.update(
            f"bridge: {bridge.published:,} published, {s['frames']:,} frames, {errors} frame errors, "
            f"{s['sequence_gaps']} gaps, {s['duplicates']} duplicates, {s['reconnects']} reconnects"
        )

    print(f"bridging {args.serial} -> mqtt://{args.mqtt} (tenant {args.tenant}); Ctrl-C to stop", flush=True)
    bridge.run(on_message=show)
    progress.done()
    print(json.dumps(bridge.stats(), default=str))
    return 0
