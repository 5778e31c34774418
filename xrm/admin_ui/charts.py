"""Bar charts as SVG text, drawn on the server: data in, a string out, nothing else.

The dashboard draws its charts here rather than with a JavaScript library, so
they show without scripts and under the strict Content-Security-Policy: the
SVG carries no ``style`` attribute and no script; colours come from classes
(``series-0`` ...) in admin.css. Each chart names itself for screen readers
(``<title>``, ``<desc>``, ``role="img"``); the page beside it holds the same
numbers as a table. Any data draws: no categories, zeros, negatives, values
past the largest float (drawn at the largest float), long or odd labels
(shortened, escaped, characters XML cannot hold dropped), many series
(colours cycle).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

WIDTH = 640
HEIGHT = 320
LEFT = 80  # room for the value axis' labels
RIGHT = 12
TOP = 12
BOTTOM = 60  # room for the category labels (two lines, larger on a phone)
COLOURS = 8  # classes series-0 ... series-7 in admin.css
CHAR_WIDTH = 7.5  # an estimate of one character's width at the labels' size, in SVG units
TICKS = 4
NARROW = 96  # labels closer than this (in SVG units) run into each other on a phone

Number = int | float | Decimal
Formatter = Callable[[float], str]

# Characters XML 1.0 cannot carry (controls, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class Series:
    """One coloured set of bars: its name and one value per category."""

    label: str
    values: tuple[Number, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    """What to draw: categories along the bottom, a bar (or a stack) per series in each."""

    ident: str  # unique on the page: the ids of <title> and <desc> are made from it
    title: str
    description: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    stacked: bool = False
    # What the axis says under each category, if not the category itself: short, a line break
    # allowed ("Jul\n2024"); the bars' titles keep the full category.
    axis: tuple[str, ...] = ()


def text(value: str) -> str:
    """``value`` safe inside an XML element or attribute."""
    return escape(_NOT_XML.sub("", value), quote=True)


def finite(value: Number) -> float:
    """A value as a float the drawing can use: NaN is 0, beyond the float range is its edge."""
    try:
        number = float(value)
    except (OverflowError, ValueError):
        number = 0.0
    if math.isnan(number):
        return 0.0
    if math.isinf(number):
        return math.copysign(sys.float_info.max, number)
    return number


def shorten(label: str, room: float) -> str:
    """``label`` cut with an ellipsis to fit ``room`` units (the whole label goes in a title)."""
    fits = max(int(room / CHAR_WIDTH), 1)
    clean = _NOT_XML.sub("", label)
    return clean if len(clean) <= fits else clean[: max(fits - 1, 0)] + "…"


def _ticks(low: float, high: float) -> list[float]:
    """Values for the grid lines between ``low`` and ``high``: round steps when they can be."""
    even = [low * (1 - i / TICKS) + high * (i / TICKS) for i in range(TICKS + 1)]
    raw = (high - low) / TICKS
    if not math.isfinite(raw) or raw <= sys.float_info.min:
        return even
    power = 10.0 ** math.floor(math.log10(raw))
    steps = [m * power for m in (1, 2, 5, 10) if m * power >= raw]
    step = steps[0] if steps else math.inf
    if not math.isfinite(step) or step <= 0:
        return even
    first = math.ceil(low / step) * step
    out: list[float] = []
    value = first
    while value <= high + step * 1e-9 and len(out) <= TICKS * 3:
        out.append(0.0 if abs(value) < step * 1e-9 else value)
        value = first + step * len(out)
    return out


def _extent(chart: Chart) -> tuple[float, float]:
    """The lowest and highest value to draw (0 always among them, the bars grow from it)."""
    low = high = 0.0
    columns = len(chart.categories)
    for index in range(columns):
        values = [finite(s.values[index]) for s in chart.series if index < len(s.values)]
        if chart.stacked:
            ups = downs = 0.0
            for value in values:  # added as drawn: the stack's ends, each kept in range
                if value > 0:
                    ups = finite(ups + value)
                else:
                    downs = finite(downs + value)
            values = [ups, downs]
        for value in values:
            low, high = min(low, value), max(high, value)
    if low == high:
        high = 1.0
    return low, high


def bar_chart(chart: Chart, tick: Formatter = lambda v: f"{v:g}") -> str:
    """The chart as an ``<svg>`` element; ``tick`` writes a value axis' number."""
    low, high = _extent(chart)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        # Scaled through the fraction of the extent first: high - low may pass the float range.
        share = (value / 2 - low / 2) / (high / 2 - low / 2)
        return round(TOP + plot_h * (1 - min(max(share, 0.0), 1.0)), 2)

    ident = re.sub(r"[^A-Za-z0-9_-]", "-", chart.ident) or "chart"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{text(chart.title)}</title>',
        f'<desc id="{ident}-desc">{text(chart.description)}</desc>',
        '<g class="grid">',
    ]
    for value in _ticks(low, high):
        at = y(value)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{at}" y2="{at}"/>')
        label = text(shorten(tick(value), LEFT - 8))
        parts.append(f'<text x="{LEFT - 6}" y="{at}" class="tick">{label}</text>')
    parts.append("</g>")
    columns = len(chart.categories)
    if columns:
        slot = plot_w / columns
        groups = 1 if chart.stacked else max(len(chart.series), 1)
        bar = max(slot * 0.8 / groups, 0.5)
        parts.append('<g class="bars">')
        for index, category in enumerate(chart.categories):
            start = LEFT + slot * index + slot * 0.1
            ups = downs = 0.0
            for number, series in enumerate(chart.series):
                value = finite(series.values[index]) if index < len(series.values) else 0.0
                if chart.stacked:
                    x = start
                    base = ups if value >= 0 else downs
                    end = finite(base + value)
                    if value >= 0:
                        ups = end
                    else:
                        downs = end
                else:
                    x = start + bar * number
                    base, end = 0.0, value
                if value == 0:
                    continue
                top, bottom = sorted((y(base), y(end)))
                said = text(f"{category} · {series.label}: {tick(value)}")
                parts.append(
                    f'<rect class="series-{number % COLOURS}" x="{round(x, 2)}" y="{top}" '
                    f'width="{round(bar, 2)}" height="{round(bottom - top, 2)}">'
                    f"<title>{said}</title></rect>"
                )
        parts.append("</g>")
        # Every n-th category is labelled, so that labels do not run into each other.
        every = max(1, math.ceil(columns * 4 * CHAR_WIDTH / plot_w))
        room = slot * every - 4
        parts.append('<g class="categories">')
        for index, category in enumerate(chart.categories):
            if index % every:
                continue
            x = round(LEFT + slot * (index + 0.5), 2)
            said = chart.axis[index] if index < len(chart.axis) else category
            lines = [text(shorten(line, room)) for line in said.split("\n")[:2]]
            spans = "".join(
                f'<tspan x="{x}" dy="{"1.1em" if n == 0 else "1.15em"}">{line}</tspan>'
                for n, line in enumerate(lines)
            )
            # Where labels are close, every other one is "odd": a narrow screen, which draws
            # the text twice as large, hides those.
            odd = ' class="odd"' if (index // every) % 2 and slot * every < NARROW else ""
            parts.append(f'<text x="{x}" y="{HEIGHT - BOTTOM + 4}"{odd}>{spans}</text>')
        parts.append("</g>")
    zero = y(0.0)
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{zero}" y2="{zero}"/>')
    parts.append("</svg>")
    return "".join(parts)


def legend_classes(series: Sequence[Series]) -> list[tuple[str, str]]:
    """``(label, class)`` of each series, for a legend drawn in HTML beside the chart."""
    return [(s.label, f"series-{i % COLOURS}") for i, s in enumerate(series)]
