"""The horizon of the edge's forecasts: a date further out than that is no forecast at all.

A part that barely wears, or a health trend that barely moves, extrapolates to dates
centuries away (a long run of the demo produced consumable forecasts for the year 13164,
which no datetime can hold). Beyond ``HORIZON_S`` the agent says "not foreseeable"
(``None``) instead, and clips the upper end of an interval to the horizon.
"""

from __future__ import annotations

__all__ = ["HORIZON_S", "bounded"]

HORIZON_S = 10 * 365.25 * 86400.0


def bounded(
    now: float, eta: float | None, ci: tuple[float, float] | None
) -> tuple[float | None, tuple[float, float] | None]:
    """``(eta, ci)`` if ``eta`` is within the horizon from ``now``, else ``(None, None)``."""
    if eta is None or not eta - now <= HORIZON_S:  # also catches NaN
        return None, None
    if ci is None:
        return eta, None
    limit = now + HORIZON_S
    return eta, (min(ci[0], limit), min(ci[1], limit))
