"""Labelled corpora written as the CSVs a user would hand to ``prognos detect``.

Each :class:`Case` is one stream: a CSV with a timestamp column and the sensor channels
only (labels are kept aside, never in the file), plus its truth: anomaly windows as
inclusive row ranges, point labels where the corpus has them, and the row from which the
corpus's own protocol scores.

* **SKAB** (34 labelled files): the file as recorded, labels removed; point-wise F1 is
  scored after row 400 (SKAB's protocol), events over the whole file;
* **NASA MSL** (14 channels): the telemetry value of each channel, train then test as one
  stream (the one-hot command columns are left out: they are inputs to a model of the
  spacecraft, not sensors); index time at one step per second, windows in the test part;
* **C-MAPSS FD001** (100 training engines): each engine a run-to-failure stream of its
  informative sensors, one cycle (a flight) per hour; the truth is its last cycle;
* **the simulator** (``prognos sim``, 30 devices x 60 days, at 60 s and at 300 s): one
  CSV per device as ``prognos sim --out`` writes it; the truth is ``truth.jsonl``'s faults
  (onset and failure times).
"""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["Case", "cmapss_cases", "msl_cases", "sim_cases", "skab_cases"]

SKAB_TRAIN_ROWS = 400
CMAPSS_SENSORS = [2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21]


@dataclass
class Case:
    corpus: str
    name: str
    csv: Path
    n_rows: int
    windows: list[tuple[int, int]] = field(default_factory=list)
    labels: NDArray[np.bool_] | None = None
    score_from: int = 0  # first row the corpus's point-wise protocol scores
    X: NDArray[np.float64] | None = None  # the channels, for in-bench baselines
    t: NDArray[np.float64] | None = None
    faults: list[tuple[float, float, str]] = field(default_factory=list)  # (onset, failure, mode), epoch s
    days: float = 0.0


def _write(path: Path, t: NDArray[np.float64], names: list[str], X: NDArray[np.float64]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", *names])
        for ti, row in zip(t.tolist(), X.tolist(), strict=True):
            w.writerow([f"{ti:.0f}", *(repr(v) for v in row)])


def skab_cases(root: Path, out: Path) -> Iterator[Case]:
    from event_score import windows_from_labels

    files = sorted(p for d in ("valve1", "valve2", "other") for p in (root / "skab" / d).glob("*.csv"))
    for p in files:
        with open(p, newline="") as fh:
            rows = list(csv.reader(fh, delimiter=";"))
        header = rows[0]
        keep = [i for i, h in enumerate(header) if h not in ("datetime", "anomaly", "changepoint")]
        t = np.array([np.datetime64(r[0]).astype("datetime64[s]").astype(np.int64) for r in rows[1:]], float)
        X = np.array([[float(r[i]) for i in keep] for r in rows[1:]])
        y = np.array([float(r[header.index("anomaly")]) > 0.5 for r in rows[1:]])
        path = out / f"skab-{p.parent.name}-{p.stem}.csv"
        _write(path, t, [header[i] for i in keep], X)
        yield Case(
            "skab",
            f"{p.parent.name}/{p.name}",
            path,
            len(X),
            windows_from_labels(y),
            y,
            SKAB_TRAIN_ROWS,
            X,
            t,
        )


def msl_cases(root: Path, out: Path) -> Iterator[Case]:
    base = root / "nasa_msl"
    with open(base / "labeled_anomalies.csv", newline="") as fh:
        labels = {r["chan_id"]: r for r in csv.DictReader(fh) if r["spacecraft"] == "MSL"}
    for test in sorted((base / "test").glob("*.npy")):
        chan = test.stem
        train = np.load(base / "train" / f"{chan}.npy")[:, :1]
        values = np.vstack([train, np.load(test)[:, :1]])
        offset = len(train)
        seqs = ast.literal_eval(labels[chan]["anomaly_sequences"])
        windows = sorted((offset + a, offset + b) for a, b in seqs)
        y = np.zeros(len(values), dtype=bool)
        for a, b in windows:
            y[a : b + 1] = True
        t = 1_600_000_000.0 + np.arange(len(values), dtype=float)
        path = out / f"msl-{chan}.csv"
        _write(path, t, ["value"], values)
        yield Case("msl", chan, path, len(values), windows, y, offset, values, t)


def cmapss_cases(root: Path, out: Path) -> Iterator[Case]:
    data = np.loadtxt(root / "cmapss" / "train_FD001.txt")
    names = [f"s{i}" for i in CMAPSS_SENSORS]
    cols = [4 + i for i in CMAPSS_SENSORS]
    for unit in np.unique(data[:, 0]).astype(int):
        rows = data[data[:, 0] == unit]
        X = rows[:, cols]
        t = 1_600_000_000.0 + 3600.0 * rows[:, 1]
        path = out / f"cmapss-{unit:03d}.csv"
        _write(path, t, names, X)
        yield Case("cmapss", f"unit {unit}", path, len(X), [], None, 0, X, t)


def sim_cases(
    out: Path, interval: float, devices: int = 30, days: float = 60.0, seed: int = 14
) -> Iterator[Case]:
    """A simulated fleet written by ``prognos sim`` (a subprocess, as a user runs it)."""
    folder = out / f"sim-{interval:.0f}"
    cmd = [
        sys.executable,
        "-m",
        "prognos",
        "sim",
        "--devices",
        str(devices),
        "--days",
        str(days),
        "--seed",
        str(seed),
        "--interval",
        str(interval),
        "--out",
        str(folder),
        "--quiet",
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    faults: dict[str, list[tuple[float, float, str]]] = {}
    with open(folder / "truth.jsonl") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("kind") == "fault":
                faults.setdefault(rec["device"], []).append(
                    (rec["onset_ts"], rec["failure_ts"], rec["fault"])
                )
    for path in sorted(folder.glob("*.csv")):
        with open(path) as fh:
            n = sum(1 for _ in fh) - 1
        yield Case(f"sim{interval:.0f}", path.stem, path, n, faults=faults.get(path.stem, []), days=days)
