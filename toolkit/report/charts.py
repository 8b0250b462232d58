"""Small inline SVG charts for the report page: no JavaScript, no network, printable.

Each function returns a complete ``<svg>`` element as ``markupsafe.Markup`` for the
page template. Every piece of text that comes from the workbook (customer names,
bucket labels) is escaped here, because the template inserts the chart as is.
Charts carry a ``<title>`` and ``<desc>`` for screen readers and a ``<title>`` per
bar, which browsers show as a tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

Format = Callable[[float], str]

# Current, then the overdue buckets from young to old, then on hold.
CURRENT_COLOR = "#3a8f5c"
ON_HOLD_COLOR = "#8a97a8"
_OVERDUE_PALETTE = ("#f2c94c", "#f2994a", "#e0603a", "#c0392b", "#8e1b1b", "#5c0f0f")
GRID_COLOR = "#d9dde3"
TEXT_COLOR = "#2b3440"
MUTED_COLOR = "#5f6b7a"


def overdue_colors(count: int) -> list[str]:
    """``count`` colours from yellow (just late) to red (oldest); the darkest reds only past four buckets."""
    if count <= 1:
        return [_OVERDUE_PALETTE[3]]
    last = 3 if count <= 4 else len(_OVERDUE_PALETTE) - 1
    return [_OVERDUE_PALETTE[round(i * last / (count - 1))] for i in range(count)]


@dataclass(frozen=True)
class Series:
    """One kind of segment in a stacked bar (a bucket), with its legend name and colour."""

    name: str
    color: str


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """Round axis values from 0 to at least ``maximum``: 0, 2500, 5000, ..."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = magnitude * 10
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * magnitude >= raw:
            step = multiple * magnitude
            break
    steps = math.ceil(maximum / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open(chart_id: str, width: int, height: int, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]


def _empty(lines: list[str], width: int, height: int, message: str) -> Markup:
    lines.append(
        f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" fill="{MUTED_COLOR}">'
        f"{escape(message)}</text></svg>"
    )
    return Markup("\n".join(lines))


def column_chart(
    chart_id: str,
    title: str,
    bars: Sequence[tuple[str, float, str]],
    value_format: Format,
    axis_format: Format,
    *,
    width: int = 560,
    height: int = 300,
    empty_message: str = "Nothing to show",
) -> Markup:
    """Vertical bars, one per ``(label, value, colour)``, each with its value above it."""
    desc = "; ".join(f"{label}: {value_format(value)}" for label, value, _ in bars)
    lines = _open(chart_id, width, height, title, desc)
    if not bars or all(value <= 0 for _, value, _ in bars):
        return _empty(lines, width, height, empty_message)
    left, right, top, bottom = 72, 12, 26, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(max(value for _, value, _ in bars))
    scale = plot_h / ticks[-1]
    for tick in ticks:
        y = top + plot_h - tick * scale
        lines.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_num(y)}" y2="{_num(y)}" stroke="{GRID_COLOR}" />'
            f'<text x="{left - 8}" y="{_num(y + 4)}" text-anchor="end" class="axis" fill="{MUTED_COLOR}">'
            f"{escape(axis_format(tick))}</text>"
        )
    slot = plot_w / len(bars)
    bar_w = min(slot * 0.62, 70)
    for i, (label, value, color) in enumerate(bars):
        x = left + slot * i + (slot - bar_w) / 2
        h = max(value, 0) * scale
        y = top + plot_h - h
        center = x + bar_w / 2
        lines.append(
            f'<g class="bar"><title>{escape(label)}: {escape(value_format(value))}</title>'
            f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(bar_w)}" height="{_num(h)}" fill="{escape(color)}" rx="2" />'
            f'<text x="{_num(center)}" y="{_num(y - 6)}" text-anchor="middle" class="value" fill="{TEXT_COLOR}">'
            f"{escape(value_format(value))}</text>"
            f'<text x="{_num(center)}" y="{height - bottom + 18}" text-anchor="middle" class="label" '
            f'fill="{TEXT_COLOR}">{escape(shorten(label, 14))}</text></g>'
        )
    lines.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{MUTED_COLOR}" />'
    )
    lines.append("</svg>")
    return Markup("\n".join(lines))


def stacked_bar_chart(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[Series],
    value_format: Format,
    axis_format: Format,
    *,
    width: int = 560,
    row_height: int = 26,
    label_width: int = 170,
    min_height: int = 0,
    empty_message: str = "Nothing to show",
) -> Markup:
    """Horizontal bars, one per ``(label, values)``, stacked by ``series``, with the total at the end."""
    desc = "; ".join(
        f"{label}: {value_format(sum(values))} ("
        + ", ".join(f"{s.name} {value_format(v)}" for s, v in zip(series, values, strict=True) if v)
        + ")"
        for label, values in rows
    )
    top, legend_h, axis_h = 8, 28, 20
    if rows and min_height:  # few rows: taller bars, so the chart matches its neighbour
        row_height = max(row_height, min(44, (min_height - top - axis_h - legend_h) // len(rows)))
    height = top + max(len(rows), 1) * row_height + axis_h + legend_h
    lines = _open(chart_id, width, height, title, desc)
    totals = [sum(values) for _, values in rows]
    if not rows or max(totals) <= 0:
        return _empty(lines, width, height, empty_message)
    left = label_width
    right = max(48, 7 * max(len(value_format(t)) for t in totals) + 16)  # room for the totals
    plot_w = width - left - right
    ticks = nice_ticks(max(totals))
    scale = plot_w / ticks[-1]
    plot_bottom = top + len(rows) * row_height
    for tick in ticks:
        x = left + tick * scale
        lines.append(
            f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{top}" y2="{plot_bottom}" stroke="{GRID_COLOR}" />'
            f'<text x="{_num(x)}" y="{plot_bottom + 14}" text-anchor="middle" class="axis" fill="{MUTED_COLOR}">'
            f"{escape(axis_format(tick))}</text>"
        )
    bar_h = row_height * 0.64
    for i, (label, values) in enumerate(rows):
        y = top + i * row_height + (row_height - bar_h) / 2
        parts = [f'<g class="bar"><title>{escape(label)}: {escape(value_format(totals[i]))}</title>']
        parts.append(
            f'<text x="{left - 8}" y="{_num(y + bar_h / 2 + 4)}" text-anchor="end" class="label" '
            f'fill="{TEXT_COLOR}">{escape(shorten(label, 24))}</text>'
        )
        x = float(left)
        for s, value in zip(series, values, strict=True):
            if value <= 0:
                continue
            w = value * scale
            parts.append(
                f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(bar_h)}" fill="{escape(s.color)}">'
                f"<title>{escape(label)} · {escape(s.name)}: {escape(value_format(value))}</title></rect>"
            )
            x += w
        parts.append(
            f'<text x="{_num(x + 6)}" y="{_num(y + bar_h / 2 + 4)}" class="value" fill="{TEXT_COLOR}">'
            f"{escape(value_format(totals[i]))}</text></g>"
        )
        lines.append("".join(parts))
    # The legend, left to right under the axis.
    x, y = float(left), plot_bottom + axis_h + 12
    for s in series:
        lines.append(
            f'<rect x="{_num(x)}" y="{_num(y - 9)}" width="10" height="10" fill="{escape(s.color)}" />'
            f'<text x="{_num(x + 14)}" y="{_num(y)}" class="legend" fill="{TEXT_COLOR}">{escape(s.name)}</text>'
        )
        x += 14 + 7.2 * len(s.name) + 16
    lines.append("</svg>")
    return Markup("\n".join(lines))
