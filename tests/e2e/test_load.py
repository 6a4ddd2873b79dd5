"""The short form of bench/load.py, on every run of the suite: a small fleet through every
tier as real processes (edge agents, a 3-node NATS cluster, two cloud workers, PostgreSQL,
VictoriaMetrics), with the stream's leader node and one cloud worker SIGKILLed halfway.
Every summary the devices' samples owe is stored once, in PostgreSQL and in
VictoriaMetrics; every alert the probe raised became a work order; the edges lost and
dropped nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.load import run_once
from prognos.load_stack import LoadPlan, missing_engines
from prognos.progress import Progress
from tests.support.engines import engine_missing

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_fleet_through_every_tier_loses_nothing_when_a_node_and_a_worker_die(tmp_path: Path) -> None:
    missing = missing_engines()
    if missing:
        engine_missing(missing[0], ".ci/run installs them")
    plan = LoadPlan(devices=40, agents=2, seconds=16, probe_devices=4, confirm_timeout_s=5.0)
    result = run_once(plan, faults=True, workdir=tmp_path / "load", progress=Progress(quiet=True))
    tally = result["tally"]
    assert result["faults"] is not None and result["faults"]["worker"] == "cloud-0"
    assert tally["summaries_owed"] > 60 and tally["lost"] == 0, tally
    assert tally["duplicated"] == 0 and tally["unexpected"] == 0, tally
    assert result["victoria_metrics_anomaly_points"] == tally["summaries_stored"]
    probe = result["alert_to_work_order_ms"]
    assert probe["n"] > 10 and probe["unanswered"] == 0, probe
    for agent, edge in result["edges"].items():
        assert edge["lost"] == 0 and edge["dropped"] == {}, (agent, edge)
