"""Compile a whole read into one SQL statement that returns its answer as JSON.

Loading a nested list level by level (``RecordSession.children``) costs a
statement per relation and level, and then Python work for every column of
every row. The database can build the answer itself, as PostGraphile does:
each record becomes ``json_build_object(...)`` (SQLite: ``json_object``),
each page of related records a ``json_agg`` (``json_group_array``) over a
correlated subquery, and the whole selection one statement whose single
value is the response text. ``_PostgreSQL`` and ``_SQLite`` hold what
differs between the two: the JSON functions, and how each spells what it
stores.

The caller describes what it wants as a *shape*, a small tree of parts
(``Obj``, ``Value``, ``Related``, ``Many``...) in record-service terms: field
names as definitions spell them, no GraphQL. The semantics are those of the
record service, built from the same pieces: filters, orderings and tie
breaks come from ``Compiler.where``/``ordering``/``order_clauses``, the rows
a caller may read from ``RecordSession.rows`` at every level, page sizes from
the same limits. Values are spelled as ``json_value`` spells them (ids and
text as strings, decimals in plain notation as ``decimal_text`` does, ISO dates and UTC
date-times as ``isoformat`` does, floats as floats), big integers optionally
as text.

What the statement cannot decide up front it flags: a null in a field the
caller declared required, or a float that is not finite, becomes a sentinel
string; ``JsonQuery.run`` raises ``Unsupported`` when the answer holds one,
and so does anything the compiler does not cover (hidden fields, unknown
parts). The caller then answers the ordinary way; no answer is ever changed.
Stored text could spell the sentinel too; that only costs the ordinary way.

What the statement costs was measured on the nested-list anchor (3 → 59 →
412 records), in backend CPU per execution: ordering inside ``json_agg``
sorted every page a second time (0.4 ms of 1.9), and a ``CASE`` around every
required value cost 0.15 ms where ``coalesce`` on a text column costs almost
nothing. Pages are therefore aggregated in the order their subquery delivers
them, which is the page's order: the subquery has a LIMIT, so neither
database pulls it up into the aggregate's query, and a plain aggregate
reads its input in order (PostGraphile builds its answers the same way).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.sql import ColumnElement

from xrm.entities.query import SYSTEM_FIELDS
from xrm.entities.records import RecordSession, page_size
from xrm.schemas.formats import uuid_text
from xrm.schemas.model import Relationship

# A string that stands for "answer this request the ordinary way": U+0001 then a name,
# spelled in the answer as JSON spells it. Both spellings below produce the same bytes.
_SENTINEL_TEXT = "\x01xrm:unsupported"
SENTINEL = '"\\u0001xrm:unsupported"'  # as a JSON value
_SENTINEL_BYTES = SENTINEL[1:-1].encode()
_MAX_PAIRS = 50  # json_build_object takes at most 100 arguments
_USER_COLUMNS = {"created_by": "created_by", "updated_by": "updated_by", "owner": "owner_id"}
_TEXT_KINDS = frozenset({"string", "email", "uri", "phone", "uuid", "enum", "ref"})


class Unsupported(Exception):
    """This read cannot be answered by one statement; load it the ordinary way."""


# --- shapes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    """A constant JSON string (or null)."""

    value: str | None


@dataclass(frozen=True, slots=True)
class Value:
    """A field of the current record (``id``, ``created_at``, a property; a reference's id).

    ``as_text`` spells a number as a string (64-bit integers); ``required``
    flags a null, which the caller cannot show.
    """

    name: str
    as_text: bool = False
    required: bool = False


@dataclass(frozen=True, slots=True)
class Obj:
    """A JSON object: each key with its part, in this order."""

    fields: tuple[tuple[str, Part], ...]


@dataclass(frozen=True, slots=True)
class Related:
    """The record a reference (or ``created_by``/``updated_by``/``owner``) points at, or null."""

    name: str
    shape: Obj


@dataclass(frozen=True, slots=True)
class Items:
    """Inside a page's shape: the list of its records, each as ``item``."""

    item: Part


@dataclass(frozen=True, slots=True)
class HasNext:
    """Inside a page's shape: whether records follow the page."""


@dataclass(frozen=True, slots=True)
class Total:
    """Inside a page's shape: how many records match in all."""


@dataclass(frozen=True, slots=True)
class Attributes:
    """Inside an item: the many-to-many link's own values, keys spelled by ``spell``; else null."""

    spell: Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Many:
    """A page of the to-many field ``name`` (inverse or many-to-many) of the current record."""

    name: str
    shape: Obj
    filter: Mapping[str, Any] | None = None
    order_by: Sequence[Any] | None = None
    first: int | None = None


@dataclass(frozen=True, slots=True)
class List:
    """At the top: a page of ``entity`` records."""

    entity: str
    shape: Obj
    filter: Mapping[str, Any] | None = None
    order_by: Sequence[Any] | None = None
    first: int | None = None


@dataclass(frozen=True, slots=True)
class Get:
    """At the top: one ``entity`` record by id, or null."""

    entity: str
    id: str
    shape: Obj


Part = Const | Value | Obj | Related | Items | HasNext | Total | Attributes | Many | List | Get


# --- compiling -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    """A record in scope: its type (``user`` for users), table alias, and link row if any."""

    entity: str
    table: sa.FromClause
    link: sa.FromClause | None = None
    relationship: Relationship | None = None


@dataclass(frozen=True, slots=True)
class _Page:
    """A page in scope: its rows (``p``), the column of each ``Items``, its size and count."""

    rows: sa.Subquery | None  # in the page's order; with hasNextPage one row more, ranked n
    columns: Mapping[int, str]
    size: int
    total: ColumnElement[Any] | None


def _text(value: str) -> ColumnElement[str]:
    return sa.literal(value, sa.Text())


_FLOAT_MAX = 1.7976931348623157e308


class _PostgreSQL:
    """How PostgreSQL builds JSON, and spells stored values as ``json_value`` does."""

    def json(self, text: str) -> ColumnElement[Any]:
        """A JSON literal."""
        return sa.cast(_text(text), JSON)

    def sentinel(self) -> ColumnElement[Any]:
        return self.json(SENTINEL)

    def nested(self, found: ColumnElement[Any]) -> ColumnElement[Any]:
        """A scalar subquery's JSON, placed inside another JSON value."""
        return found

    def boolean(self, condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return condition

    def array(self, items: ColumnElement[Any], keep: ColumnElement[bool] | None) -> Any:
        """The JSON array of ``items`` over a page's rows, in their order (those ``keep`` keeps)."""
        listed: ColumnElement[Any] = sa.func.json_agg(items)
        if keep is not None:
            listed = listed.filter(keep)
        return sa.func.coalesce(listed, self.json("[]"))

    def object(self, pairs: Sequence[tuple[str, ColumnElement[Any]]]) -> ColumnElement[Any]:
        """A JSON object of ``pairs`` in order, past the functions' 100-argument limit too."""
        chunks = [pairs[i : i + _MAX_PAIRS] for i in range(0, len(pairs), _MAX_PAIRS)] or [[]]
        built = [self._object([x for key, value in c for x in (_text(key), value)]) for c in chunks]
        if len(built) == 1:
            return built[0]
        # '{"a" : 1}' and '{"b" : 2}' -> '{"a" : 1,"b" : 2}': the keys keep their order.
        texts = [sa.cast(b, sa.Text()) for b in built]
        joined: ColumnElement[Any] = self._without_last(texts[0])
        for text in texts[1:-1]:
            joined = joined + "," + sa.func.substr(self._without_last(text), 2)
        joined = joined + "," + sa.func.substr(texts[-1], 2)
        return self._parsed(joined)

    def _object(self, args: list[ColumnElement[Any]]) -> ColumnElement[Any]:
        return sa.func.json_build_object(*args)

    def _without_last(self, text: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.func.left(text, -1)

    def _parsed(self, text: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.cast(text, JSON)

    def value(self, column: ColumnElement[Any], kind: str, as_text: bool = False) -> Any:
        """The JSON form of a stored value of ``kind``."""
        if kind == "decimal":
            return self.decimal(column)
        if kind == "number":
            return self.float(column)
        if kind == "datetime":
            return self.datetime(column)  # null in, null out
        if kind == "int64" and as_text:
            return column.cast(sa.Text())
        if kind == "boolean":
            return self.stored_boolean(column)
        if kind in ("array", "object"):
            return self.stored_json(column)
        if kind in _TEXT_KINDS or kind in ("integer", "int64", "date"):
            return column
        raise Unsupported(f"values of kind {kind}")

    def stored_boolean(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return column

    def stored_json(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return column

    def decimal(self, x: ColumnElement[Any]) -> ColumnElement[Any]:
        """A NUMERIC as ``decimal_text`` spells it: PostgreSQL's own text, plain notation."""
        return x.cast(sa.Text())

    def float(self, x: ColumnElement[Any]) -> ColumnElement[Any]:
        """A float as a JSON number that reads back as a float (``3.0``, not ``3``)."""
        txt = x.cast(sa.Text())
        finite = sa.case((txt.regexp_match("[.eE]"), txt), else_=txt + ".0")
        special = x.in_([float("nan"), float("inf"), float("-inf")])
        return sa.case(
            (x.is_(None), sa.null()), (special, self.sentinel()), else_=sa.cast(finite, JSON)
        )

    def datetime(self, x: ColumnElement[Any]) -> ColumnElement[Any]:
        """A timestamptz as an aware UTC ``datetime.isoformat()``: microseconds only if any."""
        txt, f = sa.Text(), sa.func
        utc = f.timezone(_text("UTC"), x, type_=sa.DateTime())
        whole = f.date_trunc(_text("second"), utc, type_=sa.DateTime()) == utc
        fraction = sa.case((whole, ""), else_=f.to_char(utc, _text(".US"), type_=txt))
        return f.to_char(utc, _text('YYYY-MM-DD"T"HH24:MI:SS'), type_=txt) + fraction + "+00:00"

    def guarded(self, value: ColumnElement[Any], missing: ColumnElement[bool]) -> Any:
        """``value``, or the sentinel where ``missing`` holds."""
        return sa.case((missing, self.sentinel()), else_=sa.func.to_json(value))

    def stored_null(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        """Whether a JSON column holds JSON's null (the record has no value there)."""
        return sa.cast(column, sa.Text()) == "null"


class _SQLite(_PostgreSQL):
    """How SQLite's JSON functions build the same answer from what SQLite stores.

    SQLite keeps decimals as their canonical text, dates as ISO text,
    date-times as naive UTC text with six fractional digits, booleans as 0
    and 1, and JSON as text; each is turned into the spelling above. A value
    that crosses a subquery is re-read with ``json()``, so it stays JSON and
    is not quoted as a string.
    """

    def json(self, text: str) -> ColumnElement[Any]:
        return sa.func.json(_text(text))

    def nested(self, found: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.func.json(found)

    def boolean(self, condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return sa.case((condition, self.json("true")), else_=self.json("false"))

    def array(self, items: ColumnElement[Any], keep: ColumnElement[bool] | None) -> Any:
        listed: ColumnElement[Any] = sa.func.json_group_array(sa.func.json(items))
        if keep is not None:
            listed = listed.filter(keep)
        return sa.func.coalesce(listed, self.json("[]"))

    def _object(self, args: list[ColumnElement[Any]]) -> ColumnElement[Any]:
        return sa.func.json_object(*args)

    def _without_last(self, text: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.func.substr(text, 1, sa.func.length(text) - 1)

    def _parsed(self, text: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.func.json(text)

    def stored_boolean(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.case((column.is_(None), sa.null()), else_=self.boolean(column == 1))

    def stored_json(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.func.json(column)

    def decimal(self, x: ColumnElement[Any]) -> ColumnElement[Any]:
        # Stored as the text ``decimal_text`` gives; rows written before decimals were kept
        # in plain notation may hold an exponent (1E-7): those are answered the ordinary way.
        return sa.case((sa.func.instr(x, "E") > 0, self.sentinel()), else_=x)

    def float(self, x: ColumnElement[Any]) -> ColumnElement[Any]:
        # JSON's own spelling of a REAL keeps 15 digits; 17 read back as the same float
        # (0.1 as 0.10000000000000001), with its point, except for some beyond 1e100 that
        # SQLite's printf rounds wrong: those, and infinities (spelled Inf), are flagged.
        text = sa.func.printf(_text("%!.17g"), x)
        return sa.case(
            (x.is_(None), sa.null()),
            (sa.func.abs(x) > sa.literal(_FLOAT_MAX), self.sentinel()),
            (sa.cast(text, sa.Float()) != x, self.sentinel()),
            else_=sa.func.json(text),
        )

    def datetime(self, x: ColumnElement[Any]) -> ColumnElement[Any]:
        f, txt = sa.func, sa.Text()
        text = sa.cast(x, txt)
        micro = f.substr(text, 21, 6, type_=txt)
        fraction = sa.case((sa.or_(micro == "", micro == "000000"), ""), else_="." + micro)
        whole = f.substr(text, 1, 10, type_=txt) + "T" + f.substr(text, 12, 8, type_=txt)
        return sa.case((x.is_(None), sa.null()), else_=whole + fraction + "+00:00")

    def guarded(self, value: ColumnElement[Any], missing: ColumnElement[bool]) -> Any:
        return sa.case((missing, self.sentinel()), else_=value)

    def stored_null(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        return sa.func.json_type(column) == "null"


_SPELLINGS = {"postgresql": _PostgreSQL(), "sqlite": _SQLite()}

# Aliases of each table, by position in a statement (see JsonQuery._alias), kept in the
# table's own ``info``: they go with the table when its catalog version retires. (A map
# keyed weakly by the table would keep it forever: each alias refers to its table.)
_ALIASES = "xrm_json_aliases"
_ALIASES_LOCK = Lock()


def answer_bytes(text: str) -> bytes:
    """The answer's text as bytes; ``Unsupported`` when it flags a value (see the module)."""
    raw = text.encode()
    if _SENTINEL_BYTES in raw:
        raise Unsupported("a value the caller must answer the ordinary way")
    return raw


@dataclass(frozen=True, slots=True)
class Prepared:
    """The statement answering a shape.

    ``verbatim_json`` says the answer copies stored JSON values as stored.
    Their text is what was written (duplicate keys, integers past 64 bits,
    its spacing), so whoever sends the answer on as text must read it first,
    as ``execute`` does, to answer exactly as the ordinary path would.
    """

    statement: sa.Select[Any]
    verbatim_json: bool


def read_answer(raw: bytes, verbatim_json: bool) -> Any:
    """An answer's JSON as Python values, exactly as the ordinary path would hold them.

    Stored JSON may hold integers past 64 bits, which orjson would turn into
    floats; the standard library reads them whole (and, like orjson, keeps
    the last of a repeated key). Answers without stored JSON take orjson.
    """
    if verbatim_json:
        return json.loads(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Unsupported("a value orjson cannot read") from None


class JsonQuery:
    """Builds and runs the one statement answering a shape, inside one record session."""

    def __init__(self, session: RecordSession) -> None:
        spelling = _SPELLINGS.get(session.dialect)
        if spelling is None:
            raise Unsupported(f"one-statement answers on {session.dialect}")
        self.spell = spelling
        self._verbatim = False  # see Prepared
        self._aliases_used: dict[sa.Table, int] = {}
        self.session = session
        self.catalog = session.catalog
        self.compiler = session.compiler

    def prepare(self, shape: Obj) -> Prepared:
        """``SELECT <the answer as JSON text>``, and whether it copies stored JSON."""
        self._verbatim = False
        self._aliases_used = {}
        statement = sa.select(sa.cast(self._top(shape), sa.Text()))
        return Prepared(statement, self._verbatim)

    def run(self, shape: Obj) -> Any:
        """The answer of ``shape`` as a JSON value; ``Unsupported`` when it cannot be given."""
        return self.execute(self.prepare(shape))

    def execute(self, prepared: Prepared) -> Any:
        """Run a statement made by ``prepare`` (perhaps for an earlier, equal request).

        A statement holds the caller's row scopes and the catalog's tables, so
        it may only be reused by a caller with the same identity and roles on
        the same schema version.
        """
        raw = answer_bytes(self.session.conn.execute(prepared.statement).scalar_one())
        return read_answer(raw, prepared.verbatim_json)

    # --- parts -----------------------------------------------------------------------------

    def _top(self, shape: Obj) -> ColumnElement[Any]:
        pairs = []
        for key, part in shape.fields:
            if isinstance(part, Const):
                pairs.append((key, self._const(part)))
            elif isinstance(part, List):
                pairs.append((key, self._list(part)))
            elif isinstance(part, Get):
                pairs.append((key, self._get(part)))
            else:
                raise Unsupported(f"{type(part).__name__} at the top")
        return self.spell.object(pairs)

    @staticmethod
    def _const(part: Const) -> ColumnElement[Any]:
        return sa.null() if part.value is None else _text(part.value)

    def _row(self, part: Part, row: _Row) -> ColumnElement[Any]:
        """A part in the scope of one record."""
        if isinstance(part, Obj):
            return self.spell.object([(k, self._row(p, row)) for k, p in part.fields])
        if isinstance(part, Const):
            return self._const(part)
        if isinstance(part, Value):
            return self._value(part, row)
        if isinstance(part, Related):
            return self._related(part, row)
        if isinstance(part, Many):
            return self._many(part, row)
        if isinstance(part, Attributes):
            return self._attributes(part, row)
        raise Unsupported(f"{type(part).__name__} in a record")

    def _visible(self, entity: str, name: str) -> None:
        if name in self.session.hidden(entity):
            raise Unsupported(f"{entity}.{name} is hidden from the caller")

    def _value(self, part: Value, row: _Row) -> ColumnElement[Any]:
        table = row.table
        if row.entity == "user":
            if part.name not in ("id", "email", "name"):
                raise Unsupported(f"user field {part.name}")
            column, kind, nullable = table.c[part.name], "string", part.name == "name"
        elif part.name in SYSTEM_FIELDS:
            name, kind = SYSTEM_FIELDS[part.name]
            column, nullable = table.c[name], table.c[name].nullable
        else:
            prop = self.catalog.entity(row.entity).properties.get(part.name)
            if prop is None:
                raise Unsupported(f"{row.entity} has no field {part.name}")
            self._visible(row.entity, prop.name)
            column, kind, nullable = table.c[prop.column], prop.kind, True
            if prop.ref is not None:
                kind = "ref"
        value = self._stored(column, kind, part.as_text)
        if part.required and nullable:
            if value is column and isinstance(column.type, sa.String):
                return sa.func.coalesce(column, _text(_SENTINEL_TEXT))
            missing: ColumnElement[bool] = column.is_(None)
            if kind in ("array", "object"):  # a JSON null stored in the column
                missing = sa.or_(missing, self.spell.stored_null(column))
            return self.spell.guarded(value, missing)
        return value

    def _alias(self, table: sa.Table) -> sa.FromClause:
        """The next alias of ``table`` in this statement, made once per table and position.

        An alias builds proxies of all its table's columns on first use, which
        measured as a fifth of building a statement; the n-th alias of a table
        serves the n-th use in every statement built on the same tables.
        """
        n = self._aliases_used.get(table, 0)
        self._aliases_used[table] = n + 1
        with _ALIASES_LOCK:
            made: list[sa.FromClause] = table.info.setdefault(_ALIASES, [])
            while len(made) <= n:
                made.append(table.alias())
                made[-1].c  # noqa: B018 -- build the column proxies once, here
            return made[n]

    def _stored(self, column: ColumnElement[Any], kind: str, as_text: bool = False) -> Any:
        self._verbatim = self._verbatim or kind in ("array", "object")
        return self.spell.value(column, kind, as_text)

    def _related(self, part: Related, row: _Row) -> ColumnElement[Any]:
        if row.entity == "user":
            raise Unsupported("relations of users")
        if part.name in _USER_COLUMNS:
            target, column = "user", row.table.c[_USER_COLUMNS[part.name]]
        else:
            prop = self.catalog.entity(row.entity).properties.get(part.name)
            if prop is None or prop.ref is None:
                raise Unsupported(f"{row.entity} has no reference {part.name}")
            self._visible(row.entity, prop.name)
            target, column = prop.ref.entity, row.table.c[prop.column]
        other = self._alias(self.catalog.table(target))
        conditions = [other.c.id == column]
        if target != "user":
            conditions.extend(self._readable(target, other))
        found = sa.select(self._row(part.shape, _Row(target, other))).where(*conditions)
        return self.spell.nested(found.correlate(row.table).scalar_subquery())

    def _readable(self, entity: str, table: sa.FromClause) -> list[ColumnElement[bool]]:
        condition = self.session.rows(entity, table)
        return [] if condition is None else [condition]

    def _attributes(self, part: Attributes, row: _Row) -> ColumnElement[Any]:
        if row.link is None or row.relationship is None:
            return sa.null()
        return self.spell.object(
            [
                (part.spell(p.name), self._stored(row.link.c[p.column], p.kind))
                for p in row.relationship.properties.values()
            ]
        )

    def _get(self, part: Get) -> ColumnElement[Any]:
        try:
            key = uuid_text(part.id)
        except ValueError:
            return sa.null()
        table = self._alias(self.catalog.tables[part.entity])
        self.catalog.entity(part.entity)
        found = sa.select(self._row(part.shape, _Row(part.entity, table))).where(
            table.c.id == sa.bindparam(None, key, type_=table.c.id.type),
            *self._readable(part.entity, table),
        )
        return self.spell.nested(found.scalar_subquery())

    def _list(self, part: List) -> ColumnElement[Any]:
        self.catalog.entity(part.entity)
        table = self._alias(self.catalog.tables[part.entity])
        return self._page(part, part.entity, table, table, [], None, None)

    def _many(self, part: Many, row: _Row) -> ColumnElement[Any]:
        if row.entity == "user":
            raise Unsupported("relations of users")
        inverse = self.catalog.inverses.get(row.entity, {}).get(part.name)
        link = self.catalog.links.get(row.entity, {}).get(part.name)
        if inverse is not None:
            other = self._alias(self.catalog.tables[inverse.entity])
            column = self.catalog.entity(inverse.entity).properties[inverse.property].column
            return self._page(
                part, inverse.entity, other, other, [other.c[column] == row.table.c.id], row, None
            )
        if link is None:
            raise Unsupported(f"{row.entity} has no to-many field {part.name}")
        other = self._alias(self.catalog.tables[link.other])
        link_table = self._alias(self.catalog.link_tables[link.relationship])
        near, far = ("from_id", "to_id") if link.outgoing else ("to_id", "from_id")
        source = link_table.join(other, other.c.id == link_table.c[far])
        match = [link_table.c[near] == row.table.c.id]
        rel = self.catalog.relationships[link.relationship]
        return self._page(part, link.other, other, source, match, row, (link_table, rel))

    def _page(
        self,
        part: Many | List,
        entity: str,
        table: sa.FromClause,
        source: sa.FromClause,
        match: list[ColumnElement[bool]],
        parent: _Row | None,
        link: tuple[sa.FromClause, Relationship] | None,
    ) -> ColumnElement[Any]:
        """One page of ``entity`` rows from ``source`` (matching the parent), as the shape says."""
        size = page_size(part.first, self.session.settings)
        conditions = [
            *match,
            self.compiler.where(entity, table, part.filter),
            *self._readable(entity, table),
        ]
        order = self.compiler.ordering(entity, table, part.order_by)
        clauses = self.compiler.order_clauses(order)
        items = _items(part.shape)
        wants_rows = bool(items) or _has(part.shape, HasNext)
        total = None
        if _has(part.shape, Total):
            counted = sa.select(sa.func.count()).select_from(source).where(*conditions)
            if parent is not None:
                counted = counted.correlate(parent.table)
            total = counted.scalar_subquery()
        if not wants_rows:
            return self._page_part(part.shape, _Page(None, {}, size, total))
        row = _Row(entity, table, *(link or (None, None)))
        columns = {id(item): f"j{i}" for i, item in enumerate(items)}
        selected = [self._row(item.item, row).label(columns[id(item)]) for item in items]
        if _has(part.shape, HasNext):
            # One row more tells whether a next page exists; a rank keeps it out of the list.
            rank = sa.func.row_number().over(order_by=clauses).label("n")
            inner = sa.select(*selected, rank).limit(size + 1)
        else:
            # The page itself: no window, no filter (a quarter cheaper on the anchor).
            inner = sa.select(*selected).limit(size)
        # The LIMIT also keeps the subquery whole, so its rows reach json_agg in this order;
        # that holds only while the aggregate reads nothing else: no join, no grouping there.
        inner = inner.select_from(source).where(*conditions).order_by(*clauses)
        if parent is not None:
            inner = inner.correlate(parent.table)
        rows = inner.subquery()
        page = _Page(rows, columns, size, total)
        found = sa.select(self._page_part(part.shape, page)).select_from(rows)
        return self.spell.nested(found.scalar_subquery())

    def _page_part(self, part: Part, page: _Page) -> ColumnElement[Any]:
        """A part in the scope of one page (aggregating its rows)."""
        if isinstance(part, Obj):
            return self.spell.object([(k, self._page_part(p, page)) for k, p in part.fields])
        if isinstance(part, Const):
            return self._const(part)
        if isinstance(part, Total):
            assert page.total is not None
            return page.total
        rows = page.rows
        assert rows is not None
        if isinstance(part, HasNext):
            return self.spell.boolean(sa.func.count() > page.size)
        if isinstance(part, Items):
            keep = rows.c.n <= page.size if "n" in rows.c else None
            return self.spell.array(rows.c[page.columns[id(part)]], keep)
        raise Unsupported(f"{type(part).__name__} in a page")


def _items(shape: Part) -> list[Items]:
    """The ``Items`` of a page's shape (not those of pages nested in them)."""
    if isinstance(shape, Items):
        return [shape]
    if isinstance(shape, Obj):
        return [i for _, p in shape.fields for i in _items(p)]
    return []


def _has(shape: Part, kind: type) -> bool:
    if isinstance(shape, kind):
        return True
    return isinstance(shape, Obj) and any(_has(p, kind) for _, p in shape.fields)
