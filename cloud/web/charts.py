"""Server-rendered SVG time charts: no chart library, no CDN, nothing to download.

A chart is a few lines (each with an optional min-max band) over a shared time axis, with
vertical markers for events such as alerts. The SVG scales with its container
(``viewBox`` plus ``width: 100%`` in the stylesheet), so the same markup serves a laptop
and a phone. Every label is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from markupsafe import Markup

__all__ = ["Marker", "Series", "nice_ticks", "time_chart"]

PALETTE = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2")
_W, _H = 720, 200
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 14, 26


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: Sequence[tuple[datetime, float]]
    band: Sequence[tuple[datetime, float, float]] = ()  # (t, low, high), drawn under the line
    color: str | None = None


@dataclass(frozen=True, slots=True)
class Marker:
    at: datetime
    label: str
    color: str = "#dc2626"
    data: dict[str, str] = field(default_factory=dict)  # extra data-* attributes (tests, scripts)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round-numbered ticks covering [lo, hi]: steps of 1, 2 or 5 times a power of ten."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    span = max(abs(lo), abs(hi), 1.0)
    if hi - lo < span * 1e-9:  # a flat or vanishing range: give it some room around its value
        lo, hi = lo - span * 0.05, hi + span * 0.05
    raw = (hi - lo) / max(1, count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first, last = math.floor(lo / step), math.ceil(hi / step)
    return [k * step for k in range(first, max(last, first + 1) + 1)]


def _fmt_value(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}"


def _fmt_time(t: datetime, span_s: float) -> str:
    return t.strftime("%H:%M") if span_s <= 2 * 86400 else t.strftime("%d %b")


def time_chart(
    series: Sequence[Series],
    *,
    markers: Sequence[Marker] = (),
    title: str = "",
    unit: str = "",
    y_range: tuple[float, float] | None = None,
    css_class: str = "chart",
) -> Markup:
    """One SVG with every series over a shared time axis; empty data draws a note instead."""
    times = [t for s in series for t, _ in s.points] + [m.at for m in markers]
    values = [v for s in series for _, v in s.points if math.isfinite(v)]
    values += [x for s in series for _, lo, hi in s.band for x in (lo, hi) if math.isfinite(x)]
    label = escape(title)
    if not times or not values:
        return Markup(
            f'<svg class="{css_class}" viewBox="0 0 {_W} 60" role="img" aria-label="{label}">'
            f'<text x="{_W / 2}" y="34" text-anchor="middle" class="chart-empty">no data yet</text></svg>'
        )
    t0, t1 = min(times).timestamp(), max(times).timestamp()
    t1 = t1 if t1 > t0 else t0 + 1
    lo, hi = y_range if y_range else (min(values), max(values))
    ticks = nice_ticks(lo, hi)
    lo, hi = min(ticks[0], lo), max(ticks[-1], hi)
    hi = hi if hi > lo else lo + 1
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(t: datetime) -> float:
        return _LEFT + (t.timestamp() - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return _TOP + (1 - (v - lo) / (hi - lo)) * plot_h

    out = [f'<svg class="{css_class}" viewBox="0 0 {_W} {_H}" role="img" aria-label="{label}">']
    if title:
        out.append(f"<title>{label}</title>")
    for tick in ticks:
        out.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
            f'<text class="axis" x="{_LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{escape(_fmt_value(tick))}</text>"
        )
    if unit:
        out.append(f'<text class="axis" x="4" y="{_TOP - 2}">{escape(unit)}</text>')
    for i in range(5):
        at = datetime.fromtimestamp(t0 + (t1 - t0) * i / 4, tz=UTC)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        out.append(
            f'<text class="axis" x="{x(at):.1f}" y="{_H - 6}" text-anchor="{anchor}">'
            f"{escape(_fmt_time(at, t1 - t0))}</text>"
        )
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        if s.band:
            upper = " ".join(f"{x(t):.1f},{y(h):.1f}" for t, _, h in s.band)
            lower = " ".join(f"{x(t):.1f},{y(lo_):.1f}" for t, lo_, _ in reversed(s.band))
            out.append(f'<polygon class="band" fill="{color}" points="{upper} {lower}"/>')
        pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in s.points if math.isfinite(v))
        out.append(
            f'<polyline class="line" stroke="{color}" points="{pts}" data-series="{escape(s.name)}">'
            f"<title>{escape(s.name)}</title></polyline>"
        )
    for m in markers:
        extra = "".join(f' data-{escape(k)}="{escape(v)}"' for k, v in m.data.items())
        out.append(
            f'<line class="marker" stroke="{m.color}" x1="{x(m.at):.1f}" x2="{x(m.at):.1f}" '
            f'y1="{_TOP}" y2="{_TOP + plot_h}"{extra}><title>{escape(m.label)}</title></line>'
        )
    out.append("</svg>")
    return Markup("".join(out))
