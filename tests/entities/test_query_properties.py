"""Property-based checks of ``RecordSession.query`` and ``aggregate`` against a Python model.

Hypothesis draws small record sets (text with case variants, unicode, ``%``/``_``/``\\``,
whitespace and nulls; integers; int64; decimals; floats; dates; date-times in
several offsets; booleans; enums) and random filters, orderings, page sizes and
groupings; the database must answer exactly what a few lines of Python compute
from CONTRACT §4:

- a filter keeps exactly the records the comparison semantics keep (``ne`` and
  ``notIn`` keep nulls, ``contains``/``startsWith`` ignore ASCII case only), in
  two-valued logic: a comparison with a null is false, so ``not`` is the complement;
- an ordering sorts text by code point, puts nulls last ascending and first
  descending, and breaks ties by id;
- walking pages with ``after`` cursors gives the whole ordering, once each;
- ``aggregate`` gives the count, sum, avg, min and max of every numeric field per group;
- decimals (CONTRACT §4: exact) compare, sort and group by value, to the last digit and
  whatever their spelling (``10.50`` is ``10.5``, ``1E+2`` is ``100``), on both engines.

The fixtures give one database per test, not per example, so every example
writes its rows with a fresh ``batch`` number and scopes every query to it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from xrm.entities.records import Page, Record, RecordService
from xrm.entities.registry import Registry
from xrm.platform.identity import Actor

ENTITY = "qprobe"
PROBE: dict[str, Any] = {
    "type": "object",
    "title": "Query probe",
    "x-xrm": {"name": ENTITY, "plural": "qprobes"},
    "properties": {
        "batch": {"type": "integer"},
        "label": {"type": "string"},
        "kind": {"type": "string", "enum": ["new", "busy", "Busy", "away"]},
        "qty": {"type": "integer"},
        "big": {"type": "integer", "format": "int64"},
        "price": {"type": "string", "format": "decimal"},
        "ratio": {"type": "number"},
        "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "flag": {"type": "boolean"},
    },
    "required": ["batch"],
}

TEXT_FIELDS = ("label", "kind")
ORDERED_FIELDS = ("qty", "big", "price", "ratio", "day", "at")
DATA_FIELDS = (*TEXT_FIELDS, *ORDERED_FIELDS, "flag")
NUMERIC_FIELDS = ("batch", "qty", "big", "price", "ratio")
ORDER_FIELDS = (*DATA_FIELDS, "created_at", "id")
GROUPS = (
    "label",
    "kind",
    "qty",
    "flag",
    "price",
    "day",
    "at",
    "day:week",
    "day:month",
    "day:year",
    "at:day",
    "at:month",
)
BASE_OPS = ("eq", "ne", "in", "notIn", "isNull")
ORDERED_OPS = ("lt", "lte", "gt", "gte", "between")
TEXT_OPS = ("contains", "startsWith")
OPS: dict[str, tuple[str, ...]] = {
    **{name: BASE_OPS + ORDERED_OPS + TEXT_OPS for name in TEXT_FIELDS},
    **{name: BASE_OPS + ORDERED_OPS for name in ORDERED_FIELDS},
    "flag": BASE_OPS,
    "id": ("eq", "ne", "in", "notIn"),
}
ABSENT_ID = "00000000-0000-7000-8000-000000000000"

# --- value strategies (Python values as the records hold them) -------------------------------

WORDS = [
    *("", " ", "a", "A", "aA", "Aa", "ab", "aB", "b", "B", "z", "Z", " a ", "a b"),
    *("_", "%", "\\", "a_b", "a%b", "a\\b", "%a", "_a"),
    *("é", "É", "éa", "Éa", "ß", "ẞ", "ı", "İ", "K", "k", "\u212a"),  # \u212a: Kelvin sign
    *("가", "가나", "中文", "Ω", "\uff61", "😀", "𝔸", "a😀", "\ufb01"),
]
ALPHABET = st.sampled_from([*"aAbBzZ_%\\", "é", "É", "가", "😀", "\uff61", "\u212a", " ", "\t"])
TEXTS = st.one_of(
    st.sampled_from(WORDS),
    st.text(ALPHABET, max_size=4),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=3),
)
ZONES = [
    dt.UTC,
    dt.timezone(dt.timedelta(hours=9)),
    dt.timezone(dt.timedelta(hours=-5, minutes=-30)),
]
DATES = st.one_of(
    st.sampled_from(
        [
            *(dt.date(2024, 1, 31), dt.date(2024, 2, 1), dt.date(2023, 12, 31)),
            *(dt.date(2024, 3, 4), dt.date(2024, 3, 10), dt.date(2024, 2, 29)),
            dt.date(1999, 12, 27),
        ]
    ),
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)),
)
DATETIMES = st.one_of(
    st.sampled_from(
        [
            dt.datetime(2024, 3, 4, 23, 30, tzinfo=dt.UTC),
            dt.datetime(2024, 3, 10, 0, 0, tzinfo=ZONES[1]),  # the 9th in UTC
            dt.datetime(2024, 3, 9, 18, 30, tzinfo=ZONES[2]),  # 10th 00:00 UTC
            dt.datetime(2024, 3, 10, 0, 0, tzinfo=dt.UTC),
        ]
    ),
    st.datetimes(
        dt.datetime(1970, 1, 2), dt.datetime(2100, 1, 1), timezones=st.sampled_from(ZONES)
    ),
)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "label": TEXTS,
    "kind": st.sampled_from(["new", "busy", "Busy", "away"]),
    "qty": st.one_of(st.integers(-3, 3), st.sampled_from([-(2**31), 2**31 - 1])),
    # int64 up to its ends: sums of a few leave int64, and stay exact
    "big": st.one_of(st.integers(-3, 3), st.sampled_from([-(2**63), 2**63 - 1, 2**59, 10**15 + 1])),
    # decimals with two places (one spelling per value; spellings have their own test)
    "price": st.one_of(st.integers(-300, 300), st.integers(-(10**11), 10**11)).map(
        lambda n: Decimal(n).scaleb(-2)
    ),
    "ratio": st.one_of(
        st.sampled_from([0.0, -0.0, 0.5, -1.5, 2.5, 1e-300, 1e300, 0.1 + 0.2]),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    ),
    "day": DATES,
    "at": DATETIMES,
    "flag": st.booleans(),
}
# Operands for the text operators: anything, not only what the records hold.
OPERAND_TEXTS = st.one_of(TEXTS, st.sampled_from(["new", "BUSY", "bus", "W", "ay"]))

Row = dict[str, Any]
ROWS = st.lists(
    st.fixed_dictionaries({}, optional={name: st.none() | VALUES[name] for name in DATA_FIELDS}),
    max_size=10,
)
TEXT_ROWS = st.lists(
    st.fixed_dictionaries(
        {"label": st.one_of(st.none(), TEXTS, TEXTS, TEXTS), "kind": st.none() | VALUES["kind"]}
    ),
    max_size=10,
)

# --- filters: a small tree, rendered to the filter dict and evaluated in Python --------------

Op = tuple[str, Any]


@dataclass(frozen=True)
class Cmp:
    field: str
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class Junction:
    kind: str  # "and" | "or"
    items: tuple[Node, ...]
    merged: bool = False  # an "and" written as one object with several keys


@dataclass(frozen=True)
class Not:
    item: Node


Node = Cmp | Junction | Not


def _text_operand(draw: st.DrawFn, name: str, rows: Sequence[Row]) -> str:
    """A piece of a stored text, often in another case or padded; or any text."""
    seen = [r[name] for r in rows if isinstance(r.get(name), str) and r[name].strip()]
    if not seen or draw(st.integers(0, 3)) == 0:
        return draw(OPERAND_TEXTS)
    text = draw(st.sampled_from(seen)).strip()
    piece = draw(st.sampled_from([text, text[:1], text[:2], text[1:], text[1:3], text[-1:]]))
    return draw(
        st.sampled_from([piece, piece.swapcase(), piece.upper(), piece.lower(), f" {piece}\t"])
    )


def _operand(draw: st.DrawFn, name: str, rows: Sequence[Row]) -> Any:
    if name == "id":
        return draw(st.integers(0, 12))  # an index into the batch's ids, resolved later
    if name in TEXT_FIELDS and draw(st.booleans()):
        return _text_operand(draw, name, rows)
    seen = [r[name] for r in rows if r.get(name) is not None]
    fresh = VALUES[name] if name != "kind" else st.one_of(VALUES[name], OPERAND_TEXTS)
    return draw(st.sampled_from(seen) | fresh if seen else fresh)


@st.composite
def comparisons(draw: st.DrawFn, rows: Sequence[Row], fields: Sequence[str]) -> Cmp:
    name = draw(st.sampled_from(fields))
    choices = OPS[name] + (TEXT_OPS * 3 if name in TEXT_FIELDS else ())  # LIKE: weighted up
    ops = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=2, unique=True))
    out: list[Op] = []
    for op in ops:
        if op == "isNull":
            out.append((op, draw(st.booleans())))
        elif op in ("in", "notIn"):
            count = draw(st.integers(0, 3))
            out.append((op, tuple(_operand(draw, name, rows) for _ in range(count))))
        elif op == "between":
            out.append((op, (_operand(draw, name, rows), _operand(draw, name, rows))))
        elif op in TEXT_OPS:
            out.append((op, _text_operand(draw, name, rows)))
        else:
            out.append((op, _operand(draw, name, rows)))
    return Cmp(name, tuple(out))


def filters(
    rows: Sequence[Row], fields: Sequence[str] = (*DATA_FIELDS, "id")
) -> st.SearchStrategy[Node]:
    def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        kids = st.lists(children, max_size=3).map(tuple)
        return st.one_of(
            st.builds(Junction, st.just("and"), kids, st.booleans()),
            st.builds(Junction, st.just("or"), kids),
            st.builds(Not, children),
        )

    return st.recursive(comparisons(rows, fields), extend, max_leaves=5)


def _wire(value: Any) -> Any:
    """A value as a GraphQL caller sends it (dates ISO 8601, decimals as strings)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def render(node: Node, ids: Sequence[str]) -> dict[str, Any]:
    """The filter object the API takes."""

    def operand(name: str, value: Any) -> Any:
        return _resolve_id(value, ids) if name == "id" else _wire(value)

    if isinstance(node, Cmp):
        spec: dict[str, Any] = {}
        for op, raw in node.ops:
            if op in ("in", "notIn", "between"):
                spec[op] = [operand(node.field, v) for v in raw]
            elif op in ("isNull", *TEXT_OPS):
                spec[op] = raw
            else:
                spec[op] = operand(node.field, raw)
        return {node.field: spec}
    if isinstance(node, Not):
        return {"not": render(node.item, ids)}
    parts = [render(item, ids) for item in node.items]
    keys = [k for part in parts for k in part]
    if node.kind == "and" and node.merged and parts and len(keys) == len(set(keys)):
        return {k: v for part in parts for k, v in part.items()}
    return {node.kind: parts}


