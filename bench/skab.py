"""Detector quality on SKAB, scored the way SKAB's leaderboard scores it.

Each labelled file: the first 400 rows are learned (the leaderboard's training part);
the rest is replayed through the edge pipeline, which keeps learning as it goes, and
the alert flag is the point-wise prediction. TP/FP/TN/FN are pooled over the 34 files.

    python bench/skab.py [--detector robust] [--datasets ../shared/datasets]
    python bench/skab.py --compare robust,trained,robust+trained

``trained`` in a detector name stands for a model trained offline (``prognos models
train-anomaly``'s code) on the same first 400 rows of the file, exported to ONNX and run
through the edge's ONNX adapter: the offline model against the online default, on the
same data with the same calibration and alert policy.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.pipeline import DevicePipeline  # noqa: E402
from models.anomaly_train import Segment, train_anomaly  # noqa: E402
from models.onnx_export import export_onnx, verify_export  # noqa: E402
from models.registry import make_detector  # noqa: E402
from models.scoring import outlier_counts, outlier_metrics  # noqa: E402

TRAIN_ROWS = 400
FEATURES = [
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
]
LEADERBOARD_BEST = {"algorithm": "Conv-AE", "f1": 0.78, "far_pct": 13.55, "mar_pct": 28.02}


def load(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    t = np.array(
        [np.datetime64(r["datetime"]).astype("datetime64[s]").astype(np.int64) for r in rows], dtype=float
    )
    X = np.array([[float(r[f]) for f in FEATURES] for r in rows])
    y = np.array([float(r["anomaly"]) > 0.5 for r in rows])
    return t, X, y


def trained_onnx(X: np.ndarray, out: Path, name: str) -> str:
    """Train on normal rows the way ``prognos models train-anomaly`` does; the ONNX file's spec."""
    trained = train_anomaly([Segment(X)], seed=0)
    export_onnx(trained.model, list(FEATURES), out, f"{name}-{trained.kind}", trained.train)
    verify_export(out, trained.model, trained.holdout)
    KINDS_CHOSEN[trained.kind] = KINDS_CHOSEN.get(trained.kind, 0) + 1
    return f"onnx:{out}"


KINDS_CHOSEN: dict[str, int] = {}


def evaluate_file(path: Path, detector: str, batch: int = 1) -> tuple[object, dict[str, object]]:
    t, X, y = load(path)
    if "trained" in detector:
        with tempfile.TemporaryDirectory() as tmp:
            spec = trained_onnx(X[:TRAIN_ROWS], Path(tmp) / "model.onnx", path.stem)
            return evaluate_file_with(path, t, X, y, detector.replace("trained", spec), batch)
    return evaluate_file_with(path, t, X, y, detector, batch)


def evaluate_file_with(
    path: Path, t: np.ndarray, X: np.ndarray, y: np.ndarray, detector: str, batch: int
) -> tuple[object, dict[str, object]]:
    pipe = DevicePipeline(make_detector(detector, list(FEATURES)))
    pipe.detector.learn_many(X[:TRAIN_ROWS])
    pipe.calibrator.update(pipe.detector.score_many(X[:TRAIN_ROWS]))
    alerts = np.zeros(len(X) - TRAIN_ROWS, dtype=bool)
    for s in range(TRAIN_ROWS, len(X), batch):
        e = min(len(X), s + batch)
        alerts[s - TRAIN_ROWS : e - TRAIN_ROWS] = pipe.process_batch(t[s:e], X[s:e]).alert
    counts = outlier_counts(y[TRAIN_ROWS:], alerts)
    return counts, {"file": f"{path.parent.name}/{path.name}", **outlier_metrics([counts])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--detector", default="robust")
    ap.add_argument(
        "--datasets", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--compare", default=None, help="comma-separated detectors, one result each")
    ap.add_argument("--per-file", action="store_true")
    args = ap.parse_args()
    files = sorted(
        p for d in ("valve1", "valve2", "other") for p in (args.datasets / "skab" / d).glob("*.csv")
    )
    if not files:
        sys.exit(f"no SKAB files under {args.datasets / 'skab'}")
    dataset = "SKAB v0.9, 34 labelled files, first 400 rows of each learned, rest scored"
    if args.compare:
        out: dict[str, object] = {
            "dataset": dataset,
            "batch": args.batch,
            "leaderboard_best": LEADERBOARD_BEST,
        }
        for detector in args.compare.split(","):
            KINDS_CHOSEN.clear()
            t0 = time.perf_counter()
            results = [evaluate_file(p, detector, args.batch) for p in files]
            out[detector] = {
                **outlier_metrics(c for c, _ in results),
                "seconds": round(time.perf_counter() - t0, 2),
            }
            if KINDS_CHOSEN:
                out[detector]["kinds_chosen"] = dict(KINDS_CHOSEN)  # type: ignore[index]
        print(json.dumps(out, indent=2))
        return
    t0 = time.perf_counter()
    results = [evaluate_file(p, args.detector, args.batch) for p in files]
    out = {
        "dataset": dataset,
        "detector": args.detector,
        "batch": args.batch,
        **outlier_metrics(c for c, _ in results),
        "leaderboard_best": LEADERBOARD_BEST,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if args.per_file:
        out["files"] = [r for _, r in results]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
