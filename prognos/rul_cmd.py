"""``prognos models train-rul`` and ``predict-rul``: remaining useful life on NASA C-MAPSS."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from models.cmapss import RUL_CAP, load_runs
from models.rul_onnx import RulPredictor, export_rul, verify_rul_export
from models.rul_train import KINDS, RulSettings, train_rul

from .checked_export import write_checked
from .progress import Progress

__all__ = ["add_parsers"]


def add_parsers(models_sub: Any) -> None:
    t = models_sub.add_parser(
        "train-rul", help="train a RUL model on C-MAPSS run-to-failure units, export ONNX"
    )
    t.add_argument(
        "--data", required=True, type=Path, help="the C-MAPSS folder (train_FD00x.txt), or one training file"
    )
    t.add_argument("--subset", default="FD001", help="FD001..FD004 (default FD001)")
    t.add_argument("--out", required=True, type=Path)
    t.add_argument("--folds", type=int, default=5, help="cross-validation folds by unit (1: none)")
    t.add_argument(
        "--kind", choices=KINDS, default="gbm", help="gbm: boosted trees (default); mlp: the earlier networks"
    )
    t.add_argument("--window", type=int, default=None, help="cycles each prediction sees (gbm 60, mlp 30)")
    t.add_argument("--members", type=int, default=3, help="networks averaged (mlp)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--version", default=None)
    t.add_argument("--metrics-json", type=Path, default=None)
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_train)
    p = models_sub.add_parser("predict-rul", help="RUL at the last cycle of every unit in a C-MAPSS file")
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--data", required=True, type=Path, help="e.g. test_FD001.txt")
    p.add_argument(
        "--out", required=True, type=Path,
        help="CSV, a row per unit: unit, rul and, for a calibrated model, its 80 %% and 90 %% bounds",
    )  # fmt: skip
    p.set_defaults(func=_predict)


def _training_file(data: Path, subset: str) -> Path:
    if data.is_file():
        return data
    path = data / f"train_{subset}.txt"
    if not path.exists():
        raise ValueError(f"{path}: no such file (is --data the C-MAPSS folder and --subset right?)")
    return path


def _train(args: argparse.Namespace) -> int:
    progress = Progress(quiet=args.quiet, every=2.0)
    path = _training_file(args.data, args.subset)
    runs = load_runs(path)
    progress.update(
        f"{path.name}: {len(runs)} units, {sum(len(r.sensors) for r in runs):,} cycles", force=True
    )
    settings = RulSettings(kind=args.kind, window=args.window, members=args.members, seed=args.seed)
    model = train_rul(runs, settings, folds=args.folds, progress=progress.update)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    version = args.version or f"rul-{args.subset.lower()}-{digest[:8]}"
    name = f"rul-{args.subset.lower()}"
    write_checked(
        args.out,
        model.metrics,
        lambda path: export_rul(
            model, path, version=version, name=name, train_sha256=digest, subset=args.subset
        ),
        lambda path: verify_rul_export(path, model, runs[:10]),
    )
    progress.done()
    if args.metrics_json:
        args.metrics_json.write_text(json.dumps(model.metrics, indent=2) + "\n")
    print(
        json.dumps(
            {
                "out": str(args.out),
                "version": version,
                "subset": args.subset,
                "rul_cap": RUL_CAP,
                **model.metrics,
            },
            indent=2,
        )
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    predictor = RulPredictor(args.model)
    runs = load_runs(args.data)
    rul = predictor.predict_last(runs)
    header, columns = ["unit", "rul"], [rul]
    for level in (0.8, 0.9):
        bounds = predictor.interval(rul, level)
        if bounds is not None:
            pct = round(level * 100)
            header += [f"rul_low_{pct}", f"rul_high_{pct}"]
            columns += list(bounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i, run in enumerate(runs):
            writer.writerow([run.unit, *(f"{c[i]:.1f}" for c in columns)])
    print(f"{len(runs)} units -> {args.out} (model {predictor.version})")
    return 0
