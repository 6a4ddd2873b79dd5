"""``prognos detect``: replay a CSV through the edge's per-device pipeline, in order."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge.pipeline import DevicePipeline
from edge.table import TableError, iter_rows, read_table
from models.registry import DETECTORS, make_detector

from .progress import Progress

__all__ = ["add_parser", "detect_file"]


def batch_size(rows: int) -> int:
    """Rows per micro-batch. One row at a time is exactly what the agent does; files too
    long for that (about 2,500 rows/s) use small batches, which adapt a few rows later."""
    if rows <= 50_000:
        return 1
    return 8 if rows <= 250_000 else 32


def add_parser(sub: Any) -> None:
    p = sub.add_parser("detect", help="score a CSV with the edge pipeline; adds anomaly_score and alert")
    p.add_argument(
        "--input", required=True, type=Path, help="CSV with a timestamp column and numeric columns"
    )
    p.add_argument("--output", required=True, type=Path, help="where to write the scored CSV")
    p.add_argument("--detector", default="robust", help=f"one of {', '.join(DETECTORS)} (default robust)")
    p.add_argument("--timestamp-col", default="timestamp", help="name of the time column (default timestamp)")
    p.add_argument("--ignore-cols", default="", help="comma-separated columns not to use as features")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def detect_file(
    path: Path,
    detector: str = "robust",
    timestamp_col: str = "timestamp",
    ignore: tuple[str, ...] = (),
    progress: Progress | None = None,
) -> tuple[Any, np.ndarray, np.ndarray]:
    """Score every row of ``path``; returns (table, anomaly_score, alert)."""
    table = read_table(path, timestamp_col, ignore)
    pipe = DevicePipeline(make_detector(detector, list(table.features)))
    n = table.n_rows
    scores = np.zeros(n)
    alerts = np.zeros(n, dtype=bool)
    step = batch_size(n)
    for start in range(0, n, step):
        end = min(n, start + step)
        result = pipe.process_batch(table.time[start:end], table.X[start:end])
        scores[start:end] = result.score
        alerts[start:end] = result.alert
        if progress is not None:
            progress.update(f"detect: {end:,}/{n:,} rows")
    return table, scores, alerts


def run(args: argparse.Namespace) -> int:
    progress = Progress(quiet=args.quiet)
    ignore = tuple(c.strip() for c in args.ignore_cols.split(",") if c.strip())
    try:
        table, scores, alerts = detect_file(args.input, args.detector, args.timestamp_col, ignore, progress)
    except TableError as exc:
        progress.done()
        print(f"prognos detect: {exc}", file=sys.stderr)
        return 2
    progress.done()
    for warning in table.warnings:
        print(f"prognos detect: warning: {warning}", file=sys.stderr)
    try:
        with open(args.output, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, delimiter=table.delimiter, lineterminator="\n")
            writer.writerow([*table.header, "anomaly_score", "alert"])
            for row, s, a in zip(iter_rows(table), scores.tolist(), alerts.tolist(), strict=True):
                writer.writerow([*row, f"{s:.6f}", int(a)])
    except OSError as exc:
        print(f"prognos detect: cannot write {args.output}: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        rows, in_alert = table.n_rows, int(alerts.sum())
        print(f"{rows:,} rows, {len(table.features)} features, {in_alert:,} rows in alert -> {args.output}")
    return 0
