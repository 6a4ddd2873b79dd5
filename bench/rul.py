"""Remaining-useful-life quality on NASA C-MAPSS, cross-validated by unit, as JSON.

Runs exactly what ``prognos models train-rul`` runs (5 folds by unit, then the model to
ship), for the shipped kind (``gbm``) and the previous one (``mlp``) in the same run, with
the intervals' cross-validated coverage and width, and adds what each model predicts for
the test file's units, whose truth is not shipped.

    python bench/rul.py [--subset FD001] [--datasets ../shared/datasets] [--kinds gbm,mlp]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prognos.cli import main as prognos  # noqa: E402


def _one(kind: str, data: Path, subset: str) -> dict[str, object]:
    """``train-rul --kind KIND`` then ``predict-rul`` on the test file, timed, as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        model, metrics, rul = Path(tmp) / "rul.onnx", Path(tmp) / "metrics.json", Path(tmp) / "rul.csv"
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            argv = ["models", "train-rul", "--data", str(data), "--subset", subset, "--out", str(model)]
            rc = prognos([*argv, "--kind", kind, "--metrics-json", str(metrics), "--quiet"])
        seconds = time.perf_counter() - t0
        if rc:
            sys.exit(rc)
        out = json.loads(metrics.read_text())
        test = data / f"test_{subset}.txt"
        if test.exists():
            with contextlib.redirect_stdout(io.StringIO()):
                prognos(
                    ["models", "predict-rul", "--model", str(model), "--data", str(test), "--out", str(rul)]
                )
            values = [float(line.split(",")[1]) for line in rul.read_text().splitlines()[1:]]
            out["test_file"] = {
                "units": len(values),
                "mean_predicted_rul": round(sum(values) / len(values), 1),
            }
    cv = out.pop("cross_validation")
    return {
        "command": f"prognos models train-rul --data {data} --subset {subset} --kind {kind} --out rul.onnx",
        "rmse_every_cycle": cv["rmse_every_cycle"],
        "rmse_test_protocol": cv["rmse_test_protocol"],
        "nasa_score_per_100_units": cv["nasa_score_per_100_units"],
        "intervals": cv["intervals"],
        "wall_seconds": round(seconds, 1),
        "cross_validation": cv,
        **out,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subset", default="FD001")
    ap.add_argument(
        "--datasets", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
    ap.add_argument("--kinds", default="gbm,mlp", help="the shipped kind and the previous one, in one run")
    args = ap.parse_args()
    data = args.datasets / "cmapss"
    results = {}
    for kind in args.kinds.split(","):
        print(f"[rul] training {kind} ...", file=sys.stderr, flush=True)
        results[kind] = _one(kind, data, args.subset)
    print(json.dumps({
        "dataset": f"NASA C-MAPSS {args.subset}",
        "targets": {"rmse_test_protocol": "<= 12.0", "nasa_score_per_100_units": "<= 250",
                    "coverage_90": "0.87..0.93", "train_seconds": "<= 60 on 2 cores"},
        **results,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
