"""The ``prognos`` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from . import __version__

__all__ = ["main"]

# command -> the module that defines it, in the order ``prognos --help`` lists them
COMMANDS = {
    "sim": "sim_cmd",
    "bridge": "bridge_cmd",
    "demo": "demo",
    "detect": "detect_cmd",
    "edge": "edge_cmd",
    "cloud": "cloud_cmd",
    "models": "models_cmd",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's module is imported (the cloud's and
    the demo's imports cost seconds that ``prognos detect`` on a file should not pay)."""
    parser = argparse.ArgumentParser(prog="prognos", description="Predictive maintenance, edge to cloud.")
    parser.add_argument("--version", action="version", version=f"prognos {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f"{__package__}.{module}").add_parser(sub)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (after the global flags), if it is a known one."""
    for arg in argv:
        if arg in ("-v", "--verbose"):
            continue
        return arg if arg in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command_of(argv)).parse_args(argv)
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
