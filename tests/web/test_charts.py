"""The server-rendered SVG charts: tick arithmetic (property-tested) and safe markup."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cloud.web.charts import Marker, Series, nice_ticks, time_chart

finite = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)


@given(finite, finite)
def test_ticks_cover_the_range_in_equal_round_steps(a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo + 1e-9 * max(1.0, abs(lo)) and ticks[-1] >= hi - 1e-9 * max(1.0, abs(hi))
    assert 2 <= len(ticks) <= 8
    steps = {round(b - a, 6) for a, b in zip(ticks, ticks[1:], strict=False)}
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1.0, 2.0, 5.0, 10.0), ticks
    assert max(steps) - min(steps) <= 1e-6 * max(1.0, step), ticks


def test_nonfinite_bounds_do_not_break_the_axis() -> None:
    assert nice_ticks(float("nan"), 1.0) == [0.0]


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_chart_draws_lines_bands_markers_and_escapes_every_label() -> None:
    points = [(T0 + timedelta(minutes=5 * i), float(i)) for i in range(10)]
    svg = str(
        time_chart(
            [Series("<script>x</script>", points, band=[(t, v - 1, v + 1) for t, v in points])],
            markers=[Marker(T0 + timedelta(minutes=20), 'alert "a1" & more', data={"alert": "a<1>"})],
            title="pressure <bar>",
        )
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'data-alert="a&lt;1&gt;"' in svg and "&amp; more" in svg
    assert svg.count("<polyline") == 1 and svg.count("<polygon") == 1 and svg.count('class="marker"') == 1
    (points_attr,) = re.findall(r'<polyline[^>]* points="([^"]+)"', svg)
    xs = [float(pair.split(",")[0]) for pair in points_attr.split()]
    assert xs == sorted(xs) and len(xs) == 10, "points run left to right in time order"


def test_nan_values_are_left_out_and_no_data_says_so() -> None:
    points = [(T0, 1.0), (T0 + timedelta(minutes=5), float("nan")), (T0 + timedelta(minutes=10), 2.0)]
    svg = str(time_chart([Series("x", points)]))
    assert "nan" not in svg.lower().replace("data-series", "")
    assert "no data yet" in str(time_chart([Series("x", [])]))
