"""The ``prognos`` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__, bridge_cmd, demo, detect_cmd, edge_cmd, sim_cmd

__all__ = ["main"]

_LATER = {
    "cloud": "the cloud service (work orders, dispatch, reminders, health views)",
}


def _not_yet(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        print(f"prognos {name}: not built yet; it will run {_LATER[name]}.", file=sys.stderr)
        return 2

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prognos", description="Predictive maintenance, edge to cloud.")
    parser.add_argument("--version", action="version", version=f"prognos {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sim_cmd.add_parser(sub)
    bridge_cmd.add_parser(sub)
    demo.add_parser(sub)
    detect_cmd.add_parser(sub)
    edge_cmd.add_parser(sub)
    for name, what in _LATER.items():
        p = sub.add_parser(name, help=f"{what} (not built yet)")
        p.set_defaults(func=_not_yet(name))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except ValueError as exc:
        if args.verbose:
            raise
        print(f"prognos {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
