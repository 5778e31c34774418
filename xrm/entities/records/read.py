"""Reading records: by id, as filtered pages, as to-many pages of many parents, as aggregates.

Related records are loaded for a whole page at once (``fetch``,
``children``): one query per relation and level, never one per row. Every
read narrows to the rows the actor may read and masks hidden fields; reads
write nothing, so this module needs only access and shape. ``users`` and
``history`` (the audit trail as the actor may see it) are reads too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from xrm.entities import measures
from xrm.entities.measures import decimal_min
from xrm.entities.query import BUCKETS, Field, row_key
from xrm.entities.records.access import AccessMixin
from xrm.entities.records.pages import Page, Record, chunks, page_size
from xrm.entities.records.shape import ShapeMixin, formats_uuid
from xrm.errors import Fault, ValidationFailed
from xrm.platform import tables as platform
from xrm.schemas.formats import json_value
from xrm.schemas.model import NUMERIC_KINDS, EntityType


class ReadMixin(AccessMixin, ShapeMixin):
    """``get``, ``fetch``, ``query``, ``children``, ``aggregate``, ``users`` and ``history``."""

    def get(
        self, entity: str, record_id: str, *, fields: frozenset[str] | None = None
    ) -> Record | None:
        """The record, or None when there is none with that id (in any UUID spelling)."""
        try:
            key = formats_uuid(record_id)
        except ValueError:
            return None
        return self.fetch(entity, [key], fields=fields).get(key)

    def fetch(
        self, entity: str, ids: Iterable[str], *, fields: frozenset[str] | None = None
    ) -> dict[str, Record]:
        """Records by id, for a whole page of references at once (one query per 500 ids).

        ``fields``: read only ``id`` and these record keys (see ``_columns``).
        """
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
        readable = self.rows(entity, table)
        key = (self.catalog.version, "fetch", entity, fields)
        query = self._statements.get(key) if readable is None else None
        if query is None:
            query = sa.select(*self._columns(et, table, fields)).where(
                table.c.id.in_(sa.bindparam("ids", expanding=True))
            )
            if readable is not None:
                query = query.where(readable)
            else:
                self._statements[key] = query
        for chunk in chunks(sorted(set(wanted))):
            for row in self.conn.execute(query, {"ids": chunk}):
                record = self._from_row(et, row, fields)
                out[record["id"]] = record
        self._mask(entity, out.values())
        return out

    def users(self, ids: Iterable[str | None]) -> dict[str, Record]:
        """Users by id (``id``, ``email``, ``name``), for a page of owners or assignees at once."""
        table = platform.users
        wanted = sorted({str(i) for i in ids if i is not None})
        out: dict[str, Record] = {}
        for chunk in chunks(wanted):
            query = sa.select(table.c.id, table.c.email, table.c.name).where(table.c.id.in_(chunk))
            for row in self.conn.execute(query):
                out[str(row.id)] = {"id": str(row.id), "email": row.email, "name": row.name}
        return out

    def history(self, entity: str, ids: Iterable[str]) -> dict[str, list[Record]]:
        """The audit entries of many records of ``entity``, oldest first, in one query.

        Each entry: ``at``, ``actor`` (e-mail), ``action``, ``version``, ``changes``
        (keyed by property name, as stored), ``channel`` and ``request_id``.

        Changes to fields hidden from the actor are left out, and so are updates
        that changed nothing else: a hidden field must not show even that it moved.
        Records the actor cannot read have no history for it.
        """
        self.permissions.require(entity, "read")
        hidden = self.permissions.hidden(entity)
        table = platform.audit
        wanted = sorted({str(i) for i in ids})
        out: dict[str, list[Record]] = {i: [] for i in wanted}
        if self.permissions.scope(entity, "read") == "own":
            wanted = sorted(self._existing(entity, wanted))
        for chunk in chunks(wanted):
            query = (
                sa.select(
                    table.c.record_id,
                    table.c.at,
                    table.c.actor_email,
                    table.c.action,
                    table.c.changes,
                    table.c.channel,
                    table.c.request_id,
                )
                .where(table.c.entity == entity, table.c.record_id.in_(chunk))
                .order_by(table.c.id)
            )
            versions: dict[str, int] = {}
            for row in self.conn.execute(query):
                version = None
                if row.action in ("create", "update"):
                    version = versions[row.record_id] = versions.get(row.record_id, 0) + 1
                changes = row.changes
                if hidden and isinstance(changes, dict):
                    changes = {k: v for k, v in changes.items() if k not in hidden}
                    if not changes and row.action == "update":
                        continue
                out[row.record_id].append(
                    {
                        "at": row.at,
                        "actor": row.actor_email,
                        "action": row.action,
                        "version": version,
                        "changes": changes,
                        "channel": row.channel,
                        "request_id": row.request_id,
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
        fields: frozenset[str] | None = None,
    ) -> Page:
        """A filtered, ordered page of records with keyset pagination and the total count.

        ``fields``: read only ``id``, these record keys and the ordering's columns.
        """
        et = self.catalog.entity(entity)
        table = self.catalog.tables[entity]
        size = page_size(first, self.settings)
        readable = self.rows(entity, table)
        condition = self.compiler.where(entity, table, filter)
        if readable is not None:
            condition = sa.and_(condition, readable)
        order = self.compiler.ordering(entity, table, order_by)
        if fields is not None:  # cursors are made of the ordering's values
            fields = fields | {row_key(f) for f, _ in order}
        columns = self._columns(et, table, fields)
        base = sa.select(*columns).order_by(*self.compiler.order_clauses(order))
        tail = None
        if after:
            values = self.compiler.decode_cursor(order, after)
            ranged = self.compiler.row_seek(order, values)
            if ranged is None:
                seek = self.compiler.seek(order, values)
                rows = self.conn.execute(base.where(condition, seek).limit(size + 1)).all()
            else:
                primary, tail = ranged
                plain = sa.select(*columns).order_by(*self.compiler.plain_order_clauses(order))
                rows = self.conn.execute(plain.where(condition, primary).limit(size + 1)).all()
        elif self.dialect == "sqlite" and (ranges := self.compiler.first_ranges(order)):
            plain = sa.select(*columns).order_by(*self.compiler.plain_order_clauses(order))
            rows = []
            for part in ranges:
                more = plain.where(condition, part).limit(size + 1 - len(rows))
                rows.extend(self.conn.execute(more).all())
                if len(rows) > size:
                    break
        else:
            rows = self.conn.execute(base.where(condition).limit(size + 1)).all()
        if tail is not None and len(rows) <= size:  # the range ran out: nulls come last
            more = base.where(condition, tail).limit(size + 1 - len(rows))
            rows = [*rows, *self.conn.execute(more).all()]
        page = self._page(et, order, rows, size, fields)
        self._mask(entity, page.items)
        if with_total:
            count = sa.select(sa.func.count()).select_from(table).where(condition)
            page.total_count = int(self.conn.execute(count).scalar_one())
        return page

    def _page(
        self,
        et: EntityType,
        order: Sequence[tuple[Field, bool]],
        rows: Sequence[Any],
        size: int,
        fields: frozenset[str] | None = None,
    ) -> Page:
        shown = rows[:size]
        compiler = self.compiler
        return Page(
            items=[self._from_row(et, r, fields) for r in shown],
            has_next_page=len(rows) > size,
            cursor_of=lambda index: compiler.cursor(order, shown[index]._mapping),
        )

    def _alias(self, name: str, alias: str, *, link: bool = False) -> sa.Alias:
        """A named alias of a table, kept: making one builds a proxy for every column."""
        key = (self.catalog.version, "alias", name, alias, link)
        found = self._statements.get(key)
        if found is None:
            table = (self.catalog.link_tables if link else self.catalog.tables)[name]
            found = self._statements[key] = table.alias(alias)
        return found

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
        fields: frozenset[str] | None = None,
    ) -> dict[str, Page]:
        """The to-many field ``field_name`` of many parents at once: one query, plus one for totals.

        Works for inverse fields (contacts of customers) and both sides of a
        many-to-many relationship (with the link's attributes on each page).
        Each parent gets its own page of at most ``first`` records, cut with a
        window function partitioned by parent.
        """
        size = page_size(first, self.settings)
        inverse = self.catalog.inverses.get(entity, {}).get(field_name)
        link = self.catalog.links.get(entity, {}).get(field_name)
        if inverse is None and link is None:
            raise ValidationFailed(
                [Fault(field_name, f"{entity} has no to-many field {field_name!r}")]
            )
        other_entity = inverse.entity if inverse else link.other  # type: ignore[union-attr]
        other_et = self.catalog.entity(other_entity)
        other = self._alias(other_entity, "o")
        attribute_columns: list[Any] = []
        if inverse is not None:
            parent_col = other.c[other_et.properties[inverse.property].column]
            source: sa.FromClause = other
        else:
            assert link is not None
            rel = self.catalog.relationships[link.relationship]
            link_table = self._alias(link.relationship, "l", link=True)
            near, far = ("from_id", "to_id") if link.outgoing else ("to_id", "from_id")
            parent_col = link_table.c[near]
            source = link_table.join(other, other.c.id == link_table.c[far])
            attribute_columns = [
                link_table.c[p.column].label(f"_attr_{p.name}") for p in rel.properties.values()
            ]
        readable = self.rows(other_entity, other)
        condition = self.compiler.where(other_entity, other, filter)
        if readable is not None:
            condition = sa.and_(condition, readable)
        order = self.compiler.ordering(other_entity, other, order_by)
        if fields is not None:  # cursors are made of the ordering's values
            fields = fields | {row_key(f) for f, _ in order}
        if after:
            condition = sa.and_(
                condition, self.compiler.seek(order, self.compiler.decode_cursor(order, after))
            )
        pages: dict[str, Page] = {}
        ids = sorted({str(i) for i in parent_ids})

        def build() -> sa.Select[Any]:
            rank = (
                sa.func.row_number()
                .over(partition_by=parent_col, order_by=self.compiler.order_clauses(order))
                .label("_rank")
            )
            inner = (
                sa.select(
                    *self._columns(other_et, other, fields),
                    *attribute_columns,
                    parent_col.label("_parent"),
                    rank,
                )
                .select_from(source)
                .where(parent_col.in_(sa.bindparam("parents", expanding=True)), condition)
                .subquery("w")
            )
            return (
                sa.select(inner)
                .where(inner.c["_rank"] <= size + 1)
                .order_by(inner.c["_parent"], inner.c["_rank"])
            )

        # Building this statement (a subquery's column proxies) costs more than running it;
        # without a filter, cursor or row scope it is the same for every caller: keep it.
        if filter is None and order_by is None and after is None and readable is None:
            key = (self.catalog.version, entity, field_name, size, fields)
            outer = self._statements.get(key)
            if outer is None:
                outer = self._statements[key] = build()
        else:
            outer = build()
        for chunk in chunks(ids):
            # Positions, not row._mapping: a mapping view per row costs more than the row.
            first_attribute = len(self._keys(other_et, fields))
            parent_at = first_attribute + len(attribute_columns)
            grouped: dict[str, list[Any]] = defaultdict(list)
            for row in self.conn.execute(outer, {"parents": chunk}):
                grouped[str(row[parent_at])].append(row)
            for parent in chunk:
                rows = grouped.get(parent, [])
                page = self._page(other_et, order, rows, size, fields)
                self._mask(other_entity, page.items)
                if link is not None:
                    rel = self.catalog.relationships[link.relationship]
                    names = list(rel.properties)
                    page.attributes = [
                        dict(zip(names, r[first_attribute:parent_at], strict=True))
                        for r in rows[:size]
                    ]
                pages[parent] = page
            if with_total:
                counts = (
                    sa.select(parent_col, sa.func.count())
                    .select_from(source)
                    .where(
                        parent_col.in_(chunk),
                        self.compiler.where(other_entity, other, filter),
                        *([] if readable is None else [readable]),
                    )
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
        readable = self.rows(entity, table)
        condition = self.compiler.where(entity, table, filter)
        if readable is not None:
            condition = sa.and_(condition, readable)
        keys: list[tuple[str, Any, Any]] = []  # (name, value shown, value grouped by)
        decimal_keys: set[int] = set()  # positions in keys of decimal fields
        faults: list[Fault] = []
        seen: dict[str, int] = {}  # each group key once: the groups are keyed by it
        for index, spec in enumerate(group_by or ()):
            name, _, unit = str(spec).partition(":")
            path = f"groupBy.{index}"
            if seen.setdefault(str(spec), index) != index:
                faults.append(Fault(path, f"already grouped by (groupBy.{seen[str(spec)]})"))
                continue
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
                bucket = self.compiler.bucket(fld, unit)
                keys.append((str(spec), bucket, bucket))
            elif fld.kind in ("array", "object"):
                faults.append(Fault(path, "lists and objects cannot be grouped"))
            elif fld.kind == "decimal":  # one group per value, shown in its longest spelling
                decimal_keys.add(len(keys))
                keys.append((str(spec), decimal_min(fld.column, self.dialect), fld.comparable))
            else:
                keys.append((str(spec), fld.column, fld.column))
        if faults:
            raise ValidationFailed(faults)
        hidden = self.permissions.hidden(entity)
        numeric = [
            p for p in et.properties.values() if p.kind in NUMERIC_KINDS and p.name not in hidden
        ]
        columns: list[Any] = [sa.func.count().label("_count")]
        for index, prop in enumerate(numeric):
            column = table.c[prop.column]
            columns.extend(measures.columns(f"m{index}", prop.kind, column, self.dialect))
        labelled = [shown.label(f"_g{i}") for i, (_, shown, _) in enumerate(keys)]
        query = sa.select(*labelled, *columns).select_from(table).where(condition)
        if labelled:
            query = query.group_by(*[grouped for _, _, grouped in keys]).order_by(
                *[sa.nulls_last(grouped.asc()) for _, _, grouped in keys]
            )
        out = []
        for row in self.conn.execute(query).mappings():
            group = {}
            for i, (name, _, _) in enumerate(keys):
                value = row[f"_g{i}"]
                group[name] = json_value(measures.decimal(value) if i in decimal_keys else value)
            result: dict[str, Any] = {"group": group, "count": int(row["_count"])}
            found = [measures.values(f"m{i}", p.kind, row) for i, p in enumerate(numeric)]
            for measure in measures.MEASURES:
                result[measure] = {p.name: v[measure] for p, v in zip(numeric, found, strict=True)}
            out.append(result)
        return out
