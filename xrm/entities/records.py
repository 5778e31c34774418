"""The record service: the one door through which every record is read and written.

The API, the admin UI, imports, workflow scripts and plugins all come through
here, so validation, format normalisation, reference checks, optimistic
locking, ``onDelete`` rules, gap-free autonumbers and the audit trail hold on
every path. A ``RecordSession`` is one transaction: everything done in it
commits together or not at all, audit rows included.

Records are plain dicts: the live properties by name (a reference holds the
other record's id), plus ``id``, ``version``, ``created_at``, ``updated_at``,
``created_by``, ``updated_by`` and ``owner``. Related records are loaded for a
whole page at once (``fetch``, ``children``): one query per relation and level,
never one per row.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from xrm.entities.catalog_state import Catalog
from xrm.entities.query import BUCKETS, Compiler, Field
from xrm.entities.registry import Registry
from xrm.errors import Conflict, Duplicate, Fault, NotFound, Restricted, ValidationFailed
from xrm.platform import audit
from xrm.platform import tables as platform
from xrm.platform.db import Database
from xrm.platform.identity import Actor
from xrm.platform.ids import new_id
from xrm.platform.settings import Settings
from xrm.schemas.formats import json_value, uuid_text
from xrm.schemas.model import NUMERIC_KINDS, EntityType, Property
from xrm.schemas.validate import RecordValidator

Record = dict[str, Any]

DEFAULT_PAGE = 50
MAX_PAGE = 500
CHUNK = 500  # ids per IN (...) list
SYSTEM_KEYS = ("id", "version", "created_at", "updated_at", "created_by", "updated_by", "owner")
_AUTONUMBER = re.compile(r"\{seq(?::(\d+))?\}")


@dataclass(slots=True)
class Page:
    """One page of a list: its records, where the list goes on, and cursors on demand.

    Cursors are computed only when asked for: building one per record costs
    as much as reading the record, and most lists never show them.
    """

    items: list[Record]
    has_next_page: bool
    total_count: int | None = None
    attributes: list[Record | None] = field(default_factory=list)  # many-to-many link values
    cursor_of: Callable[[int], str] | None = None

    def cursor(self, index: int) -> str:
        assert self.cursor_of is not None
        return self.cursor_of(index)

    @property
    def cursors(self) -> list[str]:
        return [self.cursor(i) for i in range(len(self.items))]

    @property
    def end_cursor(self) -> str | None:
        return self.cursor(len(self.items) - 1) if self.items else None


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0:
        raise ValidationFailed([Fault("first", "must not be negative")])
    if first > MAX_PAGE:
        raise ValidationFailed([Fault("first", f"at most {MAX_PAGE} records per page")])
    return first


def autonumber_text(template: str, value: int) -> str:
    """``"GRV-{seq:6}"`` with 42 gives ``"GRV-000042"``."""
    return _AUTONUMBER.sub(lambda m: str(value).zfill(int(m.group(1) or 0)), template)


class RecordService:
    """Opens record sessions on one database; cheap to keep for the process's lifetime."""

    def __init__(self, db: Database, registry: Registry, settings: Settings) -> None:
        self.db = db
        self.registry = registry
        self.settings = settings

    @contextmanager
    def session(
        self,
        actor: Actor,
        channel: str = "api",
        *,
        request_id: str | None = None,
        write: bool = True,
    ) -> Iterator[RecordSession]:
        """One transaction for ``actor``: committed when the block ends, rolled back on error."""
        transaction = self.db.write() if write else self.db.read()
        with transaction as conn:
            catalog = self.registry.current(conn)
            yield RecordSession(conn, catalog, actor, channel, request_id, self.settings)


