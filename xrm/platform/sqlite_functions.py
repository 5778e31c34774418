"""Exact aggregates SQLite lacks, registered on every SQLite connection (``xrm.platform.db``).

SQLite keeps decimals as their plain text and integers in 64 bits. Its own
``sum`` reads decimal text as floats (``0.1 + 0.2`` is ``0.30000000000000004``)
and fails past 2**63, and its ``min``/``max`` compare the text, not the number.
PostgreSQL's NUMERIC does all of this exactly; these aggregates do the same
for SQLite, so both databases answer the same numbers (CONTRACT §4).

Each answers text, since SQLite cannot hold what they may produce (a sum
beyond 64 bits, 28 digits). A minimum or maximum that several spellings of
one value share (``1.5``, ``1.50``) is answered in the one with the most
decimal places, as ``measures`` asks PostgreSQL for it.
"""

from __future__ import annotations

import sqlite3
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, Inexact
from typing import Any

# Sums of exact decimals are exact at any size: precision is only the limit past which
# Python would round, and an addition allocates just the digits its result has.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact])


def _plain(value: Decimal) -> str:
    return format(value, "f")


def _decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) else 0


class DecimalSum:
    """``xrm_decimal_sum(text)``: the exact sum of decimals stored as text."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: Any) -> None:
        if value is None:
            return
        number = Decimal(value)
        self.total = number if self.total is None else _EXACT.add(self.total, number)

    def finalize(self) -> str | None:
        return None if self.total is None else _plain(self.total)


class _Extreme:
    """The least (``sign`` 1) or greatest (``sign`` -1) decimal; ties go to more decimals."""

    sign = 1

    def __init__(self) -> None:
        self.best: Decimal | None = None

    def step(self, value: Any) -> None:
        if value is None:
            return
        number = Decimal(value)
        best = self.best
        if best is None:
            self.best = number
        elif number != best:
            if (number < best) == (self.sign > 0):
                self.best = number
        elif _decimals(number) > _decimals(best):
            self.best = number

    def finalize(self) -> str | None:
        return None if self.best is None else _plain(self.best)


class DecimalMin(_Extreme):
    """``xrm_decimal_min(text)``: the least decimal, by value."""

    sign = 1


class DecimalMax(_Extreme):
    """``xrm_decimal_max(text)``: the greatest decimal, by value."""

    sign = -1


class IntegerSum:
    """``xrm_integer_sum(int)``: the exact sum of 64-bit integers, past 2**63 too."""

    def __init__(self) -> None:
        self.total: int | None = None

    def step(self, value: Any) -> None:
        if value is not None:
            self.total = int(value) + (self.total or 0)

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)


AGGREGATES: dict[str, type] = {
    "xrm_decimal_sum": DecimalSum,
    "xrm_decimal_min": DecimalMin,
    "xrm_decimal_max": DecimalMax,
    "xrm_integer_sum": IntegerSum,
}


def install(connection: sqlite3.Connection) -> None:
    """Register the aggregates on one new connection."""
    for name, aggregate in AGGREGATES.items():
        connection.create_aggregate(name, 1, aggregate)
