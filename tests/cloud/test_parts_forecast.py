"""Parts forecasts in whole units with the odds they are enough (issue 16: "1.3 bearings")."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import poisson

from cloud.services.parts_forecast import COVER, depletion_probability, stock_for, stock_for_rate

T = datetime(2026, 3, 1, tzinfo=UTC)


@given(st.lists(st.floats(0.0, 1.0), max_size=30))
def test_the_stock_for_independent_needs_is_the_smallest_that_covers_90_percent(ps: list[float]) -> None:
    quantity, covers = stock_for(ps)
    assert 0 <= quantity <= len(ps) and covers >= COVER - 1e-9
    if quantity > 0:  # one fewer would not be enough often enough
        assert stock_for(ps, cover=covers - 1e-6)[0] <= quantity
    assert stock_for(ps + [1.0])[0] == quantity + 1, "a certain need adds exactly one"


def test_the_stock_for_a_few_known_cases() -> None:
    assert stock_for([]) == (0, 1.0)
    assert stock_for([1.0, 1.0, 1.0]) == (3, 1.0)
    assert stock_for([0.5]) == (1, 1.0)  # half a chance of one: keep one
    assert stock_for([0.05, 0.05]) == (0, pytest.approx(0.9025))
    quantity, covers = stock_for_rate(1.3)
    assert quantity == 3 and covers == pytest.approx(poisson.cdf(3, 1.3))  # "1.3 bearings"
    assert poisson.cdf(2, 1.3) < COVER <= covers
    assert stock_for_rate(0.0) == (0, 1.0)


@given(st.floats(0.01, 50.0))
def test_the_stock_for_a_rate_is_the_poisson_quantile(rate: float) -> None:
    quantity, covers = stock_for_rate(rate)
    assert covers >= COVER and (quantity == 0 or poisson.cdf(quantity - 1, rate) < COVER)


def test_the_odds_a_consumable_runs_out_follow_its_interval() -> None:
    horizon = T + timedelta(days=30)
    assert depletion_probability(T + timedelta(days=10), None, None, horizon) == 1.0
    assert depletion_probability(T + timedelta(days=40), None, None, horizon) == 0.0
    at_edge = depletion_probability(
        T + timedelta(days=30), T + timedelta(days=20), T + timedelta(days=40), horizon
    )
    assert at_edge == pytest.approx(0.5)
    # the horizon at the interval's upper end: 95 % (one side of a two-sided 90 % interval)
    upper = depletion_probability(
        T + timedelta(days=20), T + timedelta(days=10), T + timedelta(days=30), horizon
    )
    assert upper == pytest.approx(0.95, abs=1e-6)
    lower = depletion_probability(
        T + timedelta(days=40), T + timedelta(days=30), T + timedelta(days=60), horizon
    )
    assert lower == pytest.approx(0.05, abs=1e-6)
    assert not math.isnan(depletion_probability(T, T, T, horizon))
