"""Offline-trained ONNX models against the online default on the simulator's fleet.

For each archetype (pump, air conditioner, purifier) a model of normal behaviour is
trained with ``prognos models train-anomaly``'s code on a separate, fault-free fleet and
exported to ONNX. A second fleet, with faults, then goes through the edge agent three
times: the online default (``robust``), the trained model alone (``trained``) and both as
an ensemble (``robust+trained``). Caught faults, lead time and false alerts are scored
against the simulator's ground truth as in ``bench/fleet.py``.

    python bench/fleet_models.py [--devices 12] [--days 20] [--interval 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.agent import Agent, AgentSettings  # noqa: E402
from firmware_bridge import Sample  # noqa: E402
from firmware_bridge.contract import AlertMessage  # noqa: E402
from models.anomaly_train import Segment, train_anomaly  # noqa: E402
from models.onnx_export import export_onnx, verify_export  # noqa: E402
from models.scoring import fault_metrics  # noqa: E402
from simulators.fleet import plan_fleet  # noqa: E402
from simulators.physics import ARCHETYPES  # noqa: E402
from simulators.stream import fleet_messages  # noqa: E402


def train_models(days: float, interval: float, out: Path) -> tuple[dict[str, str], dict[str, object]]:
    """One ONNX file per archetype from a fault-free fleet (seed 101, 3 devices each)."""
    fleet = plan_fleet(3 * len(ARCHETYPES), days, 101, interval=interval, fault_rate=0.0)
    kind = {d.device_id: d.archetype for d in fleet.devices}
    rows: dict[str, dict[str, list[list[float]]]] = {}
    for msg in fleet_messages(fleet):
        if isinstance(msg, Sample):
            channels = list(ARCHETYPES[kind[msg.device_id]].channels)
            rows.setdefault(kind[msg.device_id], {}).setdefault(msg.device_id, []).append(
                [msg.values.get(c, np.nan) for c in channels]
            )
    specs, report = {}, {}
    for arch, per_device in rows.items():
        channels = list(ARCHETYPES[arch].channels)
        trained = train_anomaly([Segment(np.array(r)) for r in per_device.values()], seed=0)
        path = export_onnx(
            trained.model, channels, out / f"{arch}.onnx", f"{arch}-{trained.kind}", trained.train
        )
        check = verify_export(path, trained.model, trained.holdout)
        specs[arch] = f"onnx:{path}"
        report[arch] = {
            "kind": trained.kind,
            "train_rows": int(len(trained.train)),
            "holdout_auc": trained.metrics["candidates"][trained.kind]["holdout_auc"],
            "export_max_rel_diff": check["max_rel_diff"],
        }
    return specs, report


def evaluate(fleet, detectors: dict[str, str]) -> dict[str, object]:  # type: ignore[no-untyped-def]
    kind = {d.device_id: d.archetype for d in fleet.devices}
    agents = {arch: Agent(AgentSettings(detector=spec)) for arch, spec in detectors.items()}
    raises: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    n = 0
    for msg in fleet_messages(fleet):
        n += 1
        for p in agents[kind[msg.device_id]].handle(msg):
            if p.kind == "alert":
                m = p
                if isinstance(m, AlertMessage) and m.transition == "raise":
                    raises.append((m.device_id, m.at))
    faults = [
        (d.device_id, f.onset, min(f.failure, fleet.end))
        for d in fleet.devices
        for f in d.faults
        if f.onset < fleet.end
    ]
    days = (fleet.end - fleet.start) / 86_400
    return {
        **fault_metrics(faults, raises, len(fleet.devices) * days),
        "messages_per_second": round(n / (time.perf_counter() - t0)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=12)
    ap.add_argument("--days", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=300.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-days", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        trained, report = train_models(args.train_days, args.interval, Path(tmp))
        train_s = time.perf_counter() - t0
        fleet = plan_fleet(args.devices, args.days, args.seed, interval=args.interval, fault_rate=0.5)
        configs = {
            "robust": {a: "robust" for a in ARCHETYPES},
            "trained": trained,
            "robust+trained": {a: f"robust+{spec}" for a, spec in trained.items()},
        }
        results = {name: evaluate(fleet, dets) for name, dets in configs.items()}
    print(
        json.dumps(
            {
                "fleet": {
                    "devices": args.devices,
                    "days": args.days,
                    "interval_s": args.interval,
                    "seed": args.seed,
                    "fault_rate": 0.5,
                },
                "training": {
                    "fleet": f"{3 * len(ARCHETYPES)} fault-free devices x {args.train_days} days, seed 101",
                    "seconds": round(train_s, 1),
                    **report,
                },
                **results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
