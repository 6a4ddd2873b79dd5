"""Event-window scoring, written from the Numenta Anomaly Benchmark's published description.

A detector is judged by its *detections* (rows where it says "an incident starts here"),
not by a held state, against labelled anomaly *windows*:

* the first detection inside a window earns a reward that falls along a scaled sigmoid
  from about ``A_tp`` at the window's start to 0 at its end (earlier is better); later
  detections in the same window neither earn nor cost anything;
* a detection outside every window costs ``A_fp``: in full when no window precedes it or
  when it comes more than three window lengths after the last one, less when it trails
  a window closely (the sigmoid continues past the window's end);
* a window with no detection costs ``A_fn``.

Sums over all files are normalised to 100 x (S - S_null) / (S_perfect - S_null): the null
detector (never detects) scores 0, a detector that hits every window at its first row
scores 100, and a noisy one goes negative.

Profiles (A_tp, A_fp, A_fn): standard (1, 0.11, 1), low_fp (1, 0.22, 1), low_fn (1, 0.11, 2).

>>> windows = [(10, 19)]
>>> raw = file_score(np.array([10]), windows, 30, PROFILES["standard"])
>>> round(raw.score, 4), raw.missed, raw.false_positives
(0.9866, 0, 0)
>>> round(normalised([file_score(np.array([], dtype=int), windows, 30, PROFILES["standard"])]), 1)
0.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["PROFILES", "FileScore", "Profile", "file_score", "normalised", "windows_from_labels"]


@dataclass(frozen=True, slots=True)
class Profile:
    tp: float
    fp: float
    fn: float


PROFILES = {
    "standard": Profile(1.0, 0.11, 1.0),
    "low_fp": Profile(1.0, 0.22, 1.0),
    "low_fn": Profile(1.0, 0.11, 2.0),
}


def scaled_sigmoid(y: float) -> float:
    """1 well before the end of a window (y = -1 is its start), 0 at its end (y = 0), -1 far past it."""
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


@dataclass(frozen=True, slots=True)
class FileScore:
    score: float  # raw sum for this file
    windows: int
    missed: int
    false_positives: int
    null: float  # what the null detector scores on this file
    perfect: float  # what a detector hitting every window at its start scores
    delays: tuple[int, ...]  # rows from window start to the first detection, per caught window


def windows_from_labels(labels: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Contiguous runs of 1s as inclusive (start, end) row ranges."""
    y = np.asarray(labels, dtype=bool).astype(np.int8)
    edges = np.diff(np.concatenate([[0], y, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def file_score(
    detections: NDArray[np.intp], windows: Sequence[tuple[int, int]], n_rows: int, profile: Profile
) -> FileScore:
    """Score the detection rows of one file against its windows (inclusive row ranges)."""
    wins = sorted(windows)
    hit = [False] * len(wins)
    score, fps, delays = 0.0, 0, []
    for row in sorted(int(r) for r in detections if 0 <= r < n_rows):
        inside = next((i for i, (a, b) in enumerate(wins) if a <= row <= b), None)
        if inside is not None:
            if not hit[inside]:
                a, b = wins[inside]
                width = b - a + 1
                y = -(b - row + 1) / width  # -1 at the first row of the window
                score += profile.tp * scaled_sigmoid(y)
                hit[inside] = True
                delays.append(row - a)
            continue
        fps += 1
        before = [w for w in wins if w[1] < row]
        if before:
            a, b = before[-1]
            y = (row - b) / (b - a + 1)
            score += profile.fp * min(scaled_sigmoid(y), 0.0)
        else:
            score -= profile.fp
    missed = hit.count(False)
    score -= profile.fn * missed
    perfect = sum(profile.tp * scaled_sigmoid(-1.0) for _ in wins)
    return FileScore(score, len(wins), missed, fps, -profile.fn * len(wins), perfect, tuple(delays))


def normalised(scores: Iterable[FileScore]) -> float:
    """100 x (S - S_null) / (S_perfect - S_null) over all files."""
    items = list(scores)
    s = sum(f.score for f in items)
    null = sum(f.null for f in items)
    perfect = sum(f.perfect for f in items)
    if perfect == null:
        return 0.0
    return 100.0 * (s - null) / (perfect - null)
