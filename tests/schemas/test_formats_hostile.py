"""The format normalisers against hostile input: a value error naming the problem, or a
stored value that normalises to itself; never another exception.

The API, imports, admin forms and scripts all pass values through these, so
whatever they raise besides ``ValueError`` would be an internal error on
every path at once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from xrm.schemas import formats
from xrm.schemas.model import Property
from xrm.schemas.validate import compile_property

NUL = "\x00"


def test_a_date_time_whose_utc_time_leaves_years_1_to_9999_is_a_value_error() -> None:
    for raw in (
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-12:00",
        "0001-01-01T00:00:00+00:01",
    ):
        with pytest.raises(ValueError, match="years 1 to 9999"):
            formats.datetime(raw)
    aware = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with pytest.raises(ValueError, match="years 1 to 9999"):
        formats.datetime(aware)  # a script's datetime object, too
    assert formats.datetime("0001-01-01T00:00:00-14:00") == dt.datetime(1, 1, 1, 14, tzinfo=dt.UTC)


def test_nul_is_refused_in_every_text_format() -> None:
    for kind in ("string", "email", "uri", "phone", "uuid", "date", "datetime", "decimal"):
        normalise = compile_property(Property("x", kind, {}))
        with pytest.raises(ValueError):
            normalise(f"a{NUL}")
    with pytest.raises(ValueError, match="NUL"):
        formats.text(f"ok{NUL}")
    tags = compile_property(
        Property("tags", "array", {"type": "array", "items": {"type": "string"}})
    )
    with pytest.raises(ValueError, match="item 1"):
        tags(["a", NUL])


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("0.0000000001", "0.0000000001"),
        ("1E-10", "0.0000000001"),
        ("1E+2", "100"),
        ("-0.00", "0.00"),
        ("0E+5", "0"),
        ("9999999999999999999999999999", "9999999999999999999999999999"),
        ("0.0000000000000000000000000001", "0.0000000000000000000000000001"),
        ("12345678901234567890.12345678", "12345678901234567890.12345678"),
        (1e-7, "0.0000001"),
    ],
)
def test_a_decimal_keeps_its_digits_in_plain_notation(raw: Any, stored: str) -> None:
    value = formats.decimal(raw)
    assert formats.decimal_text(value) == stored == formats.json_value(value)
    assert formats.decimal(formats.decimal_text(value)) == value


@pytest.mark.parametrize(
    "raw",
    ["1e309", "1E+28", "12345678901234567890.123456789", "1E-29", 1e300, 10**28, "x" * 10**5],
)
def test_a_decimal_beyond_28_digits_is_a_value_error(raw: Any) -> None:
    with pytest.raises(ValueError) as caught:
        formats.decimal(raw)
    assert len(str(caught.value)) < 200  # a hostile value is not echoed whole


@pytest.mark.parametrize(
    "raw", ["NaN", "-nan", "sNaN", "Infinity", "-Infinity", "inf", float("nan")]
)
def test_nan_and_infinity_spellings_are_refused(raw: Any) -> None:
    with pytest.raises(ValueError, match="finite"):
        formats.decimal(raw)


def test_a_phone_number_its_region_does_not_allocate_is_refused() -> None:
    for raw in ("12345", "010-5970-1234", "+1 555 555 5555"):
        with pytest.raises(ValueError, match="not a valid phone number"):
            formats.phone(raw)
    assert formats.phone("02-555-1234") == "+8225551234"


def test_json_values_must_be_storable_by_both_databases() -> None:
    for bad, words in [
        ({"k": NUL}, "k: must not contain NUL"),
        ({NUL: 1}, "NUL"),
        ({"a": [1, {"b": float("nan")}]}, "a[1].b: JSON holds finite numbers only"),
        ({"a": float("inf")}, "finite"),
        ({"a": object()}, "not a JSON value"),
        ({1: "x"}, "keys are text"),
    ]:
        with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
            formats.json_data(bad)
    deep: Any = 1
    for _ in range(formats.JSON_DEPTH):
        deep = [deep]
    formats.json_data(deep)
    with pytest.raises(ValueError, match="nested"):
        formats.json_data({"x": deep})
    very: Any = {}
    for _ in range(100_000):  # no recursion: a deep value cannot overflow the check itself
        very = {"d": very}
    with pytest.raises(ValueError, match="nested"):
        formats.json_data(very)


HOSTILE_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", NUL, "NaN", "-Infinity", "1e309", "0001-01-01T00:00:00+14:00"]),
)
VALUES = st.one_of(
    HOSTILE_TEXT,
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.booleans(),
    st.none(),
    st.lists(HOSTILE_TEXT, max_size=3),
    st.dictionaries(HOSTILE_TEXT, HOSTILE_TEXT, max_size=3),
    st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-12))])),
)
KINDS = ["string", "email", "uri", "phone", "uuid", "date", "datetime", "decimal"]
KINDS += ["integer", "int64", "number", "boolean", "object"]


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(KINDS), value=VALUES)
@example(kind="datetime", value="9999-12-31T23:59:59-12:00")
@example(kind="decimal", value="1e309")
@example(kind="object", value={"a": NUL})
def test_a_normaliser_answers_a_value_error_or_a_value_that_normalises_to_itself(
    kind: str, value: Any
) -> None:
    normalise = compile_property(Property("x", kind, {}))
    try:
        stored = normalise(value)
    except ValueError:
        return
    if kind == "object":
        assert stored == value
        return
    again = normalise(formats.json_value(stored) if isinstance(stored, Decimal) else stored)
    assert again == stored
    if isinstance(stored, str):
        assert NUL not in stored
    if isinstance(stored, Decimal):
        assert "E" not in formats.decimal_text(stored) and stored.is_finite()
