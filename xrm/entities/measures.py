"""Sums, averages, minimums and maximums of numeric fields, exact and alike on both databases.

CONTRACT §4 (aggregates): integer and number fields answer JSON numbers,
decimals exact decimals, the same on SQLite and PostgreSQL. The databases
differ underneath: SQLite keeps decimals as text and sums integers in 64 bits,
PostgreSQL fails on a float sum past 1.8e308 and averages with a scale of
its own. So every group reads the count, sum, minimum and maximum in SQL,
each exact (PostgreSQL's NUMERIC, SQLite's aggregates from
``xrm.platform.sqlite_functions``), and the average is derived here from the
exact sum and count:

- integer and int64: sums, minimums and maximums are ints (a sum may pass
  2**63); the average is the float nearest the exact quotient;
- number: floats; the average is the sum over the count (both inf past the
  largest float, as JSON answers null);
- decimal: ``Decimal`` values. A minimum or maximum that several spellings of
  one value share (``1.5``, ``1.50``) is the one with the most decimal places.
  The average is the exact quotient rounded half to even at ``AVG_SCALE``
  decimal places, trailing zeros dropped (``0.15``; ``1.6666666666666666666666666667``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

AVG_SCALE = 28  # decimal places of the average of a decimal field (CONTRACT §4)
MEASURES = ("sum", "avg", "min", "max")
_HUGE = 2.0**1000
_SCALE_DOWN = 2.0**-600


def columns(
    label: str, kind: str, column: sa.ColumnElement[Any], dialect: str
) -> list[sa.ColumnElement[Any]]:
    """One numeric field's measures in SQL, labelled ``<label>_n``, ``_sum``, ``_min``, ``_max``."""
    f = sa.func
    total: sa.ColumnElement[Any]
    if kind == "decimal":
        total = f.xrm_decimal_sum(column, type_=sa.Text) if dialect == "sqlite" else f.sum(column)
        low, high = decimal_min(column, dialect), decimal_max(column, dialect)
    else:
        if kind == "int64" and dialect == "sqlite":
            total = f.xrm_integer_sum(column, type_=sa.Text)  # SQLite's sum stops at 2**63
        else:
            total = f.sum(column)
        low, high = f.min(column), f.max(column)
    out: list[sa.ColumnElement[Any]] = [
        f.count(column).label(f"{label}_n"),
        total.label(f"{label}_sum"),
        low.label(f"{label}_min"),
        high.label(f"{label}_max"),
    ]
    if kind == "number" and dialect == "postgresql":
        # PostgreSQL's float8 sum fails past 1.8e308 (SQLite's answers inf). The largest
        # values are summed apart, scaled by a power of two (exact), and added back in
        # ``values``; the rest can only overflow past 2**23 rows of them.
        huge = sa.func.abs(column) >= _HUGE
        out[1] = f.sum(column).filter(sa.not_(huge)).label(f"{label}_sum")
        out.append(f.sum(column * _SCALE_DOWN).filter(huge).label(f"{label}_huge"))
    return out


def decimal_min(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    """The least decimal, by value; among equal values the most decimal places."""
    if dialect == "sqlite":
        return sa.func.xrm_decimal_min(column, type_=sa.Text)
    # Arrays compare element by element: the value first, then fewer places (-scale) first.
    pair = postgresql.array([column, -sa.func.scale(column)])
    found = sa.func.min(pair, type_=postgresql.ARRAY(sa.Numeric(asdecimal=True)))
    return found.filter(column.is_not(None))  # [NULL, NULL] is an array, and sorts last


def decimal_max(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    """The greatest decimal, by value; among equal values the most decimal places."""
    if dialect == "sqlite":
        return sa.func.xrm_decimal_max(column, type_=sa.Text)
    pair = postgresql.array([column, sa.func.scale(column)])
    found = sa.func.max(pair, type_=postgresql.ARRAY(sa.Numeric(asdecimal=True)))
    return found.filter(column.is_not(None))


def decimal(raw: Any) -> Decimal | None:
    """A decimal measure as the database answered it (text, NUMERIC, or a value-scale pair)."""
    if raw is None:
        return None
    if isinstance(raw, (list, tuple)):
        raw = raw[0]
    return raw if isinstance(raw, Decimal) else Decimal(str(raw))


def values(label: str, kind: str, row: Mapping[Any, Any]) -> dict[str, Any]:
    """``{"sum", "avg", "min", "max"}`` of one field from a result row; None without values."""
    count = int(row[f"{label}_n"] or 0)
    if count == 0:
        return dict.fromkeys(MEASURES)
    total, low, high = row[f"{label}_sum"], row[f"{label}_min"], row[f"{label}_max"]
    if kind == "decimal":
        exact = decimal(total)
        assert exact is not None
        return {
            "sum": exact,
            "avg": average(exact, count),
            "min": decimal(low),
            "max": decimal(high),
        }
    if kind in ("integer", "int64"):
        whole = int(total)  # int, or NUMERIC/text past 2**63
        return {"sum": whole, "avg": whole / count, "min": int(low), "max": int(high)}
    number = float(total or 0.0)
    huge = row.get(f"{label}_huge")
    if huge is not None:
        number += float(huge) / _SCALE_DOWN  # inf past the largest float, as on SQLite
    return {"sum": number, "avg": number / count, "min": float(low), "max": float(high)}


def average(total: Decimal, count: int) -> Decimal:
    """``total / count`` rounded half to even at ``AVG_SCALE`` places, trailing zeros dropped.

    Computed with fractions: dividing in a decimal context and then rounding
    to the scale would round twice, which can land on the wrong neighbour.
    """
    quotient = round(Fraction(total) * 10**AVG_SCALE / count)  # round() on a Fraction: half-even
    places = AVG_SCALE
    while places > 0 and quotient % 10 == 0:
        quotient //= 10
        places -= 1
    digits = tuple(int(c) for c in str(abs(quotient)))
    return Decimal((int(quotient < 0), digits, -places))
