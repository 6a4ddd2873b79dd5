"""``prognos edge run --config FILE``: the edge agent."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from edge.config import load_config
from edge.errors import ConfigError
from edge.runner import EdgeRunner

from .progress import Progress

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("edge", help="the edge agent: detect faults in device streams, forward alerts")
    edge_sub = p.add_subparsers(dest="edge_command", required=True, metavar="ACTION")
    run = edge_sub.add_parser(
        "run",
        help="run the agent with a TOML (or YAML) configuration",
        description="Run the edge agent. The configuration file names its sources (serial ports, "
        "MQTT brokers), its uplink and its detector; docs/examples/edge.toml shows every key with "
        "its default. Alerts are logged as they are raised and cleared.",
    )
    run.add_argument("--config", required=True, type=Path, help="the agent's TOML or YAML file")
    run.add_argument("--quiet", action="store_true", help="no status line; warnings and errors only")
    run.add_argument("-v", "--verbose", action="store_true", help="also debug messages")
    run.set_defaults(func=_run)
    status = edge_sub.add_parser(
        "status",
        help="what a running agent hears and does, per device",
        description="Read the status the agent using this configuration writes every 2 s: its uplink "
        "and outbox, what it dropped and why, and per device the messages heard, when last, its "
        "model, open alerts and lost messages. Exit 1 when the agent is not running.",
    )
    status.add_argument("--config", required=True, type=Path, help="the agent's TOML or YAML file")
    status.add_argument("--json", action="store_true", help="the status document as it is")
    status.set_defaults(func=_status)


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        runner = EdgeRunner(config)
    except ConfigError as exc:
        print(f"prognos edge: {exc}", file=sys.stderr)
        return 2
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: runner.stop())
    progress = Progress(quiet=args.quiet, every=5.0)
    print(
        f"edge agent {config.agent_id} (tenant {config.tenant}), data in {config.data_dir}, "
        f"{runner.restored} device states restored; Ctrl-C to stop",
        flush=True,
    )

    def show(s: dict[str, object]) -> None:
        got = s["received"]  # device messages in, by type (what went out is counted as out_*)
        total = sum(n for k, n in got.items() if not k.startswith("out_")) if isinstance(got, dict) else 0
        progress.update(
            f"edge: {s['devices']} devices, {total:,} messages in, "
            f"outbox {s['outbox']}, acked {s['acked']}, uplink {'up' if s['uplink_connected'] else 'down'}"
        )

    runner.run(progress=show, on_ready=lambda: print("sources ready", flush=True))
    progress.done()
    print(json.dumps(runner.stats()), flush=True)
    return 0


STALE_S = 10.0  # a live agent rewrites its status every 2 s


def _status(args: argparse.Namespace) -> int:
    import time
    from datetime import UTC, datetime

    from edge.status_file import read_status

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"prognos edge: {exc}", file=sys.stderr)
        return 2
    doc = read_status(config.data_dir)
    if doc is None:
        print(f"prognos edge: no agent has run with data in {config.data_dir}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(doc, indent=2))

    def when(ts: float | None) -> str:
        return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")

    age = time.time() - float(doc.get("at", 0))
    live = bool(doc.get("running")) and age < STALE_S
    if not args.json:
        up = doc.get("uplink", {})
        state = "running" if live else f"not running (last status {when(doc.get('at'))} UTC)"
        print(f"edge agent {doc.get('agent')} (tenant {doc.get('tenant')}): {state}")
        print(
            f"  uplink {'up' if up.get('connected') else 'down'}, outbox {up.get('outbox')} "
            f"({up.get('awaiting_confirmation')} awaiting the cloud), confirmed {up.get('confirmed')}, "
            f"resent {up.get('resent')}{', OUTBOX FAILING' if up.get('outbox_failing') else ''}"
        )
        dropped = doc.get("dropped") or {}
        print("  dropped: " + (", ".join(f"{k} {n}" for k, n in dropped.items()) or "nothing"))
        print(f"  {'device':<16} {'messages':>9} {'last seen (UTC)':<19} {'lost':>6}  alert  model")
        for device, d in sorted((doc.get("devices") or {}).items()):
            alert = "open" if d.get("alert_open") else "trend" if d.get("trend_alert_open") else "-"
            print(f"  {device:<16} {d.get('messages', 0):>9,} {when(d.get('last_seen_at')):<19} "
                  f"{d.get('lost', 0):>6}  {alert:<5}  {d.get('model')}")  # fmt: skip
    return 0 if live else 1
