from __future__ import annotations

import pytest

from simulators.stream import SimClock


def test_clock_maps_simulated_to_wall_time() -> None:
    slept: list[float] = []
    clock = SimClock(sim_start=1000.0, speed=60.0, sleep=slept.append)
    clock.wait_until(1000.0)  # now: nothing to wait for
    clock.wait_until(1060.0)  # one simulated minute at 60x = about one second
    assert len(slept) == 1 and slept[0] == pytest.approx(1.0, abs=0.05)


def test_speed_zero_never_sleeps() -> None:
    slept: list[float] = []
    clock = SimClock(0.0, 0.0, sleep=slept.append)
    clock.wait_until(1e9)
    assert slept == []