def _resolve_id(index: int, ids: Sequence[str]) -> str:
    return ids[index] if index < len(ids) else ABSENT_ID


def ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _norm(name: str, raw: Any, ids: Sequence[str]) -> Any:
    """A filter operand as the database compares it (text is trimmed like stored text)."""
    if name == "id":
        return _resolve_id(raw, ids)
    if isinstance(raw, str):
        return raw.strip()
    return raw


def _compare(op: str, value: Any, raw: Any, name: str, ids: Sequence[str]) -> bool:
    """One comparison: with a null only ``isNull``, ``ne`` and ``notIn`` can hold."""
    if op == "isNull":
        return (value is None) is raw
    if op == "notIn":
        return value is None or value not in _all(name, raw, ids)
    if op == "ne":
        return value is None or value != _norm(name, raw, ids)
    if value is None:
        return False
    if op == "in":
        return value in _all(name, raw, ids)
    if op == "contains":
        return ascii_lower(raw) in ascii_lower(value)
    if op == "startsWith":
        return ascii_lower(value).startswith(ascii_lower(raw))
    if op == "between":
        low, high = _all(name, raw, ids)
        return bool(low <= value <= high)
    other = _norm(name, raw, ids)
    tests: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda a, b: a == b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
    }
    return tests[op](value, other)


