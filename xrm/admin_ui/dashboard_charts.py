"""The dashboard's charts: each described once as data, its numbers read with aggregate queries.

A chart is a ``ChartSpec``: which type, what to measure (a count of records,
or the sum of a numeric field), what runs along the bottom (a field, a field
of a referenced record such as ``customer.tier``, or a date field bucketed by
``week``/``month``...), what the coloured series are, and what splits it into
one chart per value (``currency``: sums of different currencies are not
added up). Adding a chart is adding a ``ChartSpec`` to ``CHARTS``.

A chart is left out, never broken, when its type or one of its fields does
not exist, is of the wrong kind, or is hidden from the reader; and so is a
chart of a type the reader may not read. Its numbers come from the record
service's ``aggregate`` (one query per chart), as the reader may see them;
a field of a referenced record is read for the groups' references at once
(a referenced record the reader may not see counts as "not set").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from babel.dates import format_date, format_skeleton
from babel.numbers import format_compact_decimal

from xrm.admin_ui import charts
from xrm.admin_ui.record_fields import enum_label, field_label, number_text, type_label
from xrm.entities.records import RecordSession
from xrm.schemas.model import NUMERIC_KINDS, EntityType, Property

Gettext = Callable[[str], str]
NONE = object()  # the group of records without a value


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """One chart of the dashboard, as data."""

    key: str  # unique: the chart's ids on the page
    title: Callable[[Gettext], str]  # the title in the page's language
    entity: str
    along: str  # the bottom: "field", "reference.field", or "datefield:unit"
    measure: str | None = None  # None counts records; else the sum of this numeric field
    series: str | None = None  # a field whose values are stacked in each bar
    split: str | None = None  # a field: one chart per value
    periods: int = 12  # for a date along the bottom: this many buckets, up to the latest


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec(
        key="grievances-by-status",
        title=lambda _: _("Grievances by status per month"),
        entity="grievance",
        along="raised_at:month",
        series="status",
    ),
    ChartSpec(
        key="contract-value-by-tier",
        title=lambda _: _("Contract value by customer tier"),
        entity="contract",
        along="customer.tier",
        measure="value",
        split="currency",
    ),
)

UNITS = ("day", "week", "month", "year")
GROUPABLE = ("string", "enum", "boolean", "integer", "int64", "date")


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a chart's data table: a category, and a value per series."""

    label: str
    cells: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Drawn:
    """A chart ready for the page: the SVG, its legend and its numbers as a table."""

    key: str
    title: str
    svg: str
    legend: list[tuple[str, str]]
    along_label: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    # (split, category, series) -> value, None for "not set", "" where there is no split/series
    totals: dict[tuple[str | None, str | None, str | None], Decimal]


def _prop(et: EntityType, name: str | None, session: RecordSession) -> Property | None:
    if name is None:
        return None
    prop = et.properties.get(name)
    if prop is None or prop.name in session.hidden(et.name):
        return None
    return prop


@dataclass(frozen=True, slots=True)
class _Plan:
    """A spec checked against the catalog and the reader's rights."""

    et: EntityType
    along: Property  # the field on the chart's type (the reference, for "reference.field")
    far: tuple[EntityType, Property] | None  # the referenced type and its field
    unit: str | None
    measure: Property | None
    series: Property | None
    split: Property | None


def plan(spec: ChartSpec, session: RecordSession) -> _Plan | None:
    """What the chart reads, or None when it cannot be drawn for this reader."""
    et = session.catalog.types.get(spec.entity)
    if et is None or et.system or session.permissions.scope(et.name, "read") == "none":
        return None
    name, _, unit = spec.along.partition(":")
    near, _, far_name = name.partition(".")
    along = _prop(et, near, session)
    if along is None:
        return None
    far: tuple[EntityType, Property] | None = None
    if unit:
        if unit not in UNITS or along.kind not in ("date", "datetime"):
            return None
    elif far_name:
        if along.ref is None:
            return None
        other = session.catalog.types.get(along.ref.entity)
        if other is None or session.permissions.scope(other.name, "read") == "none":
            return None
        far_prop = _prop(other, far_name, session)
        if far_prop is None or far_prop.ref is not None or far_prop.kind not in GROUPABLE:
            return None
        far = (other, far_prop)
    elif along.kind not in GROUPABLE or along.ref is not None:
        return None
    measure = _prop(et, spec.measure, session)
    if spec.measure is not None and (measure is None or measure.kind not in NUMERIC_KINDS):
        return None
    series, split = _prop(et, spec.series, session), _prop(et, spec.split, session)
    for wanted, found in ((spec.series, series), (spec.split, split)):
        if wanted is not None and (
            found is None or found.kind not in GROUPABLE or found.ref is not None
        ):
            return None
    grouped = [along.name, *(p.name for p in (series, split) if p is not None)]
    if len(set(grouped)) != len(grouped):  # one field twice: nothing to tell apart
        return None
    return _Plan(et, along, far, unit or None, measure, series, split)


