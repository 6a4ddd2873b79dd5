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
