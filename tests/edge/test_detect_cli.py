"""`prognos detect` on the kinds of files people have: what it accepts and how it refuses."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from edge.table import TableError, read_table
from prognos.cli import main


def write(path: Path, header: list[str], rows: list[list[object]], delimiter: str = ",") -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def series(n: int = 800, shift_at: int = 600, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(20.0, 0.5, n)
    v[shift_at:] += 6.0
    return v


def detect(tmp_path: Path, src: Path, *extra: str) -> list[dict[str, str]]:
    out = tmp_path / "out.csv"
    assert main(["detect", "--input", str(src), "--output", str(out), "--quiet", *extra]) == 0
    with open(out, newline="") as fh:
        text = fh.read()
    delim = ";" if text.splitlines()[0].count(";") > text.splitlines()[0].count(",") else ","
    return list(csv.DictReader(text.splitlines(), delimiter=delim))


def test_iso_comma_file_gets_scores_and_alerts(tmp_path: Path) -> None:
    v = series()
    rows = [[f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z", f"{x:.3f}"] for i, x in enumerate(v)]
    out = detect(tmp_path, write(tmp_path / "a.csv", ["timestamp", "temp"], rows))
    assert len(out) == len(v)
    assert out[0]["timestamp"] == rows[0][0] and out[0]["temp"] == rows[0][1]  # input kept as it was
    alerts = [int(r["alert"]) for r in out]
    scores = [float(r["anomaly_score"]) for r in out]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert sum(alerts[:600]) == 0 and sum(alerts[600:]) > 0
    assert alerts.index(1) < 620  # raised within 20 samples of the shift


def test_semicolon_epoch_irregular_missing_constant_many_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.5, 90, 700)) + 1.7e9  # irregular, epoch seconds
    rows = []
    for i, ts in enumerate(t):
        a = "" if i % 37 == 0 else f"{rng.normal(5, 1):.3f}"  # missing values
        rows.append([f"{ts:.1f}", a, "3.0", f"{rng.normal(0, 2):.3f}", "NaN"])
    src = write(tmp_path / "b.csv", ["time", "a", "const", "b", "dead"], rows, delimiter=";")
    out = detect(tmp_path, src)
    assert len(out) == 700 and set(out[0]) >= {"a", "const", "b", "dead", "anomaly_score", "alert"}
    assert sum(int(r["alert"]) for r in out) < 20  # no shift: few rows in alert, if any


def test_epoch_milliseconds_and_single_column(tmp_path: Path) -> None:
    v = series(500, 400)
    rows = [[str(1_700_000_000_000 + i * 1000), f"{x:.2f}"] for i, x in enumerate(v)]
    table = read_table(write(tmp_path / "c.csv", ["timestamp", "v"], rows))
    assert table.time[1] - table.time[0] == pytest.approx(1.0)
    out = detect(tmp_path, tmp_path / "c.csv")
    assert sum(int(r["alert"]) for r in out[400:]) > 0


def test_no_time_column_uses_row_order(tmp_path: Path) -> None:
    rows = [[f"{x:.3f}", f"{x * 2:.3f}"] for x in series(300, 250)]
    table = read_table(write(tmp_path / "d.csv", ["x", "y"], rows))
    assert table.features == ["x", "y"] and table.time[-1] == 299


def test_deterministic(tmp_path: Path) -> None:
    rows = [[str(i), f"{x:.3f}"] for i, x in enumerate(series())]
    src = write(tmp_path / "e.csv", ["timestamp", "v"], rows)
    assert detect(tmp_path, src) == detect(tmp_path, src)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("", "empty"),
        ("timestamp,v\n", "no data rows"),
        ("timestamp,name\n2026-01-01T00:00:00Z,pump\n", "no numeric columns"),
        ("timestamp,v\n2026-01-01T00:00:00Z,1\n2026-01-01T00:01:00Z,1,2\n", "row 3 has 3 fields"),
    ],
)
def test_unreadable_files_fail_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    src = tmp_path / "bad.csv"
    if content is not None:
        src.write_text(content)
    assert main(["detect", "--input", str(src), "--output", str(tmp_path / "o.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    with pytest.raises(TableError):
        read_table(src)


def test_nan_cells_read_as_missing(tmp_path: Path) -> None:
    src = write(tmp_path / "f.csv", ["timestamp", "v"], [["1", "1.5"], ["2", ""], ["3", "nan"], ["4", "NA"]])
    table = read_table(src)
    assert table.X[0, 0] == 1.5 and all(math.isnan(v) for v in table.X[1:, 0])


def test_other_time_formats_and_unknown_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    us = write(
        tmp_path / "us.csv", ["Date", "v"], [["03/09/2020 10:14:33", "1"], ["03/09/2020 10:14:34", "2"]]
    )
    assert read_table(us).time[1] - read_table(us).time[0] == 1.0
    odd = write(tmp_path / "odd.csv", ["timestamp", "v"], [["yesterday", "1"], ["today", "2"]])
    table = read_table(odd)
    assert list(table.time) == [0.0, 1.0] and "row order" in table.warnings[0]
    detect(tmp_path, odd)
    assert "warning" in capsys.readouterr().err


def test_the_output_contract_alert_marks_one_row_per_incident(tmp_path: Path) -> None:
    """``alert`` is 1 only on the row an alert is raised; ``in_alert`` holds it; ``health`` 0..1."""
    rng = np.random.default_rng(7)
    v = rng.normal(20.0, 0.5, 3000)
    v[1200:1230] += 8.0  # an incident of half an hour, then back to normal
    rows = [[str(1_700_000_000 + 60 * i), f"{x:.3f}"] for i, x in enumerate(v)]
    out = detect(tmp_path, write(tmp_path / "f.csv", ["timestamp", "v"], rows))
    assert {"anomaly_score", "alert", "in_alert", "health"} <= set(out[0])
    alert = np.array([int(r["alert"]) for r in out])
    held = np.array([int(r["in_alert"]) for r in out])
    health = np.array([float(r["health"]) for r in out])
    assert alert.sum() == 1 and 1200 <= int(np.argmax(alert)) < 1210
    onsets = np.flatnonzero(np.diff(np.concatenate([[0], held])) == 1)
    assert list(onsets) == list(np.flatnonzero(alert))  # raised where the held state begins
    assert held[1200:1230].mean() > 0.8 and held[1300:].sum() == 0  # and cleared when it is over
    assert ((health >= 0.0) & (health <= 1.0)).all() and health[-1] > 0.8


@pytest.mark.parametrize("times", ["iso", "epoch_ms", "none"])
def test_the_fast_reader_and_the_careful_one_read_the_same(tmp_path: Path, times: str) -> None:
    """A plain file goes through numpy's reader; one quoted cell sends the same numbers
    through the csv module. Both give the same table, and the output keeps every input line."""
    rng = np.random.default_rng(3)
    n = 300
    values = np.round(rng.normal(size=(n, 3)), 4)
    stamps = {
        "iso": [f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00" for i in range(n)],
        "epoch_ms": [1_767_225_600_000 + 60_000 * i for i in range(n)],
        "none": None,
    }[times]
    header = (["timestamp"] if stamps else []) + ["a", "b", "c"]
    rows = [([stamps[i]] if stamps else []) + values[i].tolist() for i in range(n)]
    plain = write(tmp_path / "plain.csv", header, rows)
    quoted = write(tmp_path / "quoted.csv", header, rows)
    text = quoted.read_text().splitlines()
    cells = text[5].split(",")
    text[5] = ",".join([f'"{cells[0]}"', *cells[1:]])
    quoted.write_text("\n".join(text) + "\n")
    fast, careful = read_table(plain), read_table(quoted)
    assert fast.plain and not careful.plain
    assert fast.features == careful.features and np.array_equal(fast.X, careful.X, equal_nan=True)
    assert np.array_equal(fast.time, careful.time)
    out = detect(tmp_path, plain)
    assert len(out) == n and [r["a"] for r in out] == [f"{v}" for v in values[:, 0].tolist()]


def test_a_row_with_more_fields_than_the_header_is_refused_by_the_fast_reader_too(tmp_path: Path) -> None:
    src = tmp_path / "ragged.csv"
    src.write_text("timestamp,v\n2026-01-01T00:00:00,1\n2026-01-01T00:01:00,2,3\n2026-01-01T00:02:00,4\n")
    with pytest.raises(TableError, match="row 3 has 3 fields"):
        read_table(src)


def test_a_label_column_is_never_a_feature_and_is_kept_in_the_output(tmp_path: Path) -> None:
    """A file with its ground truth (SKAB's `anomaly`, the simulator's) is scored on its
    channels only: learning the label would be scoring the answer."""
    from prognos.detect_cmd import detect_file

    v = series()
    rows = [[1767225600 + 60 * i, v[i], int(i >= 600)] for i in range(len(v))]
    src = write(tmp_path / "l.csv", ["timestamp", "vibration_rms", "anomaly"], rows)
    assert detect_file(src).table.features == ["vibration_rms"]
    out = detect(tmp_path, src)
    assert [r["anomaly"] for r in out[598:602]] == ["0", "0", "1", "1"]
