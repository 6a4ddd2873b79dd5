"""``prognos demo`` as a user runs it: a real process that starts mosquitto, the cloud, the
edge and the fleet, writes its summary, and leaves no process behind, also on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from prognos.broker import find_mosquitto
from tests.support.engines import engine_missing

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _demo(data: Path, *args: str) -> subprocess.Popen[str]:
    """``prognos demo`` keeping its data in ``data`` (a test leaves nothing in /tmp)."""
    if find_mosquitto() is None:
        engine_missing("mosquitto", "apt-get install mosquitto")
    return subprocess.Popen(
        [sys.executable, "-m", "prognos", "demo", "--no-browser", "--data-dir", str(data), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,  # its own process group: what it leaves behind is findable
    )


def _group_gone(pgid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)
    return False


def test_demo_catches_faults_opens_work_orders_and_exits_clean(tmp_path: Path) -> None:
    target = tmp_path / "s.json"
    proc = _demo(
        tmp_path / "demo",
        "--devices",
        "6",
        "--days",
        "3",
        "--speed",
        "0",
        "--seed",
        "7",
        "--interval",
        "60",
        "--summary-json",
        str(target),
    )
    out, _ = proc.communicate(timeout=420)
    assert proc.returncode == 0, out
    assert _group_gone(proc.pid), "the demo left a process behind (mosquitto?)"
    s = json.loads(target.read_text())
    assert s["devices"] == 6 and s["messages_sent"] > 20_000 and not s["interrupted"]
    assert s["faults_injected"] >= 1 and s["faults_caught_before_failure"] >= 1
    assert s["median_lead_time_hours"] > 0
    assert s["work_orders_by_kind"].get("preventive", 0) >= 1 and s["work_orders_dispatched"] >= 1
    assert s["reminders"] >= 1
    # the simulated field crew worked orders through the API: some are resolved, and rated
    by_status = s["work_orders_by_status"]
    assert by_status.get("resolved", 0) + by_status.get("closed", 0) >= 1
    assert s["kpis"]["mttr_hours"] > 0 and s["kpis"]["ratings"] >= 1
    assert "/ui/" in out and "log in as dispatcher: prg_" in out and "summary" in out


def test_demo_runs_on_the_embedded_broker_without_mosquitto(tmp_path: Path) -> None:
    """The zero-set-up default: no mosquitto needed, same system, same kind of result."""
    target = tmp_path / "s.json"
    proc = _demo(
        tmp_path / "demo", "--broker", "embedded", "--devices", "4", "--days", "2", "--speed", "0",
        "--interval", "60", "--seed", "3", "--summary-json", str(target),
    )  # fmt: skip
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert "embedded Python broker" in out
    assert _group_gone(proc.pid)
    s = json.loads(target.read_text())
    assert s["messages_sent"] > 10_000 and s["alerts_in_cloud"] >= 1 and s["work_orders_dispatched"] >= 1
    assert s["faults_injected"] == len(s["faults"])


def test_ctrl_c_stops_everything_and_still_summarises(tmp_path: Path) -> None:
    proc = _demo(tmp_path / "demo", "--devices", "4", "--days", "30", "--speed", "3600")
    assert proc.stdout is not None
    url = None
    deadline = time.monotonic() + 60
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "cloud" in line and "/ui/" in line:
            url = line.split()[1]
    assert url is not None, "the demo did not print the pages' URL"
    with urllib.request.urlopen(url.replace("/ui/", "/readyz"), timeout=10) as r:
        assert r.status == 200, "the pages are served while the demo runs"
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "summary" in rest
    assert _group_gone(proc.pid), "the demo left a process behind after Ctrl-C"
