"""Hostile values through the GraphQL API, against a model of what must happen to each.

Hypothesis sends records and filters with values from the edges of every
kind: date-times at the ends of the range with any offset, decimals of any
size and spelling (NaN, Infinity, exponents), 64-bit integers and beyond,
text and lists and JSON with NUL characters, blank strings. The model says,
for each value on its own, what must happen (a few lines of Python that do
not call xrm): stored as a given value and read back equal, or refused.
A record is created when no value is refused, and then every value reads
back as the model stored it and is found by an ``eq`` filter spelled as it
was sent; otherwise the answer is ``VALIDATION_FAILED`` naming exactly the
refused fields. Never an internal error, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_graphql import Api
from test_values import LINKS, OWN, PROBE

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin
from xrm.platform.settings import Settings

BAD = object()  # the model's verdict: this value is refused
NUL = "\x00"
SPAN = dt.datetime.max - dt.datetime.min  # what Python (and so xrm) holds, in UTC


@pytest.fixture
def api(settings: Settings, registry: Registry, db: Database) -> Iterator[Api]:
    registry.apply([*definitions(), PROBE, LINKS, OWN])
    with db.write() as conn:
        token = create_token(conn, first_admin(conn))
    with TestClient(create_app(settings)) as client:
        yield Api(client, token)


# --- the model: what each value must become -----------------------------------------------------


def text_model(value: str) -> Any:
    if NUL in value:
        return BAD
    return value.strip() or None  # blank text is the same as no value


def decimal_model(value: Any) -> Any:
    if isinstance(value, str):
        if NUL in value:
            return BAD
        value = value.strip()
        if not value:
            return None
    elif isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(value)
    except InvalidOperation:
        return BAD
    if not number.is_finite():
        return BAD
    plain = format(number.copy_abs(), "f")  # abs() would round to the context's 28 digits
    whole, _, fraction = plain.partition(".")
    if len(whole.lstrip("0")) + len(fraction) > 28:
        return BAD
    return format(number.copy_abs() if number.is_zero() else number, "f")


def datetime_model(value: str) -> Any:
    if NUL in value:
        return BAD
    if not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return BAD
    offset = parsed.utcoffset() or dt.timedelta(0)
    since = parsed.replace(tzinfo=None) - dt.datetime.min - offset  # no overflow: a timedelta
    if not dt.timedelta(0) <= since <= SPAN:
        return BAD
    return (dt.datetime.min + since).replace(tzinfo=dt.UTC).isoformat()


def int64_model(value: Any) -> Any:
    if isinstance(value, float):
        if not value.is_integer():
            return BAD
        value = int(value)
    if isinstance(value, str):
        if NUL in value:
            return BAD
        if not value.strip():
            return None
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return BAD
        if not number.is_finite() or number != number.to_integral_value():
            return BAD
        value = int(number)
    return str(value) if -(2**63) <= value < 2**63 else BAD


def tags_model(value: list[str]) -> Any:
    return BAD if any(NUL in v for v in value) else [v.strip() for v in value]


def json_model(value: Any) -> Any:
    def clean(item: Any) -> bool:
        if isinstance(item, str):
            return NUL not in item
        if isinstance(item, list):
            return all(clean(i) for i in item)
        if isinstance(item, dict):
            return all(NUL not in k and clean(v) for k, v in item.items())
        return True

    return value if clean(value) else BAD


# --- hostile values ----------------------------------------------------------------------------

TEXT = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=6),
    st.sampled_from(["", " ", "\t", NUL, f"a{NUL}", " a ", "%", "_", "\\"]),
)
DECIMAL_SPELLINGS = st.one_of(
    st.builds(
        lambda digits, exponent, negative, spell: spell(
            Decimal((int(negative), tuple(int(c) for c in str(digits)), exponent))
        ),
        st.integers(0, 10**32),
        st.integers(-34, 6),
        st.booleans(),
        st.sampled_from([str, lambda d: format(d, "f"), lambda d: f"{d:E}"]),
    ),
    st.sampled_from(
        [
            *("NaN", "-NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "-inf", "1e309"),
            *("", " ", NUL, "1.5x", "--1", "0E+5", "-0.00", " 7 ", "9" * 28, "9" * 29),
        ]
    ),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(10**30), 10**30),
)
OFFSETS = st.one_of(
    st.none(),
    st.just(dt.UTC),
    st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: dt.timezone(dt.timedelta(minutes=m))),
)
DATETIMES = st.one_of(
    st.builds(
        lambda moment, zone: moment.replace(tzinfo=zone).isoformat(),
        st.one_of(
            st.datetimes(),
            st.sampled_from([dt.datetime.min, dt.datetime.max, dt.datetime(1, 1, 1, 13, 59)]),
        ),
        OFFSETS,
    ),
    st.sampled_from(
        [
            *("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "9999-12-31T23:59:59Z"),
            *("", " ", NUL, "2024-02-30T00:00:00", "2024-01-01T00:00:00+24:00", "yesterday"),
        ]
    ),
)
INT64S = st.one_of(
    st.integers(-(2**64), 2**64),
    st.sampled_from([2**63 - 1, -(2**63), 2**63, -(2**63) - 1]),
    st.sampled_from(["9223372036854775807", "9223372036854775808", " 12 ", "1e3", "1.5", ""]),
    st.floats(-1e20, 1e20, allow_nan=False),
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
FIELDS: dict[str, tuple[st.SearchStrategy[Any], Any, str]] = {
    "label": (TEXT, text_model, "String"),
    "amount": (DECIMAL_SPELLINGS, decimal_model, "Decimal"),
    "at": (DATETIMES, datetime_model, "DateTime"),
    "big": (INT64S, int64_model, "BigInt"),
    "tags": (st.lists(TEXT, max_size=3), tags_model, ""),
    "extra": (JSON.filter(lambda v: isinstance(v, dict)), json_model, ""),
}
RECORDS = st.fixed_dictionaries({}, optional={k: v[0] for k, v in FIELDS.items()})
CODES = itertools.count()


@dataclass
class Outcome:
    stored: dict[str, Any]  # the model's value of each field sent
    refused: set[str]


def model(values: dict[str, Any]) -> Outcome:
    stored = {name: FIELDS[name][1](value) for name, value in values.items()}
    return Outcome(stored, {name for name, v in stored.items() if v is BAD})


def _same(field: str, got: Any, want: Any) -> bool:
    if field == "at" and got is not None and want is not None:
        return dt.datetime.fromisoformat(got) == dt.datetime.fromisoformat(want)
    return bool(got == want)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=RECORDS)
@example(values={"at": "0001-01-01T00:00:00+14:00", "amount": "1e309", "label": NUL})
@example(values={"at": "0001-01-01T00:00:00-14:00", "amount": "0.0000000001", "big": 2**63 - 1})
@example(values={"tags": ["a", "b\x00"], "extra": {"k\x00": 1}, "big": "1e3"})
@example(values={"amount": "0E-29"})  # a zero spelled with 29 places is too many digits
def test_a_value_is_stored_exactly_or_refused_naming_its_field(
    api: Api, values: dict[str, Any]
) -> None:
    code = f"v{next(CODES)}"
    outcome = model(values)
    body = api.raw(
        "mutation($input: VprobeInput!) { createVprobe(input: $input) { id } }",
        {"input": {"code": code, **values}},
    )
    if outcome.refused:
        [error] = body["errors"]
        assert error["extensions"]["code"] == "VALIDATION_FAILED", error
        assert {e["field"] for e in error["extensions"]["errors"]} == outcome.refused, error
        return
    assert "errors" not in body, (values, body)
    made = body["data"]["createVprobe"]["id"]
    read = api(
        "query($id: ID!) { vprobe(id: $id) { label amount at big tags extra } }", {"id": made}
    )["vprobe"]
    for field, want in outcome.stored.items():
        assert _same(field, read[field], want), (field, values[field], read[field], want)
    for field, value in values.items():
        graphql_type = FIELDS[field][2]
        if not graphql_type or outcome.stored[field] is None:
            continue
        found = api(
            f"query($v: {graphql_type}, $c: String) "
            f"{{ vprobes(filter: {{{field}: {{eq: $v}}, code: {{eq: $c}}}}) {{ totalCount }} }}",
            {"v": value, "c": code},
        )
        assert found["vprobes"]["totalCount"] == 1, (field, value)


OPS = {
    "label": ("eq", "ne", "gt", "contains", "startsWith", "in"),
    "amount": ("eq", "lt", "gte", "in", "between"),
    "at": ("eq", "gt", "lte", "notIn", "between"),
    "big": ("eq", "ne", "gt", "in"),
}


@st.composite
def comparisons(draw: st.DrawFn) -> tuple[str, str, Any, bool]:
    """A field, a comparison, its operand, and whether the model refuses the operand."""
    field = draw(st.sampled_from(sorted(OPS)))
    op = draw(st.sampled_from(OPS[field]))
    strategy, rule, _ = FIELDS[field]
    count = {"in": draw(st.integers(1, 3)), "notIn": 2, "between": 2}.get(op)
    operands = [draw(strategy) for _ in range(count or 1)]
    verdicts = [rule(v) for v in operands]
    # Text operands are compared as given (trimmed), blank too; only NUL is refused. Other
    # kinds need a value: a blank operand is none (isNull is how to ask for null).
    blank_refused = field != "label"
    refused = any(v is BAD or (v is None and blank_refused) for v in verdicts)
    return field, op, operands if count else operands[0], refused


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=comparisons(), nested=st.booleans(), aggregate=st.booleans())
@example(case=("label", "contains", NUL, True), nested=False, aggregate=False)
@example(case=("at", "gt", "9999-12-31T23:59:59-12:00", True), nested=True, aggregate=False)
@example(case=("amount", "lt", "1e309", True), nested=False, aggregate=True)
@example(
    case=("amount", "eq", "1000000000000000000000000000.0", True), nested=False, aggregate=False
)
def test_a_filter_answers_or_is_refused_naming_its_path(
    api: Api, case: tuple[str, str, Any, bool], nested: bool, aggregate: bool
) -> None:
    field, op, operand, refused = case
    api("mutation($c: String) { createVprobe(input: {code: $c}) { id } }", {"c": f"f{next(CODES)}"})
    spec = {field: {op: operand}}
    if aggregate:
        query = "query($f: VprobeFilter) { vprobesAggregate(filter: $f) { count } }"
    elif nested:
        query = (
            "query($f: VprobeFilter) { vprobes { nodes { children(filter: $f) { totalCount } } } }"
        )
    else:
        query = "query($f: VprobeFilter) { vprobes(filter: $f) { totalCount } }"
    body = api.raw(query, {"f": spec})
    if not refused:
        assert "errors" not in body, (spec, body)
        return
    [error] = body["errors"]
    assert error["extensions"]["code"] == "VALIDATION_FAILED", (spec, error)
    assert [e["field"] for e in error["extensions"]["errors"]] == [f"filter.{field}.{op}"]
