"""The ``prognos`` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__, bridge_cmd, cloud_cmd, demo, detect_cmd, edge_cmd, models_cmd, sim_cmd

__all__ = ["main"]


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
    cloud_cmd.add_parser(sub)
    models_cmd.add_parser(sub)
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
