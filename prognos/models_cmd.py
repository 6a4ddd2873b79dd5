"""``prognos models ...``: train, export and use the offline models.

* ``train-anomaly --data CSV_OR_DIR --out model.onnx``: a model of normal behaviour for the
  edge (PCA or autoencoder, whichever separates anomalies better on a holdout), exported
  to ONNX with its metadata and checked against ONNX Runtime before it is written out.
* ``train-rul --data DIR --subset FD001 --out rul.onnx``: remaining useful life on NASA
  C-MAPSS, cross-validated by unit (see :mod:`models.rul`).
* ``predict-rul --model rul.onnx --data test_FD001.txt --out rul.csv``: one ``unit,rul``
  row per engine, predicted at its last cycle.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.table import LABEL_COLUMNS, TableError, read_table
from models.anomaly_train import KINDS, Segment, train_anomaly
from models.onnx_export import export_onnx, training_hash, verify_export

from . import rul_cmd
from .checked_export import write_checked
from .progress import Progress

__all__ = ["add_parser", "load_segments"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("models", help="train and export models (anomaly, remaining useful life)")
    models_sub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    t = models_sub.add_parser("train-anomaly", help="learn normal behaviour from CSVs, export ONNX")
    t.add_argument(
        "--data", required=True, type=Path, help="a CSV file, or a folder of them (searched recursively)"
    )
    t.add_argument("--out", required=True, type=Path, help="the .onnx file to write")
    t.add_argument(
        "--kind", choices=("auto", *KINDS), default="auto", help="model kind (default: best on holdout)"
    )
    t.add_argument("--label-col", default="anomaly", help="rows with a non-zero value here are not learned")
    t.add_argument("--only", help="only the CSV files whose name matches this glob (one kind of device)")
    t.add_argument("--ignore-cols", default="", help="comma-separated columns not to use as features")
    t.add_argument(
        "--name", default=None, help="model name in the registry (default: the output file's stem)"
    )
    t.add_argument("--version", default=None, help="version string (default: name-kind-training hash)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--metrics-json", type=Path, default=None, help="also write the training metrics here")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_train_anomaly)
    rul_cmd.add_parsers(models_sub)


def load_segments(
    data: Path, label_col: str = "anomaly", ignore: tuple[str, ...] = (), only: str | None = None
) -> tuple[list[str], list[Segment]]:
    """Every CSV under ``data`` (those whose name matches ``only``, a glob) as a segment. They
    must be one kind of device (the same channels): a folder that mixes kinds is refused with
    the kinds it holds and how to train one model for each."""
    files = sorted(data.rglob("*.csv")) if data.is_dir() else [data]
    if only:
        files = [f for f in files if fnmatch.fnmatch(f.name, only)]
    if not files:
        raise ValueError(f"no CSV files under {data}" + (f" match {only!r}" if only else ""))
    tables = []
    for path in files:
        try:
            table = read_table(path, None, ignore)
        except TableError as exc:
            raise ValueError(str(exc)) from None
        usable = [f for f in table.features if f not in LABEL_COLUMNS and f != label_col]
        tables.append((path, table, usable))
    kinds: dict[tuple[str, ...], list[Path]] = {}
    for path, _, usable in tables:
        kinds.setdefault(tuple(sorted(usable)), []).append(path)
    if len(kinds) > 1:
        described = "; ".join(
            f"{len(paths)} like {paths[0].name} ({len(cols)} channels)" for cols, paths in kinds.items()
        )
        example = next(iter(kinds.values()))[0].name.split("-")[0]
        raise ValueError(
            f"{data} mixes {len(kinds)} kinds of device: {described}. A model learns one kind: "
            f"train one per kind, e.g. --only '{example}-*'"
        )
    features = tables[0][2]
    segments = []
    for path, table, _ in tables:
        labels = None
        if label_col in table.features:
            labels = np.nan_to_num(table.X[:, table.features.index(label_col)]) > 0.5
        X = table.X[:, [table.features.index(f) for f in features]]
        segments.append(Segment(X, labels, str(path.relative_to(data) if data.is_dir() else path.name)))
    return list(features), segments


def _train_anomaly(args: argparse.Namespace) -> int:
    progress = Progress(quiet=args.quiet, every=0.5)
    t0 = time.perf_counter()
    ignore = tuple(c.strip() for c in args.ignore_cols.split(",") if c.strip())
    if not args.data.exists():
        raise ValueError(f"{args.data}: no such file or folder")
    features, segments = load_segments(args.data, args.label_col, ignore, args.only)
    rows = sum(len(s.X) for s in segments)
    progress.update(
        f"{len(segments)} file(s), {rows:,} rows, {len(features)} channels: {', '.join(features)}", force=True
    )
    kinds = KINDS if args.kind == "auto" else (args.kind,)
    trained = train_anomaly(segments, kinds, seed=args.seed, progress=progress.update)
    name = args.name or args.out.stem
    version = args.version or f"{name}-{trained.kind}-{training_hash(trained.train)[:8]}"
    metrics: dict[str, Any] = dict(trained.metrics)
    metrics["train_rows"] = int(len(trained.train))
    metrics["train_seconds"] = round(time.perf_counter() - t0, 2)
    write_checked(
        args.out,
        metrics,
        lambda path: export_onnx(trained.model, features, path, version, trained.train, metrics, name=name),
        lambda path: verify_export(path, trained.model, trained.holdout),
    )
    progress.done()
    if args.metrics_json:
        args.metrics_json.write_text(json.dumps(metrics, indent=2) + "\n")
    summary = {
        "out": str(args.out),
        "version": version,
        "kind": trained.kind,
        "features": features,
        **metrics,
    }
    print(json.dumps(summary, indent=2))
    return 0
