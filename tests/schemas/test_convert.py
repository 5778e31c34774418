"""The exact conversion rules: every value converts exactly and back, or is refused with why."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xrm.schemas.convert import converter, exact_number, spell
from xrm.schemas.parse import parse_properties


def prop(schema: dict[str, Any]) -> Any:
    props, faults = parse_properties("t", {"p": schema}, [], refs_allowed=True)
    assert not faults
    return props["p"]


TEXT = {"type": "string"}
INTEGER = {"type": "integer"}
INT64 = {"type": "integer", "format": "int64"}
NUMBER = {"type": "number"}
DECIMAL = {"type": "string", "format": "decimal"}
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}
BOOLEAN = {"type": "boolean"}
ARRAY = {"type": "array", "items": {"type": "string"}}
OBJECT = {"type": "object"}
EMAIL = {"type": "string", "format": "email"}


def convert(old: dict[str, Any], new: dict[str, Any], value: Any) -> Any:
    return converter(prop(old), prop(new), "KR")(value)


@pytest.mark.parametrize(
    ("old", "new", "value", "expected"),
    [
        (ARRAY, TEXT, ["a", "é"], '["a","é"]'),
        (OBJECT, TEXT, {"a": 1, "b": None}, '{"a":1,"b":null}'),
        (DECIMAL, TEXT, Decimal("0.0000000001"), "0.0000000001"),
        (NUMBER, TEXT, 0.1, "0.1"),
        (BOOLEAN, TEXT, True, "true"),
        (DATE, TEXT, dt.date(2024, 1, 5), "2024-01-05"),
        (TEXT, INTEGER, "-12", -12),
        (TEXT, INT64, "9007199254740993", 9007199254740993),
        (TEXT, NUMBER, "-12.5", -12.5),
        (TEXT, NUMBER, "1", 1.0),
        (TEXT, DECIMAL, "1.50", Decimal("1.50")),
        (TEXT, DATE, "2024-01-05", dt.date(2024, 1, 5)),
        (TEXT, DATETIME, "2024-01-05T10:00:00+09:00", dt.datetime(2024, 1, 5, 1, tzinfo=dt.UTC)),
        (TEXT, BOOLEAN, "false", False),
        (TEXT, ARRAY, "a", ["a"]),
        (TEXT, OBJECT, '{"a":1}', {"a": 1}),
        (DECIMAL, NUMBER, Decimal("0.1"), 0.1),
        (DECIMAL, INTEGER, Decimal("12.00"), 12),
        (INT64, NUMBER, 2**53, float(2**53)),
        (NUMBER, INTEGER, 3.0, 3),
        (NUMBER, DECIMAL, 0.1, Decimal("0.1")),
        (INTEGER, BOOLEAN, 1, True),
        (DATE, DATETIME, dt.date(2024, 1, 5), dt.datetime(2024, 1, 5, tzinfo=dt.UTC)),
        (DATETIME, DATE, dt.datetime(2024, 1, 5, tzinfo=dt.UTC), dt.date(2024, 1, 5)),
        (TEXT, EMAIL, "A@Example.org", "a@example.org"),  # a kind inside text: its normal form
    ],
)
def test_exact_conversions_are_kept(old: Any, new: Any, value: Any, expected: Any) -> None:
    result = convert(old, new, value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("old", "new", "value", "why"),
    [
        (DECIMAL, NUMBER, Decimal("12345678901234567.89"), "cannot hold it exactly"),
        (INT64, NUMBER, 9007199254740993, "cannot hold it exactly"),
        (TEXT, NUMBER, "12345678901234567890", "cannot hold it exactly"),
        (TEXT, DECIMAL, "1,5", "not written plainly"),
        (TEXT, INTEGER, "007", "not written plainly"),
        (TEXT, INTEGER, "1e3", "not written plainly"),
        (TEXT, INTEGER, "+1", "not written plainly"),
        (TEXT, INTEGER, "1.0", "not written plainly"),
        (TEXT, NUMBER, ".5", "not written plainly"),
        (TEXT, NUMBER, "NaN", "not written plainly"),
        (TEXT, DECIMAL, "1 000", "not written plainly"),
        (TEXT, INTEGER, "-0", "zero has no sign"),
        (TEXT, INTEGER, "3000000000", "32 bits"),
        (TEXT, DATE, "20240105", "YYYY-MM-DD"),
        (TEXT, DATETIME, "20240105T100000Z", "YYYY-MM-DDTHH:MM:SS"),
        (TEXT, BOOLEAN, "yes", "neither"),
        (TEXT, OBJECT, "[1]", "expected a JSON object"),
        (TEXT, OBJECT, "not json", "is not a JSON object"),
        (NUMBER, INTEGER, 1.5, "not an integer"),
        (DECIMAL, INTEGER, Decimal("1.5"), "not an integer"),
        (INTEGER, BOOLEAN, 2, "not true or false"),
        (DATETIME, DATE, dt.datetime(2024, 1, 5, 10, tzinfo=dt.UTC), "time of day"),
        (DATE, INTEGER, dt.date(2024, 1, 5), "cannot become an integer"),
        (ARRAY, NUMBER, ["1"], "cannot become a number"),
        (BOOLEAN, INTEGER, True, "cannot become an integer"),
    ],
)
def test_conversions_that_would_change_a_value_are_refused(
    old: Any, new: Any, value: Any, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        convert(old, new, value)


def round_trip(old: dict[str, Any], new: dict[str, Any], value: Any) -> None:
    """A value that converts comes back as itself when converted back."""
    try:
        there = convert(old, new, value)
    except ValueError:
        return
    assert exact_number(convert(new, old, there)) == exact_number(value)


@given(st.integers(-(2**63), 2**63 - 1))
def test_int64_to_number_and_back_is_exact_or_refused(value: int) -> None:
    round_trip(INT64, NUMBER, value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_to_decimal_and_back_is_exact_or_refused(value: float) -> None:
    round_trip(NUMBER, DECIMAL, value)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, max_value=10**20))
def test_decimal_to_number_and_back_is_exact_or_refused(value: Decimal) -> None:
    round_trip(DECIMAL, NUMBER, value)


@given(st.text(alphabet="0123456789-.,e+ ", max_size=12))
def test_text_to_a_number_reads_back_as_the_same_text_or_is_refused(value: str) -> None:
    for kind in (INTEGER, INT64, NUMBER, DECIMAL):
        try:
            there = convert(TEXT, kind, value)
        except ValueError:
            continue
        back = spell(there, prop(kind).storage)
        assert exact_number(back) == Decimal(value)
        # Stored text is trimmed; a double spells "1" as "1.0": the same value, another spelling.
        assert kind is NUMBER or back == value.strip()
