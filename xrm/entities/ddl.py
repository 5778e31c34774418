"""Carry out a plan's steps against the database: data checks first, then DDL through Alembic.

Checks read every stored value and run it through the new definition's
normaliser, so a refusal names the exact records that would break. DDL goes
through Alembic's operations (batch mode on SQLite, whose ALTER TABLE is
limited); the whole plan runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Connection

from xrm.entities.broken_rules import Breaks, Diagnosis, diagnose
from xrm.entities.catalog_state import Catalog
from xrm.errors import DefinitionError
from xrm.schemas.convert import converter
from xrm.schemas.model import Property
from xrm.schemas.naming import constraint_name
from xrm.schemas.plan import Step
from xrm.schemas.tables import (
    column_type,
    id_type,
    lookup_index,
    property_column,
    target_table,
)


def check_rows(
    conn: Connection,
    table: sa.Table,
    step: Step,
    phone_region: str,
    breaks: Breaks | None = None,
) -> list[tuple[str, Any, Any]]:
    """Every (id, new value, stored value) of the step's column that the new rules accept.

    Each row that would break is added to ``breaks`` under every rule it
    breaks (a caller checking several steps passes one ``Breaks`` and
    reports them all at once); without ``breaks`` the rows are refused here.
    """
    new, old = step.prop, step.old
    assert new is not None
    own = Breaks() if breaks is None else None
    found = breaks if breaks is not None else own
    assert found is not None
    path = f"properties.{new.name}"
    column = table.c[(old or new).column]
    key = table.c.from_id if step.relationship else table.c.id
    convert = converter(old, new, phone_region)
    why: Diagnosis | None = None
    converted: list[tuple[str, Any, Any]] = []
    rows = conn.execute(sa.select(key, column).order_by(key))
    for record_id, value in rows:
        if value is None:
            if new.required:
                found.add(path, "required", "is required", record_id)
            continue
        try:
            converted.append((record_id, convert(value), value))
        except ValueError as exc:
            why = why or diagnose(old, new, phone_region, converter)
            for rule, message in why(value) or [("type", str(exc))]:
                found.add(path, rule, message, record_id)
    if (
        new.ref is not None
        and old is not None
        and old.ref is not None
        and old.ref.entity != new.ref.entity
    ):
        target = sa.table(target_table(new.ref.entity), sa.column("id", id_type()))
        ids = [v for _, v, _ in converted]
        present: set[str] = set()
        for chunk in _chunks(ids, 500):
            present.update(
                str(r[0])
                for r in conn.execute(sa.select(target.c.id).where(target.c.id.in_(chunk)))
            )
        for rid, v, _ in converted:
            if str(v) not in present:
                found.add(
                    f"{path}.x-xrm-ref.entity", "x-xrm-ref", f"points at no {new.ref.entity}", rid
                )
    if own:
        raise DefinitionError(own.faults())
    return converted


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check_unique(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    field_path: str,
    breaks: Breaks | None = None,
) -> None:
    """Adds the records whose values in ``columns`` repeat to ``breaks`` (else refuses them)."""
    cols = [table.c[c] for c in columns]
    dupes = (
        sa.select(*cols)
        .where(*(c.is_not(None) for c in cols))
        .group_by(*cols)
        .having(sa.func.count() > 1)
        .subquery()
    )
    rows = conn.execute(
        sa.select(table.c.id)
        .join(dupes, sa.and_(*(table.c[c] == dupes.c[c] for c in columns)))
        .order_by(table.c.id)
    ).all()
    found = breaks if breaks is not None else Breaks()
    for row in rows:
        found.add(field_path, "unique", "values are not unique", row[0])
    if breaks is None and found:
        raise DefinitionError(found.faults())


class SchemaChanger:
    """Runs the DDL of plan steps on one connection, choosing batch mode where SQLite needs it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.ops = Operations(MigrationContext.configure(conn))

    def create_tables(
        self, catalog: Catalog, names: Iterable[str], link_names: Iterable[str]
    ) -> None:
        wanted = [catalog.tables[n] for n in names] + [catalog.link_tables[n] for n in link_names]
        if wanted:
            catalog.metadata.create_all(self.conn, tables=wanted)

    def add_column(self, table: str, prop: Property) -> None:
        column = property_column(table, prop)
        if self.sqlite:
            # SQLite adds a column with a REFERENCES clause in place as long as it defaults to NULL.
            ddl = str(sa.schema.CreateColumn(column).compile(dialect=self.conn.dialect))
            if prop.ref is not None:
                # CreateColumn leaves foreign keys to the table's constraints: name it inline.
                fk = constraint_name("fk", table, prop.column)
                ddl += f' CONSTRAINT "{fk}" REFERENCES "{target_table(prop.ref.entity)}" (id)'
            self.conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD COLUMN {ddl}')
        else:
            self.ops.add_column(table, column)
        if prop.ref is not None:
            index = lookup_index(table, prop.column)
            self.ops.create_index(index.name, table, [prop.column])

    def convert_column(
        self, table: str, old: Property, new: Property, values: list[tuple[str, Any]], key: str
    ) -> None:
        new_type = column_type(new)
        if old.column != new.column:
            raise AssertionError("conversion keeps the column")
        if self.sqlite:
            refs = old.ref is not None or new.ref is not None
            # Unnamed foreign keys (added in place by ADD COLUMN) get this name while rebuilding.
            convention = {"fk": "fk_%(table_name)s_%(column_0_name)s"} if refs else None
            with self.ops.batch_alter_table(
                table, recreate="always", naming_convention=convention
            ) as batch:
                if old.ref is not None:
                    batch.drop_constraint(self._sqlite_fk_name(table, old.column), "foreignkey")
                batch.alter_column(new.column, type_=new_type, existing_nullable=True)
                if new.ref is not None:
                    batch.create_foreign_key(
                        constraint_name("fk", table, new.column),
                        target_table(new.ref.entity),
                        [new.column],
                        ["id"],
                    )
        else:
            compiled = new_type.compile(dialect=self.conn.dialect)
            if old.ref is not None:
                self.ops.drop_constraint(
                    constraint_name("fk", table, old.column), table, type_="foreignkey"
                )
            self.ops.alter_column(
                table,
                new.column,
                type_=new_type,
                postgresql_using=f"NULL::{compiled}",
                existing_nullable=True,
            )
            if new.ref is not None:
                self.ops.create_foreign_key(
                    constraint_name("fk", table, new.column),
                    table,
                    target_table(new.ref.entity),
                    [new.column],
                    ["id"],
                )
        if self.sqlite:
            # The table was rebuilt with the old values copied across; clear them (a JSON null
            # copied as text would read "null") so that rows without a value hold SQL NULL.
            self.conn.execute(
                sa.table(table, sa.column(new.column)).update().values({new.column: None})
            )
        self.write_values(table, new, values, key)

    def _sqlite_fk_name(self, table: str, column: str) -> str:
        for fk in sa.inspect(self.conn).get_foreign_keys(table):
            if fk["constrained_columns"] == [column]:
                return fk["name"] or f"fk_{table}_{column}"
        raise AssertionError(f"no foreign key on {table}.{column}")

    def write_values(
        self, table: str, prop: Property, values: list[tuple[str, Any]], key: str
    ) -> None:
        if not values:
            return
        t = sa.table(table, sa.column(key, id_type()), sa.column(prop.column, column_type(prop)))
        stmt = (
            t.update()
            .where(t.c[key] == sa.bindparam("_key"))
            .values({prop.column: sa.bindparam("_value")})
        )
        self.conn.execute(stmt, [{"_key": k, "_value": v} for k, v in values])

    def drop_column(self, table: str, prop: Property) -> None:
        if prop.ref is not None:
            self.ops.drop_index(constraint_name("ix", table, prop.column), table_name=table)
        if self.sqlite:
            with self.ops.batch_alter_table(table, recreate="always") as batch:
                batch.drop_column(prop.column)
        else:
            self.ops.drop_column(table, prop.column)

    def add_unique(self, table: str, name: str, columns: Sequence[str]) -> None:
        self.ops.create_index(name, table, list(columns), unique=True)

    def add_index(self, table: str, name: str, columns: Sequence[str]) -> None:
        # IF [NOT] EXISTS: some indexes are derived by the platform (a duplicate rule's blocking
        # field, the display field), and a database made before a release derived one lacks it.
        self.ops.create_index(name, table, list(columns), if_not_exists=True)

    def drop_index(self, table: str, name: str) -> None:
        self.ops.drop_index(name, table_name=table, if_exists=True)

    def drop_unique(self, table: str, name: str) -> None:
        self.ops.drop_index(name, table_name=table)