def _start(day: dt.date, unit: str) -> dt.date:
    if unit == "week":
        return day - dt.timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    return day


def _before(day: dt.date, unit: str) -> dt.date:
    """The start of the bucket before the one starting on ``day``."""
    if unit == "day":
        return day - dt.timedelta(days=1)
    if unit == "week":
        return day - dt.timedelta(days=7)
    if unit == "month":
        return (day - dt.timedelta(days=1)).replace(day=1)
    return day.replace(year=day.year - 1)


def _window(found: set[Any], unit: str, periods: int, today: dt.date) -> list[Any]:
    """The ``periods`` buckets up to the latest with data (not after today's), oldest first."""
    days = sorted(
        d
        for d in (dt.date.fromisoformat(str(v)) for v in found if v is not None and v is not NONE)
        if d <= _start(today, unit)
    )
    if not days:
        return []
    out = [days[-1]]
    while len(out) < periods and out[-1].year > 1:
        out.append(_before(out[-1], unit))
    return [d.isoformat() for d in reversed(out)]


def _label(prop: Property, value: Any, lang: str, _: Gettext) -> str:
    if value is NONE or value is None:
        return _("Not set")
    if prop.kind == "enum":
        return enum_label(prop, value, lang)
    if prop.kind == "boolean":
        return _("Yes") if value else _("No")
    if prop.kind in NUMERIC_KINDS:
        return number_text(value, lang)
    return str(value)


def _order(prop: Property, values: set[Any]) -> list[Any]:
    """Values in the enum's order, else sorted; "not set" last."""
    known = [v for v in values if v is not NONE]
    if prop.enum:
        rank = {v: i for i, v in enumerate(prop.enum)}
        known.sort(key=lambda v: (rank.get(v, len(rank)), str(v)))
    else:
        known.sort(key=str)
    return known + ([NONE] if NONE in values else [])


def _bucket_label(value: str, unit: str, lang: str) -> str:
    day = dt.date.fromisoformat(value)
    skeleton = {"day": "yMMMd", "week": "yMMMd", "month": "yMMM", "year": "y"}[unit]
    return format_skeleton(skeleton, day, locale=lang)


def _bucket_axis(values: list[str], unit: str, lang: str) -> list[str]:
    """Short axis labels: a day or month alone, with its year under the first and each January."""
    out = []
    for index, value in enumerate(values):
        day = dt.date.fromisoformat(value)
        if unit == "year":
            out.append(str(day.year))
            continue
        short = format_date(day, "MMM d" if unit in ("day", "week") else "MMM", locale=lang)
        first_of_year = day.month == 1 and (unit == "month" or day.day <= 7)
        out.append(f"{short}\n{day.year}" if index == 0 or first_of_year else short)
    return out


