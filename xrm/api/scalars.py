"""The custom scalars of CONTRACT §4: Date, DateTime, Decimal (exact, a string), BigInt, JSON.

Inputs pass through unchanged: the record service normalises every value with
the property's own rules (a Decimal input may be a string or a number), so
the API never parses values a second, different way.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, NewType

import strawberry
from strawberry.scalars import JSON


def _date(value: Any) -> str:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)


def _exact(value: Any) -> str:
    return str(value) if isinstance(value, (Decimal, int)) else str(Decimal(str(value)))


def _same(value: Any) -> Any:
    return value


DateScalar = strawberry.scalar(
    NewType("Date", str),
    name="Date",
    description="A calendar date, ISO 8601 (2024-03-01).",
    serialize=_date,
    parse_value=_same,
)
DateTimeScalar = strawberry.scalar(
    NewType("DateTime", str),
    name="DateTime",
    description="An instant, ISO 8601 with offset; returned in UTC.",
    serialize=_date,
    parse_value=_same,
)
DecimalScalar = strawberry.scalar(
    NewType("Decimal", str),
    name="Decimal",
    description="An exact decimal number, as a string; input also accepts a number.",
    serialize=_exact,
    parse_value=_same,
)
BigIntScalar = strawberry.scalar(
    NewType("BigInt", str),
    name="BigInt",
    description="A 64-bit integer, as a string; input also accepts a number.",
    serialize=lambda v: str(int(v)),
    parse_value=_same,
)

__all__ = ["JSON", "BigIntScalar", "DateScalar", "DateTimeScalar", "DecimalScalar"]