def _all(name: str, raw: Sequence[Any], ids: Sequence[str]) -> list[Any]:
    return [_norm(name, v, ids) for v in raw]


def evaluate(node: Node, record: Record, ids: Sequence[str]) -> bool:
    """Whether ``record`` passes ``node``, in two-valued logic.

    A comparison with a null is plainly false (but ``ne``, ``notIn`` and
    ``isNull``), never SQL's unknown, so ``not`` keeps exactly what its filter
    drops: ``{not: {qty: {eq: 1}}}`` keeps the records without a ``qty``, as
    ``{qty: {ne: 1}}`` does.
    """
    if isinstance(node, Cmp):
        return all(_compare(op, record[node.field], raw, node.field, ids) for op, raw in node.ops)
    if isinstance(node, Not):
        return not evaluate(node.item, record, ids)
    values = [evaluate(item, record, ids) for item in node.items]
    return all(values) if node.kind == "and" else any(values)


# --- orderings --------------------------------------------------------------------------------


def model_order(records: Sequence[Record], order: Sequence[tuple[str, str]]) -> list[str]:
    """Ids sorted by ``order``: nulls last ascending, first descending, then by id.

    Ties go by id in the direction of the last field (an index then serves
    ``DESC`` orderings backwards without a sort).
    """
    last_descending = bool(order) and order[-1][1] == "DESC"
    out = sorted(records, key=lambda r: r["id"], reverse=last_descending)
    for name, direction in reversed(order):
        out.sort(key=lambda r: (r[name] is None, r[name]), reverse=direction == "DESC")
    return [r["id"] for r in out]


