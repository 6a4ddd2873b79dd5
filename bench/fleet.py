"""Detector quality on the simulator's ground truth, through the edge agent's own code.

Every message of a simulated fleet goes through ``edge.Agent.handle`` (what
``prognos edge run`` does, minus the I/O). A fault counts as caught when its device
raised an alert between onset and failure; lead time is reported as a share of
onset-to-failure; every other raise is a false alert.

    python bench/fleet.py [--devices 12] [--days 30] [--seed 1] [--detector robust]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.agent import Agent, AgentSettings  # noqa: E402
from firmware_bridge.contract import AlertMessage  # noqa: E402
from models.scoring import fault_metrics  # noqa: E402
from simulators.fleet import plan_fleet  # noqa: E402
from simulators.stream import fleet_messages  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=12)
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fault-rate", type=float, default=0.5)
    ap.add_argument("--detector", default="surprise")
    args = ap.parse_args()
    fleet = plan_fleet(args.devices, args.days, args.seed, fault_rate=args.fault_rate)
    agent = Agent(AgentSettings(detector=args.detector))
    raises: list[tuple[str, float]] = []
    samples = 0
    t0 = time.perf_counter()
    for msg in fleet_messages(fleet):
        samples += 1
        for p in agent.handle(msg):
            if p.kind == "alert":
                m = p
                if isinstance(m, AlertMessage) and m.transition == "raise":
                    raises.append((m.device_id, m.at))
    seconds = time.perf_counter() - t0
    faults = [
        (d.device_id, f.onset, min(f.failure, fleet.end))
        for d in fleet.devices
        for f in d.faults
        if f.onset < fleet.end
    ]
    result = {
        "fleet": {
            "devices": args.devices,
            "days": args.days,
            "seed": args.seed,
            "fault_rate": args.fault_rate,
        },
        "detector": args.detector,
        **fault_metrics(faults, raises, args.devices * args.days),
        "messages": samples,
        "messages_per_second": round(samples / seconds),
        "targets": {"caught_share": ">= 0.95", "false_alerts_per_device_day": "< 0.05"},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
