"""Aggregates of decimals and 64-bit integers against Python's exact arithmetic, on either engine.

Hypothesis draws decimals anywhere in what a decimal holds (28 digits, from
``0.0000000000000000000000000001`` to ``9999999999999999999999999999``, in
several spellings of one value) and 64-bit integers up to both ends; the
database must answer what ``decimal`` and ``int`` compute (CONTRACT §4):

- sums exactly, as Python adds them (a decimal sum keeps the most places);
- minimums and maximums by value, in the spelling with the most places;
- averages of decimals rounded half to even at 28 places, trailing zeros
  dropped; of integers the float nearest the exact quotient;
- a decimal group holds one value whatever its spellings, shown likewise.

Each value is also spelled in plain notation (never ``1E-10``).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.identity import Actor
from xrm.schemas.formats import json_value

PROBE: dict[str, Any] = {
    "type": "object",
    "title": "Sums",
    "x-xrm": {"name": "sums", "plural": "sums_list"},
    "properties": {
        "batch": {"type": "integer"},
        "tag": {"type": "string"},
        "amount": {"type": "string", "format": "decimal"},
        "big": {"type": "integer", "format": "int64"},
    },
    "required": ["batch"],
}
WIDE = Context(prec=200)


def _decimal(digits: int, places: int, negative: bool) -> Decimal:
    return Decimal((int(negative), tuple(int(c) for c in str(digits)), -places))


# A value of at most 28 digits in all (``n``), ``places`` of them after the point.
DECIMALS = st.one_of(
    st.integers(1, 28).flatmap(
        lambda n: st.builds(_decimal, st.integers(0, 10**n - 1), st.integers(0, n), st.booleans())
    ),
    st.sampled_from(
        [
            Decimal("9999999999999999999999999999"),
            Decimal("-9999999999999999999999999999"),
            Decimal("0.0000000000000000000000000001"),
            Decimal("0.1"),
            Decimal("0.2"),
            Decimal("1.5"),
            Decimal("1.50"),
            Decimal("0E-8"),
            Decimal("0"),
            Decimal("12345678901234567890.123456"),
        ]
    ),
)
SPELLINGS = st.sampled_from([format, lambda d, _: f"{d:E}", lambda d, _: str(d)])
BIGS = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([2**63 - 1, -(2**63)]))
ROWS = st.lists(
    st.fixed_dictionaries(
        {"tag": st.sampled_from(["a", "b"])},
        optional={
            "amount": st.tuples(DECIMALS, SPELLINGS).map(lambda p: p[1](p[0], "f")),
            "big": BIGS,
        },
    ),
    max_size=8,
)


def _parsed(text: str) -> Decimal:
    """A sent decimal as stored: its value and places (PostgreSQL keeps no negative zero)."""
    value = Decimal(text)
    return value.copy_abs() if value.is_zero() else value


def _plain(value: Decimal) -> str:
    """Plain notation; a zero has no sign (the avg of tiny negatives may round to one)."""
    return format(value.copy_abs() if value.is_zero() else value, "f")


def _most_places(values: Sequence[Decimal], target: Decimal) -> Decimal:
    """Among the values equal to ``target``, the one written with the most places."""
    return max((v for v in values if v == target), key=lambda v: -int(v.as_tuple().exponent))


def _expected(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    amounts = [_parsed(r["amount"]) for r in rows if r.get("amount") is not None]
    bigs = [r["big"] for r in rows if r.get("big") is not None]
    out: dict[str, Any] = {"count": len(rows)}
    if amounts:
        with localcontext(WIDE):
            total = sum(amounts, Decimal(0))
            average = (total / len(amounts)).quantize(Decimal("1E-28"), ROUND_HALF_EVEN)
        places = _plain(average).rstrip("0").rstrip(".")  # trailing zeros dropped
        out["amount"] = {
            "sum": _plain(total),
            "avg": places,
            "min": _plain(_most_places(amounts, min(amounts))),
            "max": _plain(_most_places(amounts, max(amounts))),
        }
    else:
        out["amount"] = dict.fromkeys(("sum", "avg", "min", "max"))
    if bigs:
        out["big"] = {
            "sum": sum(bigs),
            "avg": sum(bigs) / len(bigs),
            "min": min(bigs),
            "max": max(bigs),
        }
    else:
        out["big"] = dict.fromkeys(("sum", "avg", "min", "max"))
    return out


@pytest.fixture
def probe(registry: Registry, service: RecordService) -> RecordService:
    registry.apply([PROBE])
    return service


BATCHES = itertools.count(1)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=ROWS)
@example(rows=[{"tag": "a", "amount": "0.1"}, {"tag": "a", "amount": "0.2"}])
@example(rows=[{"tag": "a", "big": 2**63 - 1}, {"tag": "a", "big": -(2**63)}])
@example(rows=[{"tag": "a", "big": 2**63 - 1}] * 3)
@example(rows=[{"tag": "a", "amount": a} for a in ("1.5", "1.50", "1.500E+0", "-0.00", "0")])
@example(rows=[{"tag": "b", "amount": "9999999999999999999999999999"}] * 4)
def test_aggregates_are_what_python_computes(
    probe: RecordService, admin: Actor, rows: list[dict[str, Any]]
) -> None:
    batch = next(BATCHES)
    with probe.session(admin) as s:
        s.create_many("sums", [{"batch": batch, **r} for r in rows])
    scope = {"batch": {"eq": batch}}
    with probe.session(admin, write=False) as s:
        [overall] = s.aggregate("sums", filter=scope)
        by_tag = s.aggregate("sums", filter=scope, group_by=["tag"])
        by_amount = s.aggregate("sums", filter=scope, group_by=["amount"])
    _check(overall, _expected(rows))
    tags = {g["group"]["tag"]: g for g in by_tag}
    assert set(tags) == {r["tag"] for r in rows}
    for tag, group in tags.items():
        _check(group, _expected([r for r in rows if r["tag"] == tag]))
    # One group per value, however it was spelled, shown with the most places.
    groups: dict[Decimal | None, list[Decimal]] = defaultdict(list)
    for r in rows:
        value = None if r.get("amount") is None else _parsed(r["amount"])
        groups[value].append(Decimal(0) if value is None else value)
    shown = {g["group"]["amount"]: g["count"] for g in by_amount}
    assert shown == {
        (None if k is None else _plain(_most_places(v, k))): len(v) for k, v in groups.items()
    }


def _check(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["count"] == want["count"]
    for measure in ("sum", "avg", "min", "max"):
        amount = got[measure]["amount"]
        assert json_value(amount) == want["amount"][measure], (measure, amount)
        assert amount is None or isinstance(amount, Decimal)
        big = got[measure]["big"]
        assert big == want["big"][measure] and type(big) is type(want["big"][measure]), measure