def draw(
    spec: ChartSpec, session: RecordSession, lang: str, _: Gettext, today: dt.date
) -> list[Drawn]:
    """The spec's charts (one per value of ``split``; none when it cannot be drawn or is empty)."""
    found = plan(spec, session)
    if found is None:
        return []
    keys = [spec.along.partition(".")[0]]
    for extra in (found.series, found.split):
        if extra is not None:
            keys.append(extra.name)
    groups = session.aggregate(found.et.name, group_by=keys)
    resolved: dict[str, Any] = {}
    if found.far is not None:
        other, far_prop = found.far
        ids = {str(g["group"][keys[0]]) for g in groups if g["group"][keys[0]] is not None}
        fetched = session.fetch(other.name, ids, fields=frozenset({far_prop.name}))
        resolved = {i: r.get(far_prop.name) for i, r in fetched.items()}
    totals: dict[tuple[Any, Any, Any], Decimal] = {}
    for group in groups:
        key = group["group"][keys[0]]
        if found.far is not None:
            key = resolved.get(str(key)) if key is not None else None
        series = group["group"][found.series.name] if found.series else ""
        split = group["group"][found.split.name] if found.split else ""
        if found.measure is None:
            amount = Decimal(group["count"])
        else:
            raw = group["sum"].get(found.measure.name)
            amount = Decimal(str(raw)) if raw is not None else Decimal(0)
        at = (
            NONE if split is None else split,
            NONE if key is None else key,
            NONE if series is None else series,
        )
        totals[at] = totals.get(at, Decimal(0)) + amount
    if found.unit is not None:
        along_values: list[Any] = _window({k[1] for k in totals}, found.unit, spec.periods, today)
        along_names = [_bucket_label(v, found.unit, lang) for v in along_values]
        axis = _bucket_axis(along_values, found.unit, lang)
        along_label = field_label(found.along, lang)
    else:
        shown = found.far[1] if found.far is not None else found.along
        along_values = _order(shown, {k[1] for k in totals})
        along_names = [_label(shown, v, lang, _) for v in along_values]
        axis = along_names
        along_label = field_label(shown, lang)
        if found.far is not None:
            along_label = f"{type_label(found.far[0], lang)} · {along_label}"
    if not along_values:
        return []
    series_values = (
        _order(found.series, {k[2] for k in totals}) if found.series is not None else [""]
    )
    series_names = (
        [_label(found.series, v, lang, _) for v in series_values]
        if found.series is not None
        else [_measure_label(found, lang, _)]
    )
    splits = _order(found.split, {k[0] for k in totals}) if found.split is not None else [""]
    title = spec.title(_)
    out = []
    for number, split in enumerate(splits):
        shown_title = title
        if found.split is not None:
            shown_title = f"{title} ({_label(found.split, split, lang, _)})"
        table = [
            [totals.get((split, a, s), Decimal(0)) for s in series_values] for a in along_values
        ]
        names, ticks = along_names, axis
        if found.unit is None:  # categories without a number in this chart are left out
            kept = [i for i, row in enumerate(table) if any(row)]
            table, names = [table[i] for i in kept], [along_names[i] for i in kept]
            ticks = names
        if not any(v for row in table for v in row):
            continue
        chart = charts.Chart(
            ident=f"{spec.key}-{number}",
            title=shown_title,
            description=_describe(found, along_label, series_names, lang, _),
            categories=tuple(names),
            axis=tuple(ticks),
            series=tuple(
                charts.Series(name, tuple(row[i] for row in table))
                for i, name in enumerate(series_names)
            ),
            stacked=found.series is not None,
        )
        out.append(
            Drawn(
                key=chart.ident,
                title=shown_title,
                svg=charts.bar_chart(chart, lambda v: _compact(v, lang)),
                legend=charts.legend_classes(chart.series) if found.series is not None else [],
                along_label=along_label,
                columns=tuple(series_names),
                rows=tuple(
                    Row(name, tuple(number_text(v, lang) for v in row))
                    for name, row in zip(names, table, strict=True)
                ),
                totals={
                    (_key(split), _key(a), _key(s)): totals.get((split, a, s), Decimal(0))
                    for a in along_values
                    for s in series_values
                },
            )
        )
    return out


def _key(value: Any) -> str | None:
    return None if value is NONE else str(value)


def _measure_label(found: _Plan, lang: str, _: Gettext) -> str:
    if found.measure is None:
        return _("Number of records")
    return _("Sum of %(field)s") % {"field": field_label(found.measure, lang)}


def _describe(found: _Plan, along: str, series: list[str], lang: str, _: Gettext) -> str:
    what = _measure_label(found, lang, _)
    if found.series is None:
        return _("Bar chart: %(measure)s by %(along)s.") % {"measure": what, "along": along}
    return _("Stacked bar chart: %(measure)s by %(along)s, one colour per %(series)s.") % {
        "measure": what,
        "along": along,
        "series": field_label(found.series, lang),
    }


def _compact(value: float, lang: str) -> str:
    """An axis number, short (``1.2M``, ``120만``)."""
    try:
        return str(format_compact_decimal(value, locale=lang, fraction_digits=1))
    except (ArithmeticError, ValueError, TypeError):
        return f"{value:.3g}"


def charts_for(
    session: RecordSession,
    lang: str,
    _: Gettext,
    today: dt.date,
    specs: Sequence[ChartSpec] = CHARTS,
) -> list[Drawn]:
    """Every chart of ``specs`` this reader gets to see, in order."""
    out: list[Drawn] = []
    for spec in specs:
        out.extend(draw(spec, session, lang, _, today))
    return out
