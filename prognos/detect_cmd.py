"""``prognos detect``: replay a CSV through the edge's per-device pipeline, in order.

The output is the input with four columns added (the contract in docs/models.md):
``anomaly_score`` (0..1, how surprising the row is given the device's recent behaviour),
``alert`` (1 only on the row where an alert is raised: one per incident), ``in_alert``
(1 while an alert is held) and ``health`` (0..1, 1 = like the device's own early baseline).
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.pipeline import DevicePipeline
from edge.table import LABEL_COLUMNS, Table, TableError, iter_line_chunks, iter_rows, read_table
from models.base import Detector, TimedDetector
from models.registry import DEFAULT_DETECTOR, DETECTORS, make_detector

from .progress import Progress

__all__ = ["add_parser", "detect_file"]


@dataclass(slots=True)
class Detected:
    table: Table
    score: NDArray[np.float64]
    alert: NDArray[np.bool_]  # raised on this row
    in_alert: NDArray[np.bool_]
    health: NDArray[np.float64]


def batch_size(detector: Detector) -> int:
    """Rows per batch. A timed detector gives the same scores in any batch size, so the file
    goes through in large ones; the others adapt between batches, so they get one row at a
    time, as the agent would feed them."""
    return 4096 if isinstance(detector, TimedDetector) else 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "detect",
        help="score a CSV with the edge pipeline; adds anomaly_score, alert, in_alert and health",
        description="Replay a CSV through the edge pipeline, fresh state, row order. Adds anomaly_score "
        "(0..1 surprise), alert (1 on the row an alert is raised), in_alert (1 while held), health (0..1).",
    )
    p.add_argument(
        "--input", required=True, type=Path, help="CSV with a timestamp column and numeric columns"
    )
    p.add_argument("--output", required=True, type=Path, help="where to write the scored CSV")
    p.add_argument(
        "--detector",
        default=DEFAULT_DETECTOR,
        help=f"one of {', '.join(DETECTORS)} (default {DEFAULT_DETECTOR})",
    )
    p.add_argument("--timestamp-col", default="timestamp", help="name of the time column (default timestamp)")
    p.add_argument(
        "--ignore-cols",
        default="",
        help="comma-separated columns not to use as features (label columns, e.g. anomaly, never are)",
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def detect_file(
    path: Path,
    detector: str = DEFAULT_DETECTOR,
    timestamp_col: str = "timestamp",
    ignore: tuple[str, ...] = (),
    progress: Progress | None = None,
) -> Detected:
    """Score every row of ``path`` through a fresh pipeline; label columns (``anomaly``, ...)
    are ground truth, never features, and the output keeps them as they were."""
    table = read_table(path, timestamp_col, ignore + LABEL_COLUMNS)
    pipe = DevicePipeline(make_detector(detector, list(table.features)))
    n = table.n_rows
    out = Detected(table, np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.ones(n))
    step = batch_size(pipe.detector)
    for start in range(0, n, step):
        end = min(n, start + step)
        result = pipe.process_batch(table.time[start:end], table.X[start:end])
        out.score[start:end] = result.score
        out.alert[start:end] = result.raised
        out.in_alert[start:end] = result.alert
        out.health[start:end] = result.health
        if progress is not None:
            progress.update(f"detect: {end:,}/{n:,} rows")
    return out


_ADDED = ("anomaly_score", "alert", "in_alert", "health")


def write_scored(found: Detected, path: Path) -> None:
    """The input's rows as written, with the four columns added. A plain file (one row per
    line) is copied line by line, a slice at a time; any other goes through the csv module."""
    table = found.table
    columns = (found.score, found.alert.astype(np.int8), found.in_alert.astype(np.int8), found.health)
    d = table.delimiter
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=d, lineterminator="\n")
        writer.writerow([*table.header, *_ADDED])
        if table.plain:
            line = "%s" + d + "%.6f" + d + "%d" + d + "%d" + d + "%.4f\n"
            start = 0
            for chunk in iter_line_chunks(table):
                part = [c[start : start + len(chunk)].tolist() for c in columns]
                fh.write("".join(map(line.__mod__, zip(chunk, *part, strict=True))))
                start += len(chunk)
            return
        rows = zip(iter_rows(table), *(c.tolist() for c in columns), strict=True)
        writer.writerows([*row, f"{s:.6f}", a, held, f"{h:.4f}"] for row, s, a, held, h in rows)


def run(args: argparse.Namespace) -> int:
    progress = Progress(quiet=args.quiet)
    ignore = tuple(c.strip() for c in args.ignore_cols.split(",") if c.strip())
    try:
        found = detect_file(args.input, args.detector, args.timestamp_col, ignore, progress)
    except (TableError, ValueError) as exc:
        progress.done()
        print(f"prognos detect: {exc}", file=sys.stderr)
        return 2
    progress.done()
    table = found.table
    for warning in table.warnings:
        print(f"prognos detect: warning: {warning}", file=sys.stderr)
    try:
        write_scored(found, args.output)
    except OSError as exc:
        print(f"prognos detect: cannot write {args.output}: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        rows, raised, held = table.n_rows, int(found.alert.sum()), int(found.in_alert.sum())
        print(
            f"{rows:,} rows, {len(table.features)} features, {raised:,} alerts raised, "
            f"{held:,} rows in alert, final health {found.health[-1]:.2f} -> {args.output}"
        )
    return 0
