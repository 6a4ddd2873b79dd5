"""``prognos edge run --config FILE``: the edge agent."""

from __future__ import annotations

import argparse
import json
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
    run = edge_sub.add_parser("run", help="run the agent with a TOML (or YAML) configuration")
    run.add_argument("--config", required=True, type=Path)
    run.add_argument("--quiet", action="store_true")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        runner = EdgeRunner(config)
    except ConfigError as exc:
        print(f"prognos edge: {exc}", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: runner.stop())
    progress = Progress(quiet=args.quiet, every=5.0)
    print(
        f"edge agent {config.agent_id} (tenant {config.tenant}), data in {config.data_dir}, "
        f"{runner.restored} device states restored; Ctrl-C to stop",
        flush=True,
    )

    def show(s: dict[str, object]) -> None:
        got = s["received"]
        total = sum(got.values()) if isinstance(got, dict) else 0
        progress.update(
            f"edge: {s['devices']} devices, {total:,} messages in, "
            f"outbox {s['outbox']}, acked {s['acked']}, uplink {'up' if s['uplink_connected'] else 'down'}"
        )

    runner.run(progress=show, on_ready=lambda: print("sources ready", flush=True))
    progress.done()
    print(json.dumps(runner.stats()), flush=True)
    return 0
