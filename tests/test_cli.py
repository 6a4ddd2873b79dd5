"""The `prognos` command as a user runs it: real processes, real files, real exit codes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.truth import read_truth

ROOT = Path(__file__).resolve().parents[1]


def prognos(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "prognos", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.mark.slow
def test_sim_file_mode_as_in_the_readme(tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    run = prognos("sim", "--devices", "20", "--days", "30", "--seed", "1", "--out", str(out))
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["devices"] == 20 and summary["rows"] > 20 * 30 * 1400
    csvs = sorted(out.glob("*.csv"))
    assert len(csvs) == 20
    with open(csvs[0]) as fh:
        header = next(csv.reader(fh))
    assert header[0] == "timestamp" and len(header) >= 5
    truth = read_truth(out / "truth.jsonl")
    assert any(r["kind"] == "fault" for r in truth)
    assert any(r["kind"] == "consumable" for r in truth)
    manifest = json.loads((out / "fleet.json").read_text())
    assert len(manifest["devices"]) == 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sim",), "give --out DIR"),
        (("sim", "--config", "/nonexistent/fleet.toml", "--out", "/tmp/x"), "cannot read fleet config"),
        (("sim", "--devices", "0", "--out", "/tmp/x"), "must be positive"),
        (("cloud", "serve", "--mqtt", "ftp://broker"), "is not mqtt://HOST:PORT"),
        (
            (
                "cloud",
                "--data-dir",
                "/tmp/prognos-cli-none",
                "token",
                "--tenant",
                "nope",
                "--role",
                "admin",
                "--name",
                "x",
            ),
            "no tenant 'nope'",
        ),
        (("edge", "run", "--config", "/nonexistent.toml"), "cannot read"),
    ],
)
def test_errors_are_one_clear_line_and_nonzero(args: tuple[str, ...], message: str) -> None:
    run = prognos(*args)
    assert run.returncode != 0
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_bench_quick_prints_json() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["codec"]["decode_frames_per_s"] > 0
    assert result["serial_pty"]["received"] == result["serial_pty"]["frames"]
    assert result["simulator"]["rows"] > 0