ORDERS = st.lists(
    st.tuples(st.sampled_from(ORDER_FIELDS), st.sampled_from(["ASC", "DESC"])),
    min_size=1,
    max_size=3,
    unique_by=lambda item: item[0],
)

# --- the database side -------------------------------------------------------------------------


@dataclass
class Probe:
    """The probe type's records, one batch per example."""

    service: RecordService
    admin: Actor
    batches: Any = field(default_factory=lambda: itertools.count(1))

    def insert(self, rows: Sequence[Row]) -> tuple[int, list[Record]]:
        batch = next(self.batches)
        values = [{"batch": batch, **{k: _wire(v) for k, v in row.items()}} for row in rows]
        with self.service.session(self.admin) as s:
            created = s.create_many(ENTITY, values) if values else []
        for record in created:
            for name in DATA_FIELDS:
                record.setdefault(name, None)
        return batch, created

    def query(
        self,
        batch: int,
        spec: Mapping[str, Any] | None = None,
        order: Sequence[tuple[str, str]] = (("id", "ASC"),),
        first: int = 500,
        after: str | None = None,
    ) -> Page:
        scoped: dict[str, Any] = {"batch": {"eq": batch}}
        if spec is not None:
            scoped["and"] = [spec]
        with self.service.session(self.admin, write=False) as s:
            page = s.query(
                ENTITY,
                filter=scoped,
                order_by=[{name: direction} for name, direction in order],
                first=first,
                after=after,
            )
            return page

    def ids(self, batch: int, spec: Mapping[str, Any] | None = None, **kw: Any) -> list[str]:
        return [r["id"] for r in self.query(batch, spec, **kw).items]

    def aggregate(
        self, batch: int, spec: Mapping[str, Any] | None, group_by: Sequence[str]
    ) -> list[dict[str, Any]]:
        scoped: dict[str, Any] = {"batch": {"eq": batch}}
        if spec is not None:
            scoped["and"] = [spec]
        with self.service.session(self.admin, write=False) as s:
            return s.aggregate(ENTITY, filter=scoped, group_by=list(group_by))


@pytest.fixture
def probe(registry: Registry, service: RecordService, admin: Actor) -> Probe:
    registry.apply([PROBE])
    return Probe(service, admin)


# The counts keep the file near 15 s per engine on two cores; QP_SCALE=30 searches 30 times
# harder (a few minutes), which is worth doing after a change to query.py.
SCALE = int(os.environ.get("QP_SCALE", "1"))


