"""File mode: one CSV per device (its channels and an ``anomaly`` label from the truth),
``truth.jsonl`` and a ``fleet.json`` manifest.

Devices are independent, so they are generated in parallel worker processes; each
worker writes its own CSV a simulated day at a time (memory stays flat for long runs).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .device import DeviceSimulator
from .fleet import FleetSpec
from .truth import TruthRecord, write_truth

__all__ = ["FileRunReport", "format_rows", "write_fleet_files"]


@dataclass(frozen=True, slots=True)
class FileRunReport:
    devices: int
    rows: int
    values: int
    truth_records: int
    seconds: float
    out_dir: Path

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def format_rows(
    t: NDArray[np.float64], columns: list[NDArray[np.float64]], label: NDArray[np.bool_] | None = None
) -> str:
    """CSV lines: ISO-8601 UTC timestamp with milliseconds, then values (NaN -> empty field),
    then, when given, the 0/1 ``anomaly`` label."""
    stamps = np.datetime_as_string(np.round(t * 1000).astype("datetime64[ms]"), unit="ms").tolist()
    row = "%sZ" + ",%.4f" * len(columns) + ("" if label is None else ",%d") + "\n"
    cols = columns + ([label.astype(np.float64)] if label is not None else [])
    table = np.column_stack(cols).tolist() if cols else [[] for _ in stamps]
    text = "".join(map(row.__mod__, ((ts, *vals) for ts, vals in zip(stamps, table, strict=True))))
    return text.replace("nan", "")


def _write_device(fleet: FleetSpec, index: int, out_dir: Path) -> tuple[int, int, list[TruthRecord]]:
    spec = fleet.devices[index]
    sim = DeviceSimulator(spec, fleet, index)
    channels = list(sim.model.channels)
    rows = 0
    truth: list[TruthRecord] = []
    with open(out_dir / f"{spec.device_id}.csv", "w", encoding="ascii", newline="") as fh:
        # the last column labels each row from the truth: 1 once a fault has begun (the machine
        # is degrading or broken; no crew repairs it in file mode), so training keeps it out
        fh.write(",".join(["timestamp", *channels, "anomaly"]) + "\n")
        for chunk in sim.chunks():
            label = np.zeros(len(chunk.t), dtype=bool)
            for fault in spec.faults:
                label |= chunk.t >= fault.onset
            fh.write(format_rows(chunk.t, [chunk.values[c] for c in channels], label))
            rows += len(chunk.t)
            truth += chunk.truth
    return rows, rows * len(channels), truth


def write_fleet_files(
    fleet: FleetSpec,
    out_dir: Path,
    *,
    workers: int | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> FileRunReport:
    """Generate every device into ``out_dir``; ``progress(done, total, rows)`` after each device."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    n = len(fleet.devices)
    workers = max(1, min(workers or os.cpu_count() or 1, n))
    results: dict[int, tuple[int, int, list[TruthRecord]]] = {}
    if workers == 1:
        for i in range(n):
            results[i] = _write_device(fleet, i, out_dir)
            if progress:
                progress(len(results), n, sum(r[0] for r in results.values()))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_write_device, fleet, i, out_dir): i for i in range(n)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                if progress:
                    progress(len(results), n, sum(r[0] for r in results.values()))
    truth = [rec for i in range(n) for rec in results[i][2]]
    with open(out_dir / "truth.jsonl", "w", encoding="utf-8") as fh:
        n_truth = write_truth(truth, fh)
    manifest = {
        "seed": fleet.seed,
        "start": fleet.start,
        "days": fleet.days,
        "interval_s": fleet.interval,
        "tenant": fleet.tenant,
        "devices": [d.as_record() for d in fleet.devices],
    }
    (out_dir / "fleet.json").write_text(json.dumps(manifest, indent=2) + "\n")
    rows = sum(r[0] for r in results.values())
    values = sum(r[1] for r in results.values())
    return FileRunReport(n, rows, values, n_truth, time.perf_counter() - started, out_dir)
