"""The event-window scorer the detection bench reports (bench/event_score.py, NAB's rules)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from event_score import PROFILES, file_score, normalised, scaled_sigmoid, windows_from_labels  # noqa: E402

STD = PROFILES["standard"]


def score(detections: list[int], windows: list[tuple[int, int]], n: int = 1000) -> float:
    return normalised([file_score(np.array(detections, dtype=int), windows, n, STD)])


def test_null_perfect_and_early_beats_late() -> None:
    wins = [(100, 199), (500, 599)]
    assert score([], wins) == 0.0
    assert score([100, 500], wins) == pytest.approx(100.0)
    assert score([110, 510], wins) > score([180, 580], wins) > 0


def test_only_the_first_detection_in_a_window_counts_and_outsiders_cost() -> None:
    wins = [(100, 199)]
    assert score([100, 120, 150], wins) == score([100], wins)
    assert score([100, 800], wins) < score([100], wins)
    # a false detection just after a window costs less than one far from any window
    near = file_score(np.array([100, 205]), wins, 1000, STD).score
    far = file_score(np.array([100, 900]), wins, 1000, STD).score
    before = file_score(np.array([100, 50]), wins, 1000, STD).score
    assert near > far and far == pytest.approx(before)


def test_held_alerts_counted_row_by_row_are_punished() -> None:
    """An 'alert' column that stays 1 for a long stretch: every row a detection."""
    wins = [(100, 199)]
    held = list(range(100, 400))
    assert score(held, wins) < score([100], wins)


@given(st.lists(st.integers(0, 999), max_size=40))
def test_never_above_perfect(detections: list[int]) -> None:
    wins = [(100, 199), (500, 599)]
    assert score(detections, wins) <= 100.0 + 1e-9


def test_windows_from_labels_and_the_sigmoid() -> None:
    assert windows_from_labels(np.array([0, 1, 1, 0, 1])) == [(1, 2), (4, 4)]
    assert scaled_sigmoid(-1.0) == pytest.approx(0.9866, abs=1e-4)
    assert scaled_sigmoid(0.0) == 0.0 and scaled_sigmoid(4.0) == -1.0