def examples(count: int) -> Any:
    """``count`` examples (times QP_SCALE), no deadline (the database sets the pace)."""
    return settings(
        max_examples=count * SCALE,
        deadline=None,
        # One database per test, not per example: every example scopes itself to a batch.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@st.composite
def filtered(
    draw: st.DrawFn,
    fields: Sequence[str] = (*DATA_FIELDS, "id"),
    records: st.SearchStrategy[list[Row]] = ROWS,
) -> tuple[list[Row], Node]:
    rows = draw(records)
    return rows, draw(filters(rows, fields=fields))


@st.composite
def maybe_filtered(draw: st.DrawFn) -> tuple[list[Row], Node | None]:
    """Records and, half the time, a filter."""
    rows = draw(ROWS)
    return rows, draw(st.none() | filters(rows))


# --- properties --------------------------------------------------------------------------------


def check_filter(probe: Probe, rows: Sequence[Row], node: Node) -> None:
    """The filter keeps exactly the records the model keeps, in id order, and counts them."""
    batch, records = probe.insert(rows)
    ids = [r["id"] for r in records]
    spec = render(node, ids)
    got = probe.ids(batch, spec)
    assert got == sorted(r["id"] for r in records if evaluate(node, r, ids)), spec
    page = probe.query(batch, spec, first=0)
    assert page.total_count == len(got)


@examples(150)
@given(case=filtered())
@example(  # `not` over a comparison with a null keeps the record (found: SQL's unknown)
    case=(
        [{"qty": None, "label": "b"}, {"qty": 1}, {"qty": 2, "label": "A"}],
        Not(Junction("or", (Cmp("qty", (("lte", 1),)), Cmp("label", (("contains", "a"),))))),
    )
)
def test_filters_keep_what_the_python_model_keeps(
    probe: Probe, case: tuple[list[Row], Node]
) -> None:
    check_filter(probe, *case)


# A-Z fold and nothing else does; % _ \\ are literal in patterns; eq trims like stored text.
LABELS = [
    {"label": v} for v in ["a", "A", "é", "É", "ß", "ẞ", "ﬁ", "a%b", "a_b", "a\\b", "aXb", None]
]
TEXT_EXAMPLES: list[Node] = [
    Cmp("label", ((op, operand),))
    for op, operand in [
        ("contains", "A"),
        ("startsWith", "é"),
        ("startsWith", "É"),
        ("contains", "ß"),
        ("contains", "ẞ"),
        ("contains", "FI"),
        ("contains", "%"),
        ("contains", "_b"),
        ("startsWith", "A\\"),
        ("eq", " ẞ\t"),
        ("in", (" a", "b ")),
        ("gt", "Z"),
    ]
]


def with_text_examples(test: Callable[..., None]) -> Callable[..., None]:
    for node in TEXT_EXAMPLES:
        test = example(case=(LABELS, node))(test)
    return test


@examples(120)
@given(case=filtered(fields=TEXT_FIELDS, records=TEXT_ROWS))
@with_text_examples
def test_text_filters_keep_what_the_python_model_keeps(
    probe: Probe, case: tuple[list[Row], Node]
) -> None:
    """Code-point comparisons, exact ``eq``, ``contains``/``startsWith`` folding A-Z only."""
    check_filter(probe, *case)


@examples(100)
@given(case=filtered())
@example(case=([{"qty": None}, {"qty": 1}], Cmp("qty", (("eq", 1),))))  # found: SQL's NOT
@example(
    case=(
        [{"day": None}, {"day": dt.date(2024, 2, 29)}, {"day": dt.date(2025, 1, 1)}],
        Junction(
            "and", (Cmp("day", (("between", (dt.date(2024, 1, 1), dt.date(2024, 12, 31))),)),)
        ),
    )
)
def test_not_is_the_complement_of_its_filter(probe: Probe, case: tuple[list[Row], Node]) -> None:
    """``F`` and ``{not: F}`` split the records in two, as ``eq`` and ``ne`` do."""
    rows, node = case
    batch, records = probe.insert(rows)
    ids = [r["id"] for r in records]
    spec = render(node, ids)
    kept = set(probe.ids(batch, spec))
    dropped = set(probe.ids(batch, {"not": spec}))
    assert (kept & dropped, kept | dropped) == (set(), set(ids)), {"not": spec}


@examples(120)
@given(
    rows=ROWS,
    order=ORDERS,
    size=st.integers(1, 4),
    node=st.none() | st.deferred(lambda: filters([])),
)
@example(  # code points, not UTF-16 units nor a locale; nulls last; ties by id
    rows=[{"label": v} for v in ["\uff61", "😀", "b", "B", "é", "É", None, "a", None, "😀"]],
    order=[("label", "ASC")],
    size=2,
    node=None,
)
@example(
    rows=[{"qty": q, "flag": f} for q, f in [(1, True), (None, False), (1, None), (2, True)] * 2],
    order=[("qty", "DESC"), ("flag", "ASC")],
    size=3,
    node=None,
)
def test_orderings_and_keyset_pages_match_the_python_model(
    probe: Probe,
    rows: list[Row],
    order: list[tuple[str, str]],
    size: int,
    node: Node | None,
) -> None:
    """The order is the model's; pages of ``size`` walked with ``after`` give it exactly once."""
    batch, records = probe.insert(rows)
    ids = [r["id"] for r in records]
    spec = None if node is None else render(node, ids)
    kept = [r for r in records if node is None or evaluate(node, r, ids)]
    whole = probe.ids(batch, spec, order=order)
    assert whole == model_order(kept, order), (order, spec)
    walked: list[str] = []
    after = None
    while True:
        page = probe.query(batch, spec, order=order, first=size, after=after)
        assert page.total_count == len(whole)
        walked.extend(r["id"] for r in page.items)
        assert page.has_next_page is (len(walked) < len(whole)), (order, walked)
        if not page.has_next_page:
            break
        after = page.end_cursor
        assert len(walked) <= len(whole)
    assert walked == whole, order


def _group_key(record: Record, spec: str) -> Any:
    name, _, unit = spec.partition(":")
    value = record[name]
    if value is None:
        return None
    if unit:
        day = value.astimezone(dt.UTC).date() if isinstance(value, dt.datetime) else value
        day = {
            "day": day,
            "week": day - dt.timedelta(days=day.weekday()),
            "month": day.replace(day=1),
            "year": day.replace(month=1, day=1),
        }[unit]
        return day.isoformat()
    return _wire(value)


def _close(got: Any, want: Any, scale: float) -> bool:
    """Equal up to float rounding: ``scale`` is the sum of the magnitudes involved."""
    if want is None or got is None:
        return got is want
    return bool(got == pytest.approx(want, rel=1e-9, abs=1e-12 * scale + 1e-12))


@examples(120)
@given(
    case=maybe_filtered(),
    group_by=st.lists(st.sampled_from(GROUPS), max_size=2, unique_by=lambda g: g.split(":")[0]),
)
@example(  # weeks start on Monday; a date-time buckets by its UTC date
    case=(
        [
            {
                "day": dt.date(2024, 3, d),
                "at": dt.datetime(2024, 3, d, 20, tzinfo=dt.UTC).astimezone(ZONES[1]),
            }
            for d in (3, 4, 9, 10, 11)
        ],
        None,
    ),
    group_by=["day:week", "at:day"],
)
@example(  # found: PostgreSQL's avg of floats overflowed (it also sums the squares)
    case=([{"ratio": 1e300}, {"ratio": 0.0}, {"ratio": -1e300}, {"ratio": 1e300}], None),
    group_by=[],
)
def test_aggregates_match_the_python_model(
    probe: Probe, case: tuple[list[Row], Node | None], group_by: list[str]
) -> None:
    rows, node = case
    batch, records = probe.insert(rows)
    ids = [r["id"] for r in records]
    spec = None if node is None else render(node, ids)
    groups: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
    for r in records:
        if node is None or evaluate(node, r, ids):
            groups[tuple(_group_key(r, g) for g in group_by)].append(r)
    if not group_by:
        groups.setdefault((), [])  # one row even when nothing matches
    got = {
        tuple(g["group"][name] for name in group_by): g
        for g in probe.aggregate(batch, spec, group_by)
    }
    assert set(got) == set(groups), (group_by, spec)
    for key, members in groups.items():
        result = got[key]
        assert result["count"] == len(members), key
        for name in NUMERIC_FIELDS:
            values = [r[name] for r in members if r[name] is not None]
            exact = name in ("batch", "qty", "big", "price")
            want = {
                "sum": sum(values) if values else None,
                "min": min(values) if values else None,
                "max": max(values) if values else None,
                "avg": _average(values) if values else None,
            }
            for measure, expected in want.items():
                value = result[measure][name]
                if exact:  # integers, and decimals to the last digit (avg: its rule)
                    assert value == expected and type(value) is type(expected), (measure, name)
                else:
                    expected = None if expected is None else float(expected)
                    scale = float(sum(abs(v) for v in values))
                    assert _close(value, expected, scale), (measure, name, value, expected)


def _average(values: Sequence[Any]) -> Any:
    """The model's average: the nearest float for integers; for decimals the exact quotient
    rounded half to even at 28 places (CONTRACT §4), computed in a wide decimal context."""
    if isinstance(values[0], Decimal):
        with localcontext(Context(prec=200)):
            quotient = sum(values) / len(values)
            return quotient.quantize(Decimal("1E-28"), rounding=ROUND_HALF_EVEN).normalize()
    if isinstance(values[0], int):
        return sum(values) / len(values)
    return float(sum(values)) / len(values)


# --- decimals: exact, whatever their spelling ------------------------------------------------

SPELLINGS: list[Callable[[Decimal], str]] = [
    str,
    lambda d: str(d.normalize()),  # 10.5, 1E+2
    lambda d: f"{d:.4f}",  # 10.5000
    lambda d: f"{d:E}",  # 1.050E+1
]
RESPELT = st.tuples(
    st.integers(-2000, 2000).map(lambda n: Decimal(n).scaleb(-2)), st.sampled_from(SPELLINGS)
).map(lambda pair: pair[1](pair[0]))


@examples(60)
@given(values=st.lists(RESPELT, min_size=1, max_size=5))
@example(values=["10.50", "10.5"])  # found: in/notIn/groupBy compared the text on SQLite
@example(values=["1E+2", "100", "100.0000", "-0.00", "0", "0E-7", "1.5E-7", "0.00000015"])
def test_decimal_in_notin_and_groups_go_by_value_not_spelling(
    probe: Probe, values: list[str]
) -> None:
    """``in`` agrees with ``eq``, ``notIn`` with ``ne``, and a group is one number."""
    batch, _ = probe.insert([{"price": Decimal(v)} for v in values])
    for v in values:
        assert probe.ids(batch, {"price": {"in": [v]}}) == probe.ids(batch, {"price": {"eq": v}}), v
        assert probe.ids(batch, {"price": {"notIn": [v]}}) == probe.ids(
            batch, {"price": {"ne": v}}
        ), v
    groups = probe.aggregate(batch, None, ["price"])
    counts = sorted(g["count"] for g in groups)
    by_value: dict[Decimal, int] = defaultdict(int)
    for v in values:
        by_value[Decimal(v)] += 1
    assert counts == sorted(by_value.values()), groups


PRECISE = st.one_of(
    st.builds(
        lambda sign, tenths, tiny: sign * (Decimal(tenths) / 10 + Decimal(tiny).scaleb(-19)),
        st.sampled_from([1, -1]),
        st.integers(0, 2),
        st.integers(0, 3),
    ),
    st.sampled_from([Decimal("1E-7"), Decimal("-1.5E-7"), Decimal("1E+2"), Decimal("-0")]),
)


@examples(60)
@given(values=st.lists(PRECISE, min_size=1, max_size=5))
@example(values=[Decimal("0.1000000000000000001"), Decimal("0.1")])  # found: floats on SQLite
@example(
    values=[
        *(Decimal("-0.1"), Decimal("-0.1000000000000000001"), Decimal("-0.2")),
        *(Decimal("1E-7"), Decimal("-1.5E-7"), Decimal("0"), Decimal("-0")),
    ]
)
def test_decimals_compare_and_sort_exactly(probe: Probe, values: list[Decimal]) -> None:
    """Decimals are exact: 0.1 and 0.1000000000000000001 are two values, in that order."""
    batch, records = probe.insert([{"price": v} for v in values])
    for direction in ("ASC", "DESC"):
        order = [("price", direction)]
        assert probe.ids(batch, order=order) == model_order(records, order), direction
    for v in values:
        for op, test in (("gt", Decimal.__gt__), ("eq", Decimal.__eq__)):
            expected = [r["id"] for r in records if test(r["price"], v)]
            assert probe.ids(batch, {"price": {op: str(v)}}) == expected, (op, v)
