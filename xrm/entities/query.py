"""Compile record filters, orderings, cursors and aggregates into parameterised SQL.

Every value a caller gives travels as a bound parameter, normalised by the
field's own normaliser first (an e-mail filter is lowercased like the stored
e-mail), never spliced into SQL text. Both databases give the same answers:

- ``contains``/``startsWith`` ignore ASCII case only (SQLite's ``LIKE`` does
  exactly that; PostgreSQL lowers A-Z with ``translate``), with ``%``, ``_``
  and ``\\`` in the pattern escaped;
- text orders by code point (``COLLATE "C"`` on PostgreSQL; SQLite's binary
  order of UTF-8 is code-point order), nulls last ascending and first
  descending, ties broken by id in the direction of the last ordering field
  (so ``name DESC`` reads an index on ``(name, id)`` backwards, with no sort);
- exact decimals compare, sort and group by value, whatever their spelling
  (``10.50`` is ``10.5``): NUMERIC on PostgreSQL; on SQLite, which keeps them as
  text, through an order-preserving text key computed in SQL (``decimal_key``).

``ne`` and ``notIn`` keep records whose value is null (null differs from any
value), which is what a user filtering "status is not closed" expects; for
the same reason a filter is two-valued: a comparison with a null is false,
never SQL's unknown, so ``{"not": F}`` keeps exactly the records ``F`` drops.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from xrm.entities.catalog_state import Catalog
from xrm.errors import Fault, Forbidden, ValidationFailed
from xrm.schemas import formats
from xrm.schemas.formats import json_value
from xrm.schemas.model import EntityType, Property
from xrm.schemas.validate import compile_property

DIRECTIONS = ("ASC", "DESC")
TEXT_OPS = ("contains", "startsWith")
ORDERED_OPS = ("lt", "lte", "gt", "gte", "between")
BUCKETS = ("day", "week", "month", "year")
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"

# System fields every record has: name -> (column, kind).
SYSTEM_FIELDS: Mapping[str, tuple[str, str]] = {
    "id": ("id", "uuid"),
    "version": ("version", "integer"),
    "created_at": ("created_at", "datetime"),
    "updated_at": ("updated_at", "datetime"),
    "created_by": ("created_by", "uuid"),
    "updated_by": ("updated_by", "uuid"),
    "owner": ("owner_id", "uuid"),
}
_SYSTEM_NORMALISERS: Mapping[str, Callable[[Any], Any]] = {
    "uuid": formats.uuid_text,
    "integer": formats.integer,
    "datetime": formats.datetime,
}


_USER_FIELDS: Mapping[str, tuple[str, Callable[[Any], Any]]] = {
    "id": ("uuid", formats.uuid_text),
    "email": ("email", formats.text),  # compared as stored: trimmed and lowercased
    "name": ("string", formats.text),
}


def ascii_lower(text: str) -> str:
    """Lowercase A-Z only, as the databases do for ``contains``/``startsWith``."""
    return text.translate(str.maketrans(_UPPER, _LOWER))


# --- exact decimal keys (SQLite) -------------------------------------------------------------
# A decimal's key is text whose binary order is the numbers' order: a sign class ("0"
# negative, "1" zero, "2" positive), the adjusted exponent (the power of ten of the first
# significant digit) offset to 19 fixed digits, then the significant digits without leading
# or trailing zeros. Negatives negate the exponent, map digits to letters in reverse
# (9 -> "a" ... 0 -> "j") and end in "~", so a longer digit string sorts first there.
_EXPONENT_OFFSET = 3 * 10**18
_NEGATIVE_DIGITS = str.maketrans("0123456789", "jihgfedcba")


def decimal_key(value: Decimal) -> str:
    """The order key of a decimal, equal to what ``decimal_key_sql`` computes from its text."""
    digits = "".join(map(str, value.as_tuple().digits)).strip("0")
    if not digits:
        return "1"
    if value.is_signed():
        exponent = f"{_EXPONENT_OFFSET - value.adjusted():019d}"
        return f"0{exponent}{digits.translate(_NEGATIVE_DIGITS)}~"
    return f"2{_EXPONENT_OFFSET + value.adjusted():019d}{digits}"


def decimal_key_sql(text: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """``decimal_key`` in SQLite SQL, from a decimal stored as text (``str(Decimal)``).

    Built from a few cheap string functions per row (SQLite has no common
    subexpressions); the exponent form (``1E-7``, ``1E+2``) takes a second branch.
    """
    f, txt, num = sa.func, sa.Text(), sa.Integer()
    e_at = f.instr(text, "E", type_=num)
    plain = _decimal_key_sql(text, sa.literal(0, num))
    mantissa = f.substr(text, 1, e_at - 1, type_=txt)
    scaled = _decimal_key_sql(mantissa, sa.cast(f.substr(text, e_at + 1), sa.Integer))
    return sa.case((text.is_(None), sa.null()), (e_at == 0, plain), else_=scaled)


def _decimal_key_sql(
    number: sa.ColumnElement[Any], power: sa.ColumnElement[Any]
) -> sa.ColumnElement[str]:
    """The key of ``number`` (plain notation: ``-12.50``) times ten to the ``power``."""
    f, txt, num = sa.func, sa.Text(), sa.Integer()
    number = sa.type_coerce(number, txt)  # text: ``||`` joins, ``<`` compares text
    significant = f.ltrim(number, "-0.", type_=txt)  # from the first significant digit on
    digits = f.replace(f.rtrim(significant, "0.", type_=txt), ".", "", type_=txt)
    # The power of ten of the first significant digit (1 in 12.5, 0 in 1.5, -3 in 0.005): the
    # point's position minus the digit's, less one when the digit comes before the point.
    point = f.instr(number + ".", ".", type_=num)
    first = f.length(number, type_=num) - f.length(significant, type_=num) + 1
    distance = point - first
    adjusted = (2 * distance - 1) // 2 + power  # SQLite's integer division truncates
    reversed_digits = digits
    for digit, letter in zip("0123456789", "jihgfedcba", strict=True):
        reversed_digits = f.replace(reversed_digits, digit, letter, type_=txt)
    return sa.case(
        (significant == "", sa.literal("1", txt)),
        (
            number < sa.literal("0", txt),  # a leading "-" sorts before every digit
            sa.literal("0", txt)
            + f.printf("%019d", _EXPONENT_OFFSET - adjusted, type_=txt)
            + reversed_digits
            + "~",
        ),
        else_=sa.literal("2", txt)
        + f.printf("%019d", _EXPONENT_OFFSET + adjusted, type_=txt)
        + digits,
    )


@dataclass(frozen=True, slots=True)
class Field:
    """One filterable, sortable field of a table alias, with its value normaliser."""

    name: str
    column: sa.ColumnElement[Any]
    kind: str
    normalise: Callable[[Any], Any]
    dialect: str

    @property
    def is_text(self) -> bool:
        return self.kind in ("string", "email", "uri", "phone", "enum")

    @property
    def exact_decimal_key(self) -> bool:
        """Whether values compare through ``decimal_key`` (decimals kept as text on SQLite)."""
        return self.kind == "decimal" and self.dialect == "sqlite"

    @property
    def comparable(self) -> sa.ColumnElement[Any]:
        """The expression to compare and sort by (decimals by value, text by code point)."""
        if self.exact_decimal_key:
            return decimal_key_sql(self.column)
        if self.is_text and self.dialect == "postgresql":
            return self.column.collate("C")
        return self.column

    @property
    def equatable(self) -> sa.ColumnElement[Any]:
        """What ``eq``/``in`` compare: the column (index-friendly), but the key for decimals
        on SQLite, where one value has many spellings (``10.50`` is ``10.5``)."""
        return self.comparable if self.exact_decimal_key else self.column


class RowAccess(Protocol):
    """What the caller may see: which rows of a type (None: all) and which fields are hidden."""

    def rows(self, entity: str, table: sa.FromClause) -> ColumnElement[bool] | None: ...

    def hidden(self, entity: str) -> frozenset[str]: ...


class Compiler:
    """Filters, orderings, cursors and aggregates for the entity types of one catalog.

    With ``access``, filters only see what the caller may read: a hidden field
    is ``FORBIDDEN`` to filter, order or group by, and a relation filter only
    looks at related rows the caller may read, so nothing can be probed.
    """

    def __init__(
        self, catalog: Catalog, dialect: str, phone_region: str, access: RowAccess | None = None
    ) -> None:
        self.catalog = catalog
        self.dialect = dialect
        self.phone_region = phone_region
        self.access = access
        self._normalisers: dict[tuple[str, str], Callable[[Any], Any]] = {}

    def _readable(self, entity: str, table: sa.FromClause) -> list[ColumnElement[bool]]:
        if self.access is None:
            return []
        condition = self.access.rows(entity, table)
        return [] if condition is None else [condition]

    # --- fields ------------------------------------------------------------------------------

    def field(self, entity: str, table: sa.FromClause, name: str, path: str) -> Field:
        """The field ``name`` of ``entity`` (properties, ``<ref>_id`` aliases, system fields)."""
        et = self.catalog.entity(entity)
        if name in SYSTEM_FIELDS:
            column, kind = SYSTEM_FIELDS[name]
            return Field(name, table.c[column], kind, _SYSTEM_NORMALISERS[kind], self.dialect)
        prop = et.properties.get(name)
        if prop is None and name.endswith("_id"):
            prop = et.properties.get(name[:-3])
            if prop is not None and prop.ref is None:
                prop = None
        if prop is None:
            raise ValidationFailed([Fault(path, f"{entity} has no field {name!r}")])
        if self.access is not None and prop.name in self.access.hidden(entity):
            raise Forbidden(f"{entity}.{prop.name} is hidden from you", field=path)
        return Field(
            name, table.c[prop.column], prop.kind, self._normaliser(et, prop), self.dialect
        )

    def _normaliser(self, et: EntityType, prop: Property) -> Callable[[Any], Any]:
        key = (et.name, prop.name)
        found = self._normalisers.get(key)
        if found is None:
            # Filters compare against the base format only: a filter value may well be
            # outside the property's limits (``lt`` a maximum) and must still work.
            loose = Property(
                prop.name,
                prop.kind,
                {k: v for k, v in prop.schema.items() if k in ("type", "format", "items")},
                False,
                prop.ref,
            )  # a plugin's format is left out too: its functions refuse partial text
            found = compile_property(loose, self.phone_region)
            self._normalisers[key] = found
        return found

    # --- filters -----------------------------------------------------------------------------

    def where(
        self,
        entity: str,
        table: sa.FromClause,
        spec: Mapping[str, Any] | None,
        path: str = "filter",
    ) -> ColumnElement[bool]:
        """The SQL condition of a filter on ``entity`` rows of ``table``."""
        if not spec:
            return sa.true()
        if not isinstance(spec, Mapping):
            raise ValidationFailed([Fault(path, "a filter is an object")])
        faults: list[Fault] = []
        parts: list[ColumnElement[bool]] = []
        for key, value in spec.items():
            here = f"{path}.{key}"
            try:
                parts.append(self._part(entity, table, key, value, here))
            except ValidationFailed as exc:
                faults.extend(exc.faults)
        if faults:
            raise ValidationFailed(faults)
        return sa.and_(*parts)

    def _part(
        self, entity: str, table: sa.FromClause, key: str, value: Any, path: str
    ) -> ColumnElement[bool]:
        if key in ("and", "or"):
            if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
                raise ValidationFailed([Fault(path, f"{key} takes a list of filters")])
            items = [self.where(entity, table, v, f"{path}.{i}") for i, v in enumerate(value)]
            if key == "and":
                return sa.and_(sa.true(), *items)
            return sa.or_(sa.false(), *items)
        if key == "not":
            return _complement(self.where(entity, table, value, path))
        et = self.catalog.entity(entity)
        prop = et.properties.get(key)
        if prop is not None and prop.ref is not None:
            return self._to_one(prop, table, value, path)
        inverse = self.catalog.inverses.get(entity, {}).get(key)
        link = self.catalog.links.get(entity, {}).get(key)
        if inverse is not None or link is not None:
            return self._to_many(entity, table, key, value, path)
        return self.compare(self.field(entity, table, key, path), value, path)

    def _to_one(
        self, prop: Property, table: sa.FromClause, value: Any, path: str
    ) -> ColumnElement[bool]:
        assert prop.ref is not None
        target = prop.ref.entity
        if target == "user":
            users = self.catalog.table("user").alias()
            return sa.exists(
                sa.select(sa.literal(1))
                .select_from(users)
                .where(users.c.id == table.c[prop.column], self.user_where(users, value, path))
            )
        other = self.catalog.tables[target].alias()
        inner = self.where(target, other, value, path)
        return sa.exists(
            sa.select(sa.literal(1))
            .select_from(other)
            .where(other.c.id == table.c[prop.column], inner, *self._readable(target, other))
        )

    def user_where(self, users: sa.FromClause, spec: Any, path: str) -> ColumnElement[bool]:
        """A filter on the read-only system type ``user``: ``id``, ``email``, ``name``."""
        if not spec:
            return sa.true()
        if not isinstance(spec, Mapping):
            raise ValidationFailed([Fault(path, "a filter is an object")])
        parts: list[ColumnElement[bool]] = []
        for key, value in spec.items():
            here = f"{path}.{key}"
            if key in ("and", "or"):
                if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
                    raise ValidationFailed([Fault(here, f"{key} takes a list of filters")])
                items = [self.user_where(users, v, f"{here}.{i}") for i, v in enumerate(value)]
                parts.append(
                    sa.and_(sa.true(), *items) if key == "and" else sa.or_(sa.false(), *items)
                )
            elif key == "not":
                parts.append(_complement(self.user_where(users, value, here)))
            elif key in _USER_FIELDS:
                kind, normalise = _USER_FIELDS[key]
                parts.append(
                    self.compare(
                        Field(key, users.c[key], kind, normalise, self.dialect), value, here
                    )
                )
            else:
                raise ValidationFailed([Fault(here, f"user has no field {key!r}")])
        return sa.and_(*parts)

    def _to_many(
        self, entity: str, table: sa.FromClause, key: str, value: Any, path: str
    ) -> ColumnElement[bool]:
        if not isinstance(value, Mapping) or not value or set(value) - {"some", "none"}:
            raise ValidationFailed([Fault(path, "a to-many filter takes some and/or none")])
        parts = []
        for quantifier, spec in value.items():
            select, other_entity, other = self.children_select(entity, key, table.c.id)
            exists = sa.exists(
                select.where(self.where(other_entity, other, spec, f"{path}.{quantifier}"))
            )
            parts.append(exists if quantifier == "some" else sa.not_(exists))
        return sa.and_(*parts)

    def children_select(
        self, entity: str, key: str, parent_id: Any
    ) -> tuple[sa.Select[Any], str, sa.FromClause]:
        """``SELECT 1`` over the records field ``key`` of ``entity`` holds for ``parent_id``."""
        inverse = self.catalog.inverses.get(entity, {}).get(key)
        if inverse is not None:
            other = self.catalog.tables[inverse.entity].alias()
            column = self.catalog.entity(inverse.entity).properties[inverse.property].column
            select = (
                sa.select(sa.literal(1))
                .select_from(other)
                .where(other.c[column] == parent_id, *self._readable(inverse.entity, other))
            )
            return select, inverse.entity, other
        link = self.catalog.links[entity][key]
        link_table = self.catalog.link_tables[link.relationship].alias()
        other = self.catalog.tables[link.other].alias()
        near, far = ("from_id", "to_id") if link.outgoing else ("to_id", "from_id")
        select = (
            sa.select(sa.literal(1))
            .select_from(link_table.join(other, other.c.id == link_table.c[far]))
            .where(link_table.c[near] == parent_id, *self._readable(link.other, other))
        )
        return select, link.other, other

    def compare(self, field: Field, spec: Any, path: str) -> ColumnElement[bool]:
        """One field's comparisons (``{"gte": 3, "lt": 9}``), all of which must hold."""
        if not isinstance(spec, Mapping) or not spec:
            raise ValidationFailed([Fault(path, 'a comparison is an object such as {"eq": ...}')])
        faults: list[Fault] = []
        parts: list[ColumnElement[bool]] = []
        for op, raw in spec.items():
            try:
                parts.append(self._compare_one(field, op, raw, f"{path}.{op}"))
            except ValueError as exc:
                faults.append(Fault(f"{path}.{op}", str(exc)))
        if faults:
            raise ValidationFailed(faults)
        return sa.and_(*parts)

    def _value(self, field: Field, raw: Any) -> Any:
        if raw is None:
            raise ValueError("needs a value (use isNull for null)")
        return field.normalise(raw)

    def _bind(self, field: Field, value: Any) -> Any:
        """A bound parameter to compare with ``field.comparable`` (or ``field.equatable``)."""
        if field.exact_decimal_key:
            return sa.bindparam(None, decimal_key(value), sa.Text)
        return sa.bindparam(None, value, type_=field.column.type)

    def _compare_one(self, field: Field, op: str, raw: Any, path: str) -> ColumnElement[bool]:
        column, comparable, equatable = field.column, field.comparable, field.equatable
        if op == "isNull":
            if not isinstance(raw, bool):
                raise ValueError("isNull takes true or false")
            return column.is_(None) if raw else column.is_not(None)
        if field.kind in ("array", "object"):
            raise ValueError(f"{field.name} can only be tested with isNull")
        if op == "eq":
            return equatable == self._bind(field, self._value(field, raw))
        if op == "ne":
            return sa.or_(column.is_(None), equatable != self._bind(field, self._value(field, raw)))
        if op in ("in", "notIn"):
            if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
                raise ValueError(f"{op} takes a list")
            values = [self._value(field, v) for v in raw]
            if field.exact_decimal_key:
                keys = [decimal_key(v) for v in values]
                bound = sa.bindparam(None, keys, expanding=True, type_=sa.Text)
            else:
                bound = sa.bindparam(None, values, expanding=True, type_=field.column.type)
            if op == "in":
                return equatable.in_(bound) if values else sa.false()
            return sa.or_(column.is_(None), equatable.not_in(bound)) if values else sa.true()
        if op in TEXT_OPS:
            if not field.is_text:
                raise ValueError(f"{op} works on text fields only")
            if not isinstance(raw, str):
                raise ValueError(f"{op} takes a string")
            if formats.NUL in raw:  # stored text holds none; SQLite's LIKE would match all
                raise ValueError(formats.NUL_MESSAGE)
            return self._like(column, raw, op == "contains")
        if op in ORDERED_OPS:
            if field.kind in ("boolean", "uuid", "ref"):
                raise ValueError(f"{op} does not apply to {field.name}")
            if op == "between":
                if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) != 2:
                    raise ValueError("between takes a list of two values")
                low, high = (self._value(field, v) for v in raw)
                return sa.and_(
                    comparable >= self._bind(field, low), comparable <= self._bind(field, high)
                )
            bound = self._bind(field, self._value(field, raw))
            return {
                "lt": comparable < bound,
                "lte": comparable <= bound,
                "gt": comparable > bound,
                "gte": comparable >= bound,
            }[op]
        raise ValueError(f"unknown comparison {op!r}")

    def _like(self, column: Any, text: str, anywhere: bool) -> ColumnElement[bool]:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = ("%" if anywhere else "") + ascii_lower(escaped) + "%"
        if self.dialect == "postgresql":
            lowered = sa.func.translate(column, _UPPER, _LOWER)
            return lowered.like(sa.bindparam(None, pattern, sa.Text), escape="\\")
        # SQLite's LIKE ignores the case of ASCII letters, and only theirs.
        return column.like(sa.bindparam(None, pattern, sa.Text), escape="\\")

    # --- ordering and cursors ----------------------------------------------------------------

    def ordering(
        self, entity: str, table: sa.FromClause, spec: Sequence[Any] | None
    ) -> list[tuple[Field, bool]]:
        """``[(field, descending)]`` from ``[{"name": "ASC"}, ("created_at", "DESC"), ...]``."""
        out: list[tuple[Field, bool]] = []
        faults: list[Fault] = []
        for index, item in enumerate(spec or ()):
            path = f"orderBy.{index}"
            if isinstance(item, Mapping):
                if len(item) != 1:
                    faults.append(Fault(path, "each item names exactly one field"))
                    continue
                ((name, direction),) = item.items()
            elif isinstance(item, (tuple, list)) and len(item) == 2:
                name, direction = item
            else:
                faults.append(Fault(path, "an order item is {field: ASC|DESC}"))
                continue
            direction = str(direction).upper()
            if direction not in DIRECTIONS:
                faults.append(Fault(f"{path}.{name}", "direction is ASC or DESC"))
                continue
            try:
                field = self.field(entity, table, str(name), f"{path}.{name}")
            except ValidationFailed as exc:
                faults.extend(exc.faults)
                continue
            if field.kind in ("array", "object"):
                faults.append(Fault(f"{path}.{name}", "lists and objects cannot be sorted"))
                continue
            out.append((field, direction == "DESC"))
        if faults:
            raise ValidationFailed(faults)
        if not any(f.name == "id" for f, _ in out):
            tie = out[-1][1] if out else False  # one direction throughout: one index range
            out.append((self.field(entity, table, "id", "orderBy"), tie))
        return out

    @staticmethod
    def order_clauses(order: Sequence[tuple[Field, bool]]) -> list[Any]:
        clauses = []
        for field, descending in order:
            expr = field.comparable
            clauses.append(expr.desc().nulls_first() if descending else expr.asc().nulls_last())
        return clauses

    @staticmethod
    def plain_order_clauses(order: Sequence[tuple[Field, bool]]) -> list[Any]:
        """The ordering without null placement, for rows known to hold no nulls in it.

        SQLite puts nulls first ascending, so ``NULLS LAST`` there is not the
        index's order and costs a sort of every matching row; a row-value range
        holds no nulls, so its rows can be read in plain index order.
        """
        return [f.comparable.desc() if d else f.comparable.asc() for f, d in order]

    def seek(
        self, order: Sequence[tuple[Field, bool]], values: Sequence[Any]
    ) -> ColumnElement[bool]:
        """Rows strictly after the row whose order values are ``values`` (keyset pagination)."""
        alternatives = []
        for i, (field, descending) in enumerate(order):
            equal = [self._equal(f, v) for (f, _), v in zip(order[:i], values[:i], strict=True)]
            after = self._after(field, descending, values[i])
            alternatives.append(sa.and_(*equal, after))
        return sa.or_(*alternatives)

    def first_ranges(self, order: Sequence[tuple[Field, bool]]) -> list[ColumnElement[bool]] | None:
        """The first page's rows as ranges read one after another, each in plain index order.

        On SQLite ``ORDER BY name NULLS LAST`` is not the index's order (its
        nulls sort first), so the first page of ``[field, id]`` sorts every
        matching row. Read instead the non-null range, then (only if the page
        is not full) the nulls, each in plain order: an index on
        ``(..., field, id)`` then serves the page without a sort. Descending
        puts the nulls first. A NOT NULL column needs no null range. None:
        use the ordering as it is.
        """
        if len(order) != 2 or order[1][0].name != "id" or order[0][1] != order[1][1]:
            return None
        field, descending = order[0]
        column = field.column
        if not getattr(column, "nullable", True):
            return [sa.true()]
        ranges: list[ColumnElement[bool]] = [column.is_not(None), column.is_(None)]
        return ranges[::-1] if descending else ranges

    def row_seek(
        self, order: Sequence[tuple[Field, bool]], values: Sequence[Any]
    ) -> tuple[ColumnElement[bool], ColumnElement[bool] | None] | None:
        """``seek`` as one row-value range, where the ordering allows: ``(name, id) > (x, y)``.

        ``(name > x OR name IS NULL) OR (name = x AND id > y)`` makes a database
        read the whole index prefix and filter it; a row value is one index
        range on both databases. That needs one direction throughout and a
        non-null cursor; it then covers every row but those with a null in
        the ordering field, which sort last ascending: the second condition,
        for the caller to read only when the range runs out. None: use ``seek``.
        """
        if len(order) != 2 or order[1][0].name != "id" or order[0][1] != order[1][1]:
            return None
        if values[0] is None:
            return None
        (field, descending), (id_field, _) = order
        left = sa.tuple_(field.comparable, id_field.column)
        right = sa.tuple_(self._bind(field, values[0]), self._bind(id_field, values[1]))
        if descending:  # nulls come first descending: none are left after a value
            return left < right, None
        return left > right, field.column.is_(None)

    def _equal(self, field: Field, value: Any) -> ColumnElement[bool]:
        if value is None:
            return field.column.is_(None)
        return field.comparable == self._bind(field, value)

    def _after(self, field: Field, descending: bool, value: Any) -> ColumnElement[bool]:
        expr = field.comparable
        if descending:  # nulls first, then high to low
            if value is None:
                return field.column.is_not(None)
            return expr < self._bind(field, value)
        if value is None:  # nulls last: nothing comes after a null but other nulls
            return sa.false()
        return sa.or_(expr > self._bind(field, value), field.column.is_(None))

    @staticmethod
    def _order_key(order: Sequence[tuple[Field, bool]]) -> str:
        text = ",".join(f"{f.name}:{int(d)}" for f, d in order)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def cursor(self, order: Sequence[tuple[Field, bool]], row: Mapping[str, Any]) -> str:
        """An opaque cursor for ``row`` under ``order`` (its order values, base64url JSON)."""
        values = [json_value(row[row_key(f)]) for f, _ in order]
        payload = orjson.dumps([self._order_key(order), values])
        return base64.urlsafe_b64encode(payload).decode().rstrip("=")

    def decode_cursor(self, order: Sequence[tuple[Field, bool]], cursor: str) -> list[Any]:
        bad = ValidationFailed([Fault("after", "not a cursor of this list and ordering")])
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            key, values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        except (ValueError, binascii.Error, TypeError):
            raise bad from None
        if (
            key != self._order_key(order)
            or not isinstance(values, list)
            or len(values) != len(order)
        ):
            raise bad
        try:
            return [
                None if v is None else f.normalise(v)
                for (f, _), v in zip(order, values, strict=True)
            ]
        except ValueError:
            raise bad from None

    # --- aggregates --------------------------------------------------------------------------

    def bucket(self, field: Field, unit: str) -> sa.ColumnElement[Any]:
        """The ISO date starting the ``unit`` bucket that holds ``field``'s value."""
        column = field.column
        if self.dialect == "sqlite":
            day = sa.func.date(column)
            if unit == "day":
                return day
            if unit == "week":  # SQLite: the next Sunday (or today), back six days -> Monday
                return sa.func.date(column, "weekday 0", "-6 days")
            if unit == "month":
                return sa.func.strftime("%Y-%m-01", column)
            return sa.func.strftime("%Y-01-01", column)
        truncated = sa.func.date_trunc(unit, column)
        return (
            sa.cast(sa.cast(truncated, sa.Date), sa.Text)
            if unit != "day"
            else sa.cast(sa.cast(column, sa.Date), sa.Text)
        )


def _complement(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """``not``, two-valued: an unknown (a comparison with a null) counts as false first."""
    return sa.not_(sa.func.coalesce(condition, sa.false()))


def row_key(field: Field) -> str:
    """The key of a field's column in a result row (what cursors read)."""
    return field.column.key if field.column.key else field.name
