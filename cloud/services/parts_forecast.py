"""How many of a part to have on hand for the next 30 days, in whole units, with the odds
that it is enough.

Two kinds of demand:

- **consumables that will run out**: each one is a coin with its own odds, the chance that
  its depletion falls inside the horizon, read off the edge's 90 % forecast interval
  (a normal distribution whose spread matches the interval's half on that side). Their sum
  is a Poisson-binomial count;
- **parts that repairs use**: past use scaled to the horizon is the expected count of a
  Poisson process (repairs arrive independently).

For either, :func:`stock_for` answers the smallest whole quantity whose chance of covering
the demand is at least ``COVER`` (90 %), and that chance. "1.3 bearings" becomes "2 bearings,
enough with 96 % probability (1.3 expected)".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from scipy.stats import norm, poisson

__all__ = ["COVER", "Z90", "depletion_probability", "stock_for", "stock_for_rate"]

COVER = 0.9
Z90 = float(norm.ppf(0.95))  # a two-sided 90 % interval spans +-1.645 sd


def depletion_probability(
    predicted: datetime, lo: datetime | None, hi: datetime | None, horizon_end: datetime
) -> float:
    """The chance a consumable forecast to run out at ``predicted`` (90 % interval lo..hi)
    runs out by ``horizon_end``. Without an interval the forecast is taken at its word."""
    gap = (horizon_end - predicted).total_seconds()
    side = lo if gap < 0 else hi
    if side is None:
        return 1.0 if gap >= 0 else 0.0
    sd = abs((predicted - side).total_seconds()) / Z90
    if sd == 0:
        return 1.0 if gap >= 0 else 0.0
    return float(norm.cdf(gap / sd))


def stock_for(probabilities: Sequence[float], cover: float = COVER) -> tuple[int, float]:
    """(quantity, chance it covers the demand) for independent needs with these odds."""
    dist = [1.0]  # dist[k] = P(exactly k needed), built one coin at a time
    for p in probabilities:
        p = min(max(p, 0.0), 1.0)
        nxt = [0.0] * (len(dist) + 1)
        for k, mass in enumerate(dist):
            nxt[k] += mass * (1.0 - p)
            nxt[k + 1] += mass * p
        dist = nxt
    covered = 0.0
    for k, mass in enumerate(dist):
        covered += mass
        if covered >= cover - 1e-12:
            return k, min(covered, 1.0)
    return len(dist) - 1, 1.0


def stock_for_rate(expected: float, cover: float = COVER) -> tuple[int, float]:
    """(quantity, chance it covers the demand) for a Poisson demand with this mean."""
    if expected <= 0 or not math.isfinite(expected):
        return 0, 1.0
    quantity = int(poisson.ppf(cover, expected))
    return quantity, float(poisson.cdf(quantity, expected))
