"""Detection quality through the product path: ``prognos detect`` on whole CSVs, scored.

Every figure here comes from running ``prognos detect --input F --output O`` as a user
would (a subprocess, the whole file, fresh state, default settings) and reading the
output's columns. Nothing is learned or primed outside the command.

    python bench/detection.py [--corpora skab,msl,cmapss] [--datasets ../shared/datasets]
                              [--previous COMMIT] [--jobs 2]

Beside the default it runs, in the same run and on the same files:

* ``previous``: the default detector as it was at ``--previous`` (a commit checked out
  into a temporary git worktree and run the same way); its output has only
  ``anomaly_score`` and a held ``alert``, which is read as what it says;
* ``zscore``: a plain rolling z-score (each channel against the mean and standard
  deviation of its previous 100 rows; a detection where the largest |z| first reaches 4,
  held while it stays there), the baseline the targets are stated against.

Figures: SKAB's point-wise F1 / FAR / MAR on ``in_alert`` after row 400 (its leaderboard's
protocol), the NAB-style event score (bench/event_score.py, standard profile) on ``alert``
for SKAB and MSL, and for C-MAPSS the share of engines alerted at least 20 cycles before
failure and false alerts per 1,000 cycles more than 125 before failure. JSON on stdout,
each figure beside its target.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from corpora import Case, cmapss_cases, msl_cases, sim_cases, skab_cases  # noqa: E402
from event_score import PROFILES, file_score, normalised  # noqa: E402

from models.scoring import outlier_counts, outlier_metrics  # noqa: E402

PREVIOUS_DEFAULT = "b2793ce"  # the default before the surprise/degradation split (issue 14)
ZSCORE_WINDOW, ZSCORE_THRESHOLD = 100, 4.0
TARGETS = {
    "skab_f1": ">= 0.80",
    "skab_far_pct": "<= 12",
    "msl_event_score": ">= 2x zscore",
    "cmapss_alerted_20_before": ">= 0.95",
    "cmapss_false_per_1000_cycles": "<= 1",
    "sim_caught_before_failure": ">= 0.95 (every mode)",
    "sim_median_lead_share": ">= 0.5",
    "sim_false_alerts_per_device_day": "<= 0.05",
    "sim_healthy_time_at_health_0_8": ">= 0.95",
}


@dataclass
class Output:
    score: NDArray[np.float64]
    alert: NDArray[np.bool_]  # detections: rows where an incident is raised
    in_alert: NDArray[np.bool_]
    health: NDArray[np.float64] | None = None


def read_output(path: Path) -> Output:
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        cols = {h: i for i, h in enumerate(header)}
        rows = list(reader)
    get = lambda name: np.array([float(r[cols[name]]) for r in rows])  # noqa: E731
    alert = get("alert") > 0.5
    in_alert = get("in_alert") > 0.5 if "in_alert" in cols else alert
    health = get("health") if "health" in cols else None
    return Output(get("anomaly_score"), alert, in_alert, health)


def run_detect(python: list[str], cwd: Path, case: Case, out_dir: Path, tag: str) -> Output:
    out = out_dir / f"{tag}-{case.csv.name}"
    cmd = [*python, "-m", "prognos", "detect", "--input", str(case.csv), "--output", str(out), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{tag} on {case.name}: {proc.stderr.strip()[-500:]}")
    result = read_output(out)
    out.unlink()
    return result


def zscore(case: Case) -> Output:
    """Rolling z-score over the previous ZSCORE_WINDOW rows of each channel."""
    if case.X is None:  # a corpus written by another program: read it the way detect does
        from edge.table import LABEL_COLUMNS, read_table

        case.X = read_table(case.csv, ignore=LABEL_COLUMNS).X  # what detect reads too
    X = case.X
    n, _ = X.shape
    csum = np.vstack([np.zeros((1, X.shape[1])), np.nancumsum(X, axis=0)])
    csq = np.vstack([np.zeros((1, X.shape[1])), np.nancumsum(X * X, axis=0)])
    idx = np.arange(n)
    lo = np.maximum(idx - ZSCORE_WINDOW, 0)
    count = (idx - lo)[:, None].astype(float)
    with np.errstate(all="ignore"):
        mean = (csum[idx] - csum[lo]) / count
        var = (csq[idx] - csq[lo]) / count - mean**2
        z = np.abs(X - mean) / np.sqrt(np.maximum(var, 1e-12))
    z[idx < 10] = 0.0
    score = np.nan_to_num(np.nanmax(z, axis=1), nan=0.0, posinf=1e6)
    held = score >= ZSCORE_THRESHOLD
    onset = held & ~np.concatenate([[False], held[:-1]])
    return Output(np.minimum(score / (2 * ZSCORE_THRESHOLD), 1.0), onset, held)


# -- figures ------------------------------------------------------------------------------
def skab_figures(cases: list[Case], outs: list[Output]) -> dict[str, object]:
    counts = []
    for c, o in zip(cases, outs, strict=True):
        assert c.labels is not None
        counts.append(outlier_counts(c.labels[c.score_from :], o.in_alert[c.score_from :]))
    return {**outlier_metrics(counts), **event_figures(cases, outs)}


def event_figures(cases: list[Case], outs: list[Output]) -> dict[str, object]:
    scores = [
        file_score(np.flatnonzero(o.alert), c.windows, c.n_rows, PROFILES["standard"])
        for c, o in zip(cases, outs, strict=True)
    ]
    return {
        "event_score": round(normalised(scores), 2),
        "windows": sum(s.windows for s in scores),
        "windows_missed": sum(s.missed for s in scores),
        "false_detections": sum(s.false_positives for s in scores),
    }


def cmapss_figures(cases: list[Case], outs: list[Output]) -> dict[str, object]:
    early, false, healthy_cycles = 0, 0, 0
    for c, o in zip(cases, outs, strict=True):
        rul = c.n_rows - 1 - np.arange(c.n_rows)
        if (o.alert & (rul >= 20) & (rul <= 125)).any() or (o.in_alert & (rul >= 20) & (rul <= 125)).any():
            early += 1
        false += int((o.alert & (rul > 125)).sum())
        healthy_cycles += int((rul > 125).sum())
    return {
        "engines": len(cases),
        "alerted_20_before": round(early / len(cases), 4),
        "false_per_1000_cycles": round(1000.0 * false / max(healthy_cycles, 1), 3),
    }


def sim_figures(cases: list[Case], outs: list[Output]) -> dict[str, object]:
    """Faults alerted between onset and failure, lead as a share of onset-to-failure, false
    alerts (raised before any fault began, or on a device without one) per device-day, and
    the share of a fault-free device's rows at health >= 0.8. Alerts after a failure (the
    machine is broken until someone comes) are neither caught nor false."""
    from edge.table import read_table

    faults = caught = false = 0
    leads: list[float] = []
    missed: dict[str, int] = {}
    healthy_rows = healthy_ok = 0
    device_days = 0.0
    for c, o in zip(cases, outs, strict=True):
        t = read_table(c.csv).time
        raised = t[o.alert]
        end = float(t[-1])
        device_days += (end - float(t[0])) / 86400.0
        first_onset = min((f[0] for f in c.faults), default=np.inf)
        false += int((raised < first_onset).sum())
        for onset, failure, mode in c.faults:
            if onset >= end:
                continue
            faults += 1
            failure = min(failure, end)
            hits = raised[(raised >= onset) & (raised < failure)]
            if len(hits):
                caught += 1
                leads.append((failure - float(hits[0])) / (failure - onset))
            else:
                missed[mode] = missed.get(mode, 0) + 1
        if not c.faults and o.health is not None:
            healthy_rows += len(o.health)
            healthy_ok += int((o.health >= 0.8).sum())
    return {
        "devices": len(cases),
        "faults": faults,
        "caught_before_failure": round(caught / max(faults, 1), 4),
        "median_lead_share": round(float(np.median(leads)), 4) if leads else 0.0,
        "false_alerts_per_device_day": round(false / max(device_days, 1e-9), 4),
        "healthy_time_at_health_0_8": round(healthy_ok / healthy_rows, 4) if healthy_rows else None,
        "missed_by_mode": missed,
    }


FIGURES: dict[str, Callable[[list[Case], list[Output]], dict[str, object]]] = {
    "skab": skab_figures,
    "msl": event_figures,
    "cmapss": cmapss_figures,
    "sim60": sim_figures,
    "sim300": sim_figures,
}
CASES: dict[str, Callable[[Path, Path], Iterable[Case]]] = {
    "skab": skab_cases,
    "msl": msl_cases,
    "cmapss": cmapss_cases,
    "sim60": lambda _root, out: sim_cases(out, 60.0),
    "sim300": lambda _root, out: sim_cases(out, 300.0),
}


def previous_checkout(commit: str, tmp: Path) -> Path | None:
    """A worktree of ``commit``, or None when this is not a git checkout."""
    where = tmp / "previous"
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit],
        capture_output=True,
        text=True,
        check=False,
    )
    return where if proc.returncode == 0 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", default="skab,msl,cmapss,sim60,sim300")
    ap.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument(
        "--previous", default=PREVIOUS_DEFAULT, help="commit of the previous default ('' to skip)"
    )
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    if not args.datasets.is_dir():
        sys.exit(f"bench/detection.py: no datasets at {args.datasets}")
    python = [sys.executable]
    report: dict[str, object] = {"targets": TARGETS}
    with tempfile.TemporaryDirectory(prefix="prognos-bench-") as tmp_name:
        tmp = Path(tmp_name)
        previous = previous_checkout(args.previous, tmp) if args.previous else None
        try:
            for corpus in args.corpora.split(","):
                cases = list(CASES[corpus](args.datasets, tmp))
                entry: dict[str, object] = {"files": len(cases)}
                runners: dict[str, Callable[[Case], Output]] = {
                    "default": lambda c: run_detect(python, ROOT, c, tmp, "default"),
                    "zscore": zscore,
                }
                if previous is not None:
                    runners["previous"] = lambda c: run_detect(python, previous, c, tmp, "previous")
                for name, runner in runners.items():
                    t0 = time.perf_counter()
                    try:
                        with ThreadPoolExecutor(args.jobs) as pool:
                            outs = list(pool.map(runner, cases))
                    except Exception as exc:  # noqa: BLE001 - one broken runner must not lose the rest
                        entry[name] = {"error": f"{type(exc).__name__}: {exc}"}
                        continue
                    entry[name] = {
                        **FIGURES[corpus](cases, outs),
                        "seconds": round(time.perf_counter() - t0, 1),
                    }
                report[corpus] = entry
                print(f"bench/detection.py: {corpus} {json.dumps(entry)}", file=sys.stderr)
        finally:
            if previous is not None:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(previous)],
                    capture_output=True,
                    check=False,
                )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
