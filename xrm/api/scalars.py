"""The custom scalars of CONTRACT §4: Date, DateTime, Decimal (exact, a string), BigInt, JSON.

Inputs pass through unchanged: the record service normalises every value with
the property's own rules (a Decimal input may be a string or a number), so
the API never parses values a second, different way.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from graphql import GraphQLScalarType, value_from_ast_untyped

from xrm.schemas.formats import decimal_text


def _date(value: Any) -> str:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)


def _exact(value: Any) -> str:
    """A decimal exactly, in plain notation (``0.0000000001``, never ``1E-10``)."""
    if isinstance(value, int):
        return str(value)
    return decimal_text(value if isinstance(value, Decimal) else Decimal(str(value)))


def _same(value: Any) -> Any:
    return value


def _literal(node: Any, variables: Any = None) -> Any:
    return value_from_ast_untyped(node, variables)


def _scalar(name: str, description: str, serialize: Any) -> GraphQLScalarType:
    return GraphQLScalarType(
        name,
        serialize=serialize,
        parse_value=_same,
        parse_literal=_literal,
        description=description,
    )


DATE = _scalar("Date", "A calendar date, ISO 8601 (2024-03-01).", _date)
DATETIME = _scalar("DateTime", "An instant, ISO 8601 with offset; returned in UTC.", _date)
DECIMAL = _scalar(
    "Decimal", "An exact decimal number, as a string; input also accepts a number.", _exact
)
BIGINT = _scalar(
    "BigInt", "A 64-bit integer, as a string; input also accepts a number.", lambda v: str(int(v))
)
JSON = _scalar("JSON", "Any JSON value.", _same)
