"""Read a sensor CSV the way people actually write them, for ``prognos detect``.

Comma-, semicolon- or tab-separated (sniffed); a timestamp column as ISO-8601 text or
epoch seconds / milliseconds; empty cells and ``nan`` as missing; any number of numeric
columns. Problems are reported as :class:`TableError` with one line saying what is wrong.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .errors import EdgeError

__all__ = ["Table", "TableError", "read_table"]

TIME_NAMES = ("timestamp", "datetime", "time", "date", "ts", "date_time", "time_stamp")
_OTHER_TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%Y%m%d%H%M%S",
    "%m/%d/%Y",
    "%d.%m.%Y",
)
_MISSING = {"", "nan", "NaN", "NA", "N/A", "null", "None", "-"}


class TableError(EdgeError):
    """The input file cannot be used; the message says why."""


@dataclass(slots=True)
class Table:
    header: list[str]
    rows: list[list[str]]  # the raw cells, written back unchanged
    delimiter: str
    time: NDArray[np.float64]  # epoch seconds (or row numbers when there is no time column)
    features: list[str]
    X: NDArray[np.float64]  # rows x features, NaN where missing
    warnings: list[str]


def _sniff(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: sample.count(d) for d in ",;\t"}
        return max(counts, key=lambda d: counts[d])


def _to_float(col: list[str]) -> NDArray[np.float64] | None:
    """Numeric column as floats (missing -> NaN), or None if it is not numeric.

    Up to 1 % of the non-missing cells may be junk (read as missing); more, and the
    column is text, not a sensor."""
    try:
        return np.array(col, dtype=np.float64)
    except ValueError:
        pass
    out = np.full(len(col), math.nan)
    present = junk = 0
    for i, v in enumerate(col):
        v = v.strip()
        if v in _MISSING:
            continue
        present += 1
        try:
            out[i] = float(v)
        except ValueError:
            junk += 1
    return out if junk <= 0.01 * present else None


def _parse_times(col: list[str]) -> NDArray[np.float64] | None:
    nums = _to_float(col)
    if nums is not None and not np.isnan(nums).all():
        mag = np.nanmedian(np.abs(nums))
        scale = 1e-9 if mag > 1e17 else 1e-6 if mag > 1e14 else 1e-3 if mag > 1e11 else 1.0
        return nums * scale
    text = [v.strip() for v in col]
    try:
        naive = [v[:-1] if v.endswith("Z") else v for v in text]
        stamps = np.array(naive, dtype="datetime64[ms]")
        return stamps.astype(np.int64) / 1000.0
    except ValueError:
        pass
    try:
        return np.array([datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() for v in text])
    except ValueError:
        pass
    for fmt in _OTHER_TIME_FORMATS:  # the first format that reads every cell wins
        try:
            return np.array([datetime.strptime(v, fmt).replace(tzinfo=UTC).timestamp() for v in text])
        except ValueError:
            continue
    return None


def read_table(path: Path, timestamp_col: str | None = "timestamp", ignore: tuple[str, ...] = ()) -> Table:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            sample = fh.read(65536)
            fh.seek(0)
            delimiter = _sniff(sample)
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            rows = [r for r in reader if r]
    except FileNotFoundError:
        raise TableError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TableError(f"{path}: cannot read it as CSV text ({exc})") from None
    if not header:
        raise TableError(f"{path}: the file is empty")
    if not rows:
        raise TableError(f"{path}: a header but no data rows")
    width = len(header)
    ragged = next((i for i, r in enumerate(rows) if len(r) != width), None)
    if ragged is not None:
        raise TableError(f"{path}: row {ragged + 2} has {len(rows[ragged])} fields, the header has {width}")
    columns = list(zip(*rows, strict=True))
    names = [h.strip() for h in header]
    time_idx, named = _pick_time_column(names, timestamp_col)
    warnings: list[str] = []
    times = None
    if time_idx is not None:
        col = list(columns[time_idx])
        # An unnamed first column is a time axis only if it is text that parses as dates.
        if named or _to_float(col) is None:
            times = _parse_times(col)
        if times is None and named:
            # Scoring does not need clock time; row order is a fair stand-in. Say so.
            warnings.append(f"column {names[time_idx]!r} is not a time format I know; using row order")
        if times is None:
            time_idx = None
    if times is None:
        times = np.arange(len(rows), dtype=np.float64)
    features, cols = [], []
    for j, name in enumerate(names):
        if j == time_idx or name in ignore:
            continue
        values = _to_float(list(columns[j]))
        if values is not None:
            features.append(name)
            cols.append(values)
    if not features:
        raise TableError(f"{path}: no numeric columns besides the timestamp")
    return Table(header, rows, delimiter, times, features, np.column_stack(cols), warnings)


def _pick_time_column(names: list[str], wanted: str | None) -> tuple[int | None, bool]:
    """Index of the time column and whether it was found by name."""
    if wanted and wanted in names:
        return names.index(wanted), True
    lowered = [n.lower() for n in names]
    for candidate in TIME_NAMES:
        if candidate in lowered:
            return lowered.index(candidate), True
    return (0, False) if names else (None, False)