class RecordSession:
    """Reads and writes inside one transaction, seeing one schema version."""

    def __init__(
        self,
        conn: Connection,
        catalog: Catalog,
        actor: Actor,
        channel: str,
        request_id: str | None,
        settings: Settings,
    ) -> None:
        self.conn = conn
        self.catalog = catalog
        self.actor = actor
        self.channel = channel
        self.request_id = request_id
        self.dialect = conn.dialect.name
        self.compiler = Compiler(catalog, self.dialect, settings.phone_region)
        self._audit: list[dict[str, Any]] = []
        self._key_cache: dict[str, tuple[str, ...]] = {}

    # --- conversions -------------------------------------------------------------------------

    def _record(self, et: EntityType, row: Any) -> Record:
        out: Record = {
            "id": row["id"],
            "version": row["version"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "created_by": row["created_by"],
            "updated_by": row["updated_by"],
            "owner": row["owner_id"],
        }
        for prop in et.properties.values():
            out[prop.name] = row[prop.column]
        return out

    def _keys(self, et: EntityType) -> tuple[str, ...]:
        """Record keys in the order of ``_columns`` (cached: built per row otherwise)."""
        keys = self._key_cache.get(et.name)
        if keys is None:
            keys = self._key_cache[et.name] = (*SYSTEM_KEYS, *et.properties)
        return keys

    def _from_row(self, et: EntityType, row: Any) -> Record:
        """A record from a result row whose first columns are ``_columns(et, ...)``."""
        return dict(zip(self._keys(et), row, strict=False))

    def _columns(self, et: EntityType, table: sa.FromClause) -> list[Any]:
        names = [
            "id",
            "version",
            "created_at",
            "updated_at",
            "created_by",
            "updated_by",
            "owner_id",
        ]
        names.extend(p.column for p in et.properties.values())
        return [table.c[n] for n in names]

    def _note(
        self, action: str, entity: str, record_id: str | None, changes: Mapping[str, Any] | None
    ) -> None:
        self._audit.append(
            audit.entry(
                self.actor, self.channel, action, entity, record_id, changes, self.request_id
            )
        )

    def _flush_audit(self) -> None:
        if self._audit:
            audit.write(self.conn, self._audit)
            self._audit = []

    # --- validation helpers ------------------------------------------------------------------

    def _unknown_fields(
        self, et: EntityType, values: Mapping[str, Any], prefix: str
    ) -> list[Fault]:
        return [
            Fault(f"{prefix}{key}", f"{et.name} has no field {key!r}")
            for key in values
            if key not in et.properties
        ]

    def _check_references(
        self, et: EntityType, rows: Sequence[Mapping[str, Any]], prefixes: Sequence[str]
    ) -> list[Fault]:
        """Every reference must point at an existing record: one query per target type."""
        faults: list[Fault] = []
        for prop in et.references:
            assert prop.ref is not None
            wanted = {str(r[prop.name]) for r in rows if r.get(prop.name) is not None}
            if not wanted:
                continue
            found = self._existing(prop.ref.entity, sorted(wanted))
            for row, prefix in zip(rows, prefixes, strict=True):
                value = row.get(prop.name)
                if value is not None and str(value) not in found:
                    faults.append(
                        Fault(f"{prefix}{prop.name}", f"no {prop.ref.entity} with id {value}")
                    )
        return faults

    def _existing(self, entity: str, ids: Sequence[str]) -> set[str]:
        table = self.catalog.table(entity)
        found: set[str] = set()
        for chunk in _chunks(ids):
            found.update(
                str(r[0])
                for r in self.conn.execute(sa.select(table.c.id).where(table.c.id.in_(chunk)))
            )
        return found

    def _check_unique(
        self,
        et: EntityType,
        rows: Sequence[Mapping[str, Any]],
        prefixes: Sequence[str],
        exclude: str | None = None,
    ) -> None:
        """Refuse values a unique set already holds (in the table or earlier in this batch)."""
        table = self.catalog.tables[et.name]
        for group in et.unique:
            seen: dict[tuple[Any, ...], str] = {}
            keys: list[tuple[Any, ...]] = []
            for row, prefix in zip(rows, prefixes, strict=True):
                key = tuple(row.get(n) for n in group)
                if any(v is None for v in key):
                    keys.append(())
                    continue
                if key in seen:
                    raise self._duplicate(et, group, prefix, f"repeats {seen[key].rstrip('.')}")
                seen[key] = prefix or "record"
                keys.append(key)
            columns = [table.c[et.properties[n].column] for n in group]
            wanted = [k for k in keys if k]
            for chunk in _chunks(wanted):
                if len(columns) == 1:
                    condition = columns[0].in_([k[0] for k in chunk])
                else:
                    condition = sa.tuple_(*columns).in_(list(chunk))
                query = sa.select(table.c.id, *columns).where(condition)
                if exclude is not None:
                    query = query.where(table.c.id != exclude)
                hit = self.conn.execute(query).first()
                if hit is not None:
                    key = tuple(hit[1:])
                    prefix = prefixes[keys.index(key)] if key in keys else ""
                    raise self._duplicate(et, group, prefix, f"is already used by {hit[0]}")

    @staticmethod
    def _duplicate(et: EntityType, group: Sequence[str], prefix: str, what: str) -> Duplicate:
        names = ", ".join(group)
        return Duplicate(
            f"{et.name}: the value of {names} {what}",
            errors=[Fault(f"{prefix}{n}", f"must be unique; {what}").as_dict() for n in group],
            fields=list(group),
        )

    def _next_numbers(self, et: EntityType, prop: Property, count: int) -> list[int]:
        """Reserve ``count`` numbers of the autonumber sequence, in this transaction.

        The counter row is updated (and so locked) inside the record's own
        transaction: a rolled-back create gives its numbers back, and
        concurrent creates queue on the row, so numbers never skip or repeat.
        """
        name = f"{et.name}.{prop.name}"
        seq = platform.sequences
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(seq)
        self.conn.execute(insert.values(name=name, value=0).on_conflict_do_nothing())
        last = self.conn.execute(
            seq.update()
            .where(seq.c.name == name)
            .values(value=seq.c.value + count)
            .returning(seq.c.value)
        ).scalar_one()
        return list(range(last - count + 1, last + 1))

    # --- create ------------------------------------------------------------------------------

    def create(self, entity: str, values: Mapping[str, Any]) -> Record:
        """Create one record; every failing field is reported at once (``VALIDATION_FAILED``)."""
        return self._create(entity, [values], bulk=False)[0]

    def create_many(
        self, entity: str, rows: Sequence[Mapping[str, Any]], *, prefix: str = "inputs"
    ) -> list[Record]:
        """Create records all or nothing; faults are named ``inputs.<index>.<field>``."""
        return self._create(entity, rows, bulk=True, prefix=prefix)

    def _create(
        self,
        entity: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        bulk: bool,
        prefix: str = "inputs",
    ) -> list[Record]:
        et = self.catalog.entity(entity)
        if et.system:
            raise ValidationFailed([Fault("", f"{entity} records are read-only here")])
        validator: RecordValidator = self.catalog.validators[entity]
        prefixes = [f"{prefix}.{i}." if bulk else "" for i in range(len(rows))]
        faults: list[Fault] = []
        clean_rows: list[dict[str, Any]] = []
        for values, here in zip(rows, prefixes, strict=True):
            if not isinstance(values, Mapping):
                faults.append(Fault(here.rstrip("."), "a record is an object"))
                clean_rows.append({})
                continue
            faults.extend(self._unknown_fields(et, values, here))
            clean, own = validator.for_create(
                {k: v for k, v in values.items() if k in et.properties}, here
            )
            faults.extend(own)
            clean_rows.append(clean)
        if not faults:
            faults.extend(self._check_references(et, clean_rows, prefixes))
        if faults:
            raise ValidationFailed(faults)
        self._check_unique(et, clean_rows, prefixes)
        for prop in et.properties.values():
            if prop.autonumber:
                missing = [r for r in clean_rows if r.get(prop.name) is None]
                numbers = self._next_numbers(et, prop, len(missing)) if missing else []
                for pending, number in zip(missing, numbers, strict=True):
                    pending[prop.name] = autonumber_text(prop.autonumber, number)
        now = dt.datetime.now(dt.UTC)
        table = self.catalog.tables[entity]
        inserts: list[dict[str, Any]] = []
        records: list[Record] = []
        for clean in clean_rows:
            record_id = new_id()
            row: dict[str, Any] = {
                "id": record_id,
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "created_by": self.actor.id,
                "updated_by": self.actor.id,
                "owner_id": self.actor.id,
            }
            row.update({p.column: clean.get(p.name) for p in et.properties.values()})
            inserts.append(row)
            records.append(self._record(et, row))
            changes = {k: [None, json_value(v)] for k, v in clean.items() if v is not None}
            self._note("create", entity, record_id, changes)
        self._insert(et, table, inserts)
        self._flush_audit()
        return records

    def _insert(self, et: EntityType, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(table.insert(), rows)
        except sa.exc.IntegrityError as exc:
            # Lost a race with a concurrent writer after our checks passed.
            raise Duplicate(f"{et.name}: a unique value is already used ({exc.orig})") from None

    # --- read --------------------------------------------------------------------------------

    def get(self, entity: str, record_id: str) -> Record | None:
        """The record, or None when there is none with that id."""
        return self.fetch(entity, [record_id]).get(str(record_id))

    def fetch(self, entity: str, ids: Iterable[str]) -> dict[str, Record]:
        """Records by id, for a whole page of references at once (one query per 500 ids)."""
        et = self.catalog.entity(entity)
        table = self.catalog.tables[entity]
        wanted: list[str] = []
        for raw in ids:
            if raw is None:
                continue
            try:
                wanted.append(formats_uuid(raw))
            except ValueError:
                continue
        out: dict[str, Record] = {}
        for chunk in _chunks(sorted(set(wanted))):
            query = sa.select(*self._columns(et, table)).where(table.c.id.in_(chunk))
            for row in self.conn.execute(query):
                record = self._from_row(et, row)
                out[record["id"]] = record
        return out

    def users(self, ids: Iterable[str | None]) -> dict[str, Record]:
        """Users by id (``id``, ``email``, ``name``), for a page of owners or assignees at once."""
        table = platform.users
        wanted = sorted({str(i) for i in ids if i is not None})
        out: dict[str, Record] = {}
        for chunk in _chunks(wanted):
            query = sa.select(table.c.id, table.c.email, table.c.name).where(table.c.id.in_(chunk))
            for row in self.conn.execute(query):
                out[str(row.id)] = {"id": str(row.id), "email": row.email, "name": row.name}
        return out

    def history(self, entity: str, ids: Iterable[str]) -> dict[str, list[Record]]:
        """The audit entries of many records of ``entity``, oldest first, in one query."""
        table = platform.audit
        wanted = sorted({str(i) for i in ids})
        out: dict[str, list[Record]] = {i: [] for i in wanted}
        for chunk in _chunks(wanted):
            query = (
                sa.select(
                    table.c.record_id,
                    table.c.at,
                    table.c.actor_email,
                    table.c.action,
                    table.c.changes,
                )
                .where(table.c.entity == entity, table.c.record_id.in_(chunk))
                .order_by(table.c.id)
            )
            for row in self.conn.execute(query):
                out[row.record_id].append(
                    {
                        "at": row.at,
                        "actor": row.actor_email,
                        "action": row.action,
                        "changes": row.changes,
                    }
                )
        return out

    def query(
        self,
        entity: str,
        *,
        filter: Mapping[str, Any] | None = None,
        order_by: Sequence[Any] | None = None,
        first: int | None = None,
        after: str | None = None,
        with_total: bool = True,
    ) -> Page:
        """A filtered, ordered page of records with keyset pagination and the total count."""
        et = self.catalog.entity(entity)
        table = self.catalog.tables[entity]
        size = _page_size(first)
        condition = self.compiler.where(entity, table, filter)
        order = self.compiler.ordering(entity, table, order_by)
        query = sa.select(*self._columns(et, table)).where(condition)
        if after:
            query = query.where(
                self.compiler.seek(order, self.compiler.decode_cursor(order, after))
            )
        query = query.order_by(*self.compiler.order_clauses(order)).limit(size + 1)
        rows = self.conn.execute(query).all()
        page = self._page(et, order, rows, size)
        if with_total:
            count = sa.select(sa.func.count()).select_from(table).where(condition)
            page.total_count = int(self.conn.execute(count).scalar_one())
        return page

    def _page(
        self, et: EntityType, order: Sequence[tuple[Field, bool]], rows: Sequence[Any], size: int
    ) -> Page:
        shown = rows[:size]
        compiler = self.compiler
        return Page(
            items=[self._from_row(et, r) for r in shown],
            has_next_page=len(rows) > size,
            cursor_of=lambda index: compiler.cursor(order, shown[index]._mapping),
        )

    def children(
        self,
        entity: str,
        field_name: str,
        parent_ids: Sequence[str],
        *,
        filter: Mapping[str, Any] | None = None,
        order_by: Sequence[Any] | None = None,
        first: int | None = None,
        after: str | None = None,
        with_total: bool = False,
    ) -> dict[str, Page]:
        """The to-many field ``field_name`` of many parents at once: one query, plus one for totals.

        Works for inverse fields (contacts of customers) and both sides of a
        many-to-many relationship (with the link's attributes on each page).
        Each parent gets its own page of at most ``first`` records, cut with a
        window function partitioned by parent.
        """
        size = _page_size(first)
        inverse = self.catalog.inverses.get(entity, {}).get(field_name)
        link = self.catalog.links.get(entity, {}).get(field_name)
        if inverse is None and link is None:
            raise ValidationFailed(
                [Fault(field_name, f"{entity} has no to-many field {field_name!r}")]
            )
        other_entity = inverse.entity if inverse else link.other  # type: ignore[union-attr]
        other_et = self.catalog.entity(other_entity)
        other = self.catalog.tables[other_entity].alias("o")
        attribute_columns: list[Any] = []
        if inverse is not None:
            parent_col = other.c[other_et.properties[inverse.property].column]
            source: sa.FromClause = other
        else:
            assert link is not None
            rel = self.catalog.relationships[link.relationship]
            link_table = self.catalog.link_tables[link.relationship].alias("l")
            near, far = ("from_id", "to_id") if link.outgoing else ("to_id", "from_id")
            parent_col = link_table.c[near]
            source = link_table.join(other, other.c.id == link_table.c[far])
            attribute_columns = [
                link_table.c[p.column].label(f"_attr_{p.name}") for p in rel.properties.values()
            ]
        condition = self.compiler.where(other_entity, other, filter)
        order = self.compiler.ordering(other_entity, other, order_by)
        if after:
            condition = sa.and_(
                condition, self.compiler.seek(order, self.compiler.decode_cursor(order, after))
            )
        pages: dict[str, Page] = {}
        ids = sorted({str(i) for i in parent_ids})
        for chunk in _chunks(ids):
            rank = (
                sa.func.row_number()
                .over(partition_by=parent_col, order_by=self.compiler.order_clauses(order))
                .label("_rank")
            )
            inner = (
                sa.select(
                    *self._columns(other_et, other),
                    *attribute_columns,
                    parent_col.label("_parent"),
                    rank,
                )
                .select_from(source)
                .where(parent_col.in_(chunk), condition)
                .subquery("w")
            )
            outer = (
                sa.select(inner)
                .where(inner.c["_rank"] <= size + 1)
                .order_by(inner.c["_parent"], inner.c["_rank"])
            )
            grouped: dict[str, list[Any]] = defaultdict(list)
            for row in self.conn.execute(outer):
                grouped[str(row._mapping["_parent"])].append(row)
            for parent in chunk:
                rows = grouped.get(parent, [])
                page = self._page(other_et, order, rows, size)
                if link is not None:
                    rel = self.catalog.relationships[link.relationship]
                    page.attributes = [
                        {p.name: r._mapping[f"_attr_{p.name}"] for p in rel.properties.values()}
                        for r in rows[:size]
                    ]
                pages[parent] = page
            if with_total:
                counts = (
                    sa.select(parent_col, sa.func.count())
                    .select_from(source)
                    .where(parent_col.in_(chunk), self.compiler.where(other_entity, other, filter))
                    .group_by(parent_col)
                )
                totals = {str(p): int(n) for p, n in self.conn.execute(counts)}
                for parent in chunk:
                    pages[parent].total_count = totals.get(parent, 0)
        return pages

    def aggregate(
        self,
        entity: str,
        *,
        filter: Mapping[str, Any] | None = None,
        group_by: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Count, and sum/avg/min/max of every numeric field, per group (date buckets allowed).

        ``group_by`` names fields, ``"created_at:month"`` buckets a date or
        date-time (``day``, ``week`` starting Monday, ``month``, ``year``); the
        group key is the ISO date the bucket starts.
        """
        et = self.catalog.entity(entity)
        table = self.catalog.tables[entity]
        condition = self.compiler.where(entity, table, filter)
        keys: list[tuple[str, Any]] = []
        faults: list[Fault] = []
        for index, spec in enumerate(group_by or ()):
            name, _, unit = str(spec).partition(":")
            path = f"groupBy.{index}"
            try:
                fld = self.compiler.field(entity, table, name, path)
            except ValidationFailed as exc:
                faults.extend(exc.faults)
                continue
            if unit:
                if unit not in BUCKETS or fld.kind not in ("date", "datetime"):
                    faults.append(
                        Fault(path, f"{spec!r}: buckets ({', '.join(BUCKETS)}) apply to dates")
                    )
                    continue
                keys.append((str(spec), self.compiler.bucket(fld, unit)))
            elif fld.kind in ("array", "object"):
                faults.append(Fault(path, "lists and objects cannot be grouped"))
            else:
                keys.append((str(spec), fld.column))
        if faults:
            raise ValidationFailed(faults)
        numeric = [p for p in et.properties.values() if p.kind in NUMERIC_KINDS]
        measures: list[Any] = [sa.func.count().label("_count")]
        for prop in numeric:
            fld = self.compiler.field(entity, table, prop.name, prop.name)
            value = fld.comparable
            measures.extend(
                [
                    sa.func.sum(value).label(f"sum_{prop.name}"),
                    sa.func.avg(value).label(f"avg_{prop.name}"),
                    sa.func.min(value).label(f"min_{prop.name}"),
                    sa.func.max(value).label(f"max_{prop.name}"),
                ]
            )
        labelled = [expr.label(f"_g{i}") for i, (_, expr) in enumerate(keys)]
        query = sa.select(*labelled, *measures).select_from(table).where(condition)
        if labelled:
            query = query.group_by(*[expr for _, expr in keys]).order_by(
                *[sa.nulls_last(expr.asc()) for _, expr in keys]
            )
        out = []
        for row in self.conn.execute(query).mappings():
            group = {name: json_value(row[f"_g{i}"]) for i, (name, _) in enumerate(keys)}
            result: dict[str, Any] = {"group": group, "count": int(row["_count"])}
            for measure in ("sum", "avg", "min", "max"):
                result[measure] = {
                    p.name: _number(row[f"{measure}_{p.name}"], p, measure) for p in numeric
                }
            out.append(result)
        return out

    # --- update ------------------------------------------------------------------------------

    def _locked_row(self, et: EntityType, record_id: str) -> Any:
        table = self.catalog.tables[et.name]
        try:
            key = formats_uuid(record_id)
        except ValueError:
            raise NotFound(
                f"no {et.name} with id {record_id}", entity=et.name, id=record_id
            ) from None
        query = sa.select(table).where(table.c.id == key)
        if self.dialect == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"no {et.name} with id {record_id}", entity=et.name, id=record_id)
        return row

    def update(
        self,
        entity: str,
        record_id: str,
        patch: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> Record:
        """Change the given fields only; a stale ``expected_version`` is a ``CONFLICT``."""
        et = self.catalog.entity(entity)
        table = self.catalog.tables[entity]
        row = self._locked_row(et, record_id)
        if expected_version is not None and row["version"] != expected_version:
            raise Conflict(
                f"{entity} {record_id} is at version {row['version']}, not {expected_version}: "
                "someone else changed it; reload and try again",
                currentVersion=row["version"],
            )
        faults = self._unknown_fields(et, patch, "")
        clean, own = self.catalog.validators[entity].for_patch(
            {k: v for k, v in patch.items() if k in et.properties}
        )
        faults.extend(own)
        if not faults:
            faults.extend(self._check_references(et, [clean], [""]))
        if faults:
            raise ValidationFailed(faults)
        old = self._record(et, row)
        changed = {k: v for k, v in clean.items() if old.get(k) != v}
        if not changed:
            return old
        merged = {**old, **changed}
        if any(set(g) & set(changed) for g in et.unique):
            self._check_unique(et, [merged], [""], exclude=row["id"])
        now = dt.datetime.now(dt.UTC)
        values = {et.properties[k].column: v for k, v in changed.items()}
        values.update(version=row["version"] + 1, updated_at=now, updated_by=self.actor.id)
        try:
            with self.conn.begin_nested():
                done = self.conn.execute(
                    table.update()
                    .where(table.c.id == row["id"], table.c.version == row["version"])
                    .values(values)
                )
        except sa.exc.IntegrityError as exc:
            raise Duplicate(f"{entity}: a unique value is already used ({exc.orig})") from None
        if done.rowcount != 1:
            raise Conflict(f"{entity} {record_id} changed meanwhile; reload and try again")
        self._note(
            "update",
            entity,
            row["id"],
            {k: [json_value(old.get(k)), json_value(v)] for k, v in changed.items()},
        )
        self._flush_audit()
        merged.update(version=row["version"] + 1, updated_at=now, updated_by=self.actor.id)
        return merged

    # --- delete ------------------------------------------------------------------------------

    def delete(self, entity: str, record_id: str) -> bool:
        """Delete a record, applying every ``onDelete`` rule that points at it, transitively.

        ``restrict`` refuses (``RESTRICTED``, naming the blocking references);
        ``cascade`` deletes the referring records too; ``set_null`` clears the
        reference. Retired references are cleared, since their target is gone.
        """
        et = self.catalog.entity(entity)
        row = self._locked_row(et, record_id)
        doomed: dict[str, set[str]] = {entity: {row["id"]}}
        frontier: list[tuple[str, list[str]]] = [(entity, [row["id"]])]
        # 1. The closure of cascades.
        while frontier:
            target, ids = frontier.pop()
            for referrer, prop in self.catalog.referrers.get(target, ()):
                assert prop.ref is not None
                if prop.ref.on_delete != "cascade":
                    continue
                found = self._referring(referrer, prop.column, ids)
                new = [i for i in found if i not in doomed.setdefault(referrer, set())]
                if new:
                    doomed[referrer].update(new)
                    frontier.append((referrer, new))
        # 2. Restrictions from records that would survive.
        blockers: list[str] = []
        for target, doomed_ids in doomed.items():
            for referrer, prop in self.catalog.referrers.get(target, ()):
                assert prop.ref is not None
                if prop.ref.on_delete != "restrict":
                    continue
                found = [
                    i
                    for i in self._referring(referrer, prop.column, sorted(doomed_ids))
                    if i not in doomed.get(referrer, set())
                ]
                if found:
                    blockers.append(f"{len(found)} {referrer} record(s) by {prop.name}")
        if blockers:
            raise Restricted(
                f"cannot delete {entity} {record_id}: still referenced by " + "; ".join(blockers),
                references=blockers,
            )
        now = dt.datetime.now(dt.UTC)
        # 3. set_null on survivors, and on retired references to anything doomed.
        for target, doomed_ids in doomed.items():
            for et_other in self.catalog.types.values():
                retired = [
                    p
                    for p in et_other.retired.values()
                    if p.ref is not None and p.ref.entity == target
                ]
                live = [
                    p
                    for p in et_other.references
                    if p.ref is not None
                    and p.ref.entity == target
                    and p.ref.on_delete == "set_null"
                ]
                for prop in [*live, *retired]:
                    self._set_null(
                        et_other,
                        prop,
                        sorted(doomed_ids),
                        doomed.get(et_other.name, set()),
                        now,
                        audited=prop in live,
                    )
        # 4. References between doomed records are cleared first, so order never matters.
        for name, doomed_ids in doomed.items():
            doomed_et = self.catalog.types[name]
            table = self.catalog.tables[name]
            for prop in [*doomed_et.references, *doomed_et.retired.values()]:
                if prop.ref is not None and prop.ref.entity in doomed:
                    for chunk in _chunks(sorted(doomed_ids)):
                        self.conn.execute(
                            table.update().where(table.c.id.in_(chunk)).values({prop.column: None})
                        )
        for name, doomed_ids in doomed.items():
            doomed_et = self.catalog.types[name]
            table = self.catalog.tables[name]
            for chunk in _chunks(sorted(doomed_ids)):
                olds = (
                    self.conn.execute(
                        sa.select(*self._columns(doomed_et, table)).where(table.c.id.in_(chunk))
                    )
                    .mappings()
                    .all()
                )
                for old in olds:
                    values = self._record(doomed_et, old)
                    changes = {
                        p: [json_value(values[p]), None]
                        for p in doomed_et.properties
                        if values[p] is not None
                    }
                    self._note("delete", name, old["id"], changes)
        for name, doomed_ids in doomed.items():
            table = self.catalog.tables[name]
            for chunk in _chunks(sorted(doomed_ids)):
                self.conn.execute(table.delete().where(table.c.id.in_(chunk)))
        self._flush_audit()
        return True

    def _referring(self, entity: str, column: str, ids: Sequence[str]) -> list[str]:
        table = self.catalog.tables[entity]
        out: list[str] = []
        for chunk in _chunks(ids):
            out.extend(
                str(r[0])
                for r in self.conn.execute(sa.select(table.c.id).where(table.c[column].in_(chunk)))
            )
        return out

    def _set_null(
        self,
        et: EntityType,
        prop: Property,
        target_ids: Sequence[str],
        skip: set[str],
        now: dt.datetime,
        *,
        audited: bool,
    ) -> None:
        table = self.catalog.tables[et.name]
        for chunk in _chunks(target_ids):
            rows = self.conn.execute(
                sa.select(table.c.id, table.c[prop.column]).where(table.c[prop.column].in_(chunk))
            ).all()
            ids = [r[0] for r in rows if r[0] not in skip]
            if not ids:
                continue
            values: dict[str, Any] = {prop.column: None}
            if audited:
                values.update(version=table.c.version + 1, updated_at=now, updated_by=self.actor.id)
            self.conn.execute(table.update().where(table.c.id.in_(ids)).values(values))
            if audited:
                for record_id, old in rows:
                    if record_id not in skip:
                        self._note("update", et.name, record_id, {prop.name: [str(old), None]})

    # --- links -------------------------------------------------------------------------------

    def link(
        self,
        relationship: str,
        from_id: str,
        to_id: str,
        attributes: Mapping[str, Any] | None = None,
    ) -> bool:
        """Link two records (again: replaces the link's attributes); both must exist."""
        rel = self.catalog.relationship(relationship)
        validator = self.catalog.link_validators[relationship]
        attributes = attributes or {}
        faults = [
            Fault(f"attributes.{k}", f"{relationship} has no attribute {k!r}")
            for k in attributes
            if k not in rel.properties
        ]
        clean, own = validator.for_create(
            {k: v for k, v in attributes.items() if k in rel.properties}, "attributes."
        )
        faults.extend(own)
        keys: dict[str, str] = {}
        for name, value, entity in (
            ("fromId", from_id, rel.from_entity),
            ("toId", to_id, rel.to_entity),
        ):
            try:
                keys[name] = formats_uuid(value)
            except ValueError:
                faults.append(Fault(name, "not an id"))
                continue
            if not self._existing(entity, [keys[name]]):
                faults.append(Fault(name, f"no {entity} with id {value}"))
        if faults:
            raise ValidationFailed(faults)
        table = self.catalog.link_tables[relationship]
        match = sa.and_(table.c.from_id == keys["fromId"], table.c.to_id == keys["toId"])
        columns = {p.column: clean.get(p.name) for p in rel.properties.values()}
        existing = self.conn.execute(sa.select(table.c.from_id).where(match)).first()
        if existing is None:
            self.conn.execute(
                table.insert().values(
                    from_id=keys["fromId"],
                    to_id=keys["toId"],
                    created_at=dt.datetime.now(dt.UTC),
                    created_by=self.actor.id,
                    **columns,
                )
            )
        elif columns:
            self.conn.execute(table.update().where(match).values(columns))
        self._note(
            "link",
            relationship,
            f"{keys['fromId']}:{keys['toId']}",
            {k: json_value(v) for k, v in clean.items()},
        )
        self._flush_audit()
        return True

    def unlink(self, relationship: str, from_id: str, to_id: str) -> bool:
        """Remove a link; False when there was none."""
        self.catalog.relationship(relationship)
        table = self.catalog.link_tables[relationship]
        try:
            keys = formats_uuid(from_id), formats_uuid(to_id)
        except ValueError:
            return False
        done = self.conn.execute(
            table.delete().where(table.c.from_id == keys[0], table.c.to_id == keys[1])
        )
        if done.rowcount:
            self._note("unlink", relationship, f"{keys[0]}:{keys[1]}", None)
            self._flush_audit()
        return bool(done.rowcount)


def formats_uuid(value: Any) -> str:
    """An id in its one canonical form (lowercase, hyphenated); ValueError otherwise."""
    return str(uuid_text(value))


def _number(value: Any, prop: Property, measure: str) -> Any:
    """Aggregates as JSON numbers: ints stay ints, decimals become exact where possible."""
    if value is None:
        return None
    if measure == "avg":
        return float(value)
    if prop.kind == "decimal":
        exact = value if isinstance(value, Decimal) else Decimal(repr(value))
        return int(exact) if exact == exact.to_integral_value() else float(exact)
    if prop.kind in ("integer", "int64"):
        return int(value)
    return float(value)
