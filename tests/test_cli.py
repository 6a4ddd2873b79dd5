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
        (("sim", "--config", "/nonexistent/fleet.toml", "--out", "{tmp}/x"), "cannot read fleet config"),
        (("sim", "--devices", "0", "--out", "{tmp}/x"), "must be positive"),
        (("cloud", "serve", "--mqtt", "ftp://broker"), "is not mqtt://HOST:PORT"),
        (("cloud", "serve", "--stream", "nats://a:1,redis://b"), "'redis://b' is not nats://HOST:PORT"),
        (
            (
                "cloud",
                "--data-dir",
                "{tmp}/none",
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
def test_errors_are_one_clear_line_and_nonzero(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    run = prognos(*(a.replace("{tmp}", str(tmp_path)) for a in args))
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


def test_broker_logins_are_issued_written_and_revoked_from_the_command_line(tmp_path: Path) -> None:
    """What an installer runs: seed, issue a site's logins, write mosquitto's files, revoke one."""
    data = ("cloud", "--data-dir", str(tmp_path))
    assert prognos(*data, "seed", "--devices", "3", "--tokens-out", str(tmp_path / "t.json")).returncode == 0
    run = prognos(
        *data, "broker-logins", "--tenant", "demo", "--agent", "edge-1", "--out", str(tmp_path / "l.json")
    )
    assert run.returncode == 0, run.stderr
    logins = json.loads((tmp_path / "l.json").read_text())
    assert (tmp_path / "l.json").stat().st_mode & 0o777 == 0o600
    assert {"cloud.ingest", "agent.demo.edge-1", "bridge.demo.edge-1"} <= set(logins) and len(logins) == 6
    run = prognos(*data, "broker-files", "--out", str(tmp_path / "auth"))
    assert run.returncode == 0 and "6 logins" in run.stdout
    passwd = (tmp_path / "auth" / "passwd").read_text()
    assert "agent.demo.edge-1:$7$" in passwd and logins["agent.demo.edge-1"] not in passwd
    run = prognos(
        *data, "broker-login", "--role", "agent", "--subject", "edge-1", "--tenant", "demo", "--revoke"
    )
    assert run.returncode == 0
    assert prognos(*data, "broker-files", "--out", str(tmp_path / "auth")).stdout.count("5 logins") == 1
    bad = prognos(*data, "broker-login", "--role", "device", "--subject", "ghost-1", "--tenant", "demo")
    assert (
        bad.returncode == 2
        and "no registered device 'ghost-1'" in bad.stderr
        and "Traceback" not in bad.stderr
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nonsense", "does not parse"),
        ("sqlite:////nonexistent-prognos/dir/x.db", "the folder /nonexistent-prognos/dir does not exist"),
        ("postgresql+psycopg://u@127.0.0.1:1/db", "cannot connect to postgresql+psycopg://u@127.0.0.1:1/db"),
        ("mysql+mysqldb://u@h/db", "its driver is not installed"),
    ],
)
def test_a_bad_database_url_is_one_line_and_creates_nothing(url: str, message: str) -> None:
    """Issue 16: 44-128 lines of traceback; sqlite:////nonexistent/dir/x.db made the folder."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROGNOS_DATABASE_URL": url}
    run = subprocess.run(
        [sys.executable, "-m", "prognos", "cloud", "migrate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not Path("/nonexistent-prognos").exists()


def test_the_data_folder_may_follow_the_action(tmp_path: Path) -> None:
    """Issue 16: `--data-dir` worked only before the action."""
    run = prognos("cloud", "migrate", "--data-dir", str(tmp_path / "after"))
    assert run.returncode == 0 and (tmp_path / "after" / "prognos.db").is_file()


def test_train_anomaly_on_a_simulator_folder_says_how_to_train_one_model_per_kind(tmp_path: Path) -> None:
    """Issue 16: it failed on a `prognos sim` folder (mixed device types) without saying how."""
    sim = tmp_path / "sim"
    assert (
        prognos(
            "sim", "--devices", "3", "--days", "2", "--seed", "2", "--out", str(sim), "--quiet"
        ).returncode
        == 0
    )
    mixed = prognos("models", "train-anomaly", "--data", str(sim), "--out", str(tmp_path / "m.onnx"))
    assert (
        mixed.returncode == 2
        and "mixes 3 kinds of device" in mixed.stderr
        and "--only 'ac-*'" in mixed.stderr
    )
    one = prognos(
        "models",
        "train-anomaly",
        "--data",
        str(sim),
        "--only",
        "ac-*",
        "--out",
        str(tmp_path / "ac.onnx"),
        "--quiet",
    )
    assert one.returncode == 0, one.stderr
    assert (tmp_path / "ac.onnx").is_file()
