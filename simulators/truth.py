"""Ground truth as JSON lines: what was injected, when, and what it should have caused.

One record per line, ``kind`` first::

    {"kind": "fault", "device": "pump-0002", "archetype": "industrial_pump",
     "fault": "bearing_wear", "category": "mechanical",
     "onset": "2026-01-14T03:12:44Z", "failure": "2026-01-27T18:02:10Z",
     "onset_ts": 1768360364.0, "failure_ts": 1769536930.0, "failure_in_run": true}
    {"kind": "consumable", "event": "depleted", "device": "ro-0001",
     "consumable": "sediment_filter", "at": "...", "at_ts": ...}

Benchmarks score detection rate, false alerts per device-day and lead time against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from .physics import ARCHETYPES

TruthRecord = dict[str, Any]

__all__ = ["TruthRecord", "consumable_record", "fault_record", "iso", "read_truth", "write_truth"]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def fault_record(spec: Any, plan: Any, run_end: float) -> TruthRecord:
    mode = ARCHETYPES[spec.archetype].faults[plan.mode]
    return {
        "kind": "fault",
        "device": spec.device_id,
        "archetype": spec.archetype,
        "model": spec.model,
        "fault": plan.mode,
        "category": mode.category,
        "trip_code": mode.trip_code,
        "onset": iso(plan.onset),
        "failure": iso(plan.failure),
        "onset_ts": plan.onset,
        "failure_ts": plan.failure,
        "failure_in_run": plan.failure < run_end,
    }


def consumable_record(spec: Any, consumable: str, event: str, at: float) -> TruthRecord:
    return {
        "kind": "consumable",
        "event": event,
        "device": spec.device_id,
        "archetype": spec.archetype,
        "consumable": consumable,
        "at": iso(at),
        "at_ts": at,
    }


def write_truth(records: Iterable[TruthRecord], out: IO[str]) -> int:
    n = 0
    for rec in records:
        out.write(json.dumps(rec, separators=(",", ":")) + "\n")
        n += 1
    return n


def read_truth(path: Path) -> list[TruthRecord]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
