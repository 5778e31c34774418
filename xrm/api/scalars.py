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
from strawberry.types.scalar import ScalarDefinition


def _date(value: Any) -> str:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)


def _exact(value: Any) -> str:
    return str(value) if isinstance(value, (Decimal, int)) else str(Decimal(str(value)))


def _same(value: Any) -> Any:
    return value


DateScalar = NewType("DateScalar", str)
DateTimeScalar = NewType("DateTimeScalar", str)
DecimalScalar = NewType("DecimalScalar", str)
BigIntScalar = NewType("BigIntScalar", str)

# What StrawberryConfig(scalar_map=...) needs to turn the annotations above into scalars.
SCALAR_MAP: dict[object, ScalarDefinition] = {
    DateScalar: strawberry.scalar(
        name="Date",
        description="A calendar date, ISO 8601 (2024-03-01).",
        serialize=_date,
        parse_value=_same,
    ),
    DateTimeScalar: strawberry.scalar(
        name="DateTime",
        description="An instant, ISO 8601 with offset; returned in UTC.",
        serialize=_date,
        parse_value=_same,
    ),
    DecimalScalar: strawberry.scalar(
        name="Decimal",
        description="An exact decimal number, as a string; input also accepts a number.",
        serialize=_exact,
        parse_value=_same,
    ),
    BigIntScalar: strawberry.scalar(
        name="BigInt",
        description="A 64-bit integer, as a string; input also accepts a number.",
        serialize=lambda v: str(int(v)),
        parse_value=_same,
    ),
}

__all__ = ["JSON", "SCALAR_MAP", "BigIntScalar", "DateScalar", "DateTimeScalar", "DecimalScalar"]
