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
from firmware_bridge import Heartbeat, Sample
from prognos.load_stack import LoadPlan, missing_engines
from prognos.load_tally import SentLog
from prognos.progress import Progress
from simulators.sinks import ListSink
from tests.support.engines import engine_missing


def test_the_tally_owes_what_an_edge_would_summarise() -> None:
    """Windows of 300 s: a serial frame's millisecond moves 1199.9996 into the window at
    1200; events, heartbeats and all-NaN rows make no summary; the last window is open."""
    sent, inner = SentLog(300.0), ListSink()
    sinks = sent.wrap({"a": inner, "b": inner}, {"a": "edge-1", "b": "edge-1"}, millisecond_wire={"a"})
    for device in ("a", "b"):
        sinks[device].send(Sample(device, 1199.9996, 1, {"x": 1.0}))
        sinks[device].send(Sample(device, 1300.0, 2, {"x": float("nan")}))
        sinks[device].send(Heartbeat(device, 1500.0, 3, 10, "1.0", 0))
        sinks[device].send(Sample(device, 1810.0, 4, {"x": 2.0}))
    assert sent.windows == {"a": {4, 6}, "b": {3, 6}}
    assert sent.owed() == {"a": {4}, "b": {3}}
    assert sent.per_agent["edge-1"] == 8 and len(inner.messages) == 8


@pytest.mark.integration
@pytest.mark.slow
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
