"""Compile definitions into SQLAlchemy ``Table`` objects: one real, typed table per type.

Every entity type gets ``e_<name>`` with system columns and one typed column
per property (retired ones included, so their data survives); every
many-to-many relationship gets ``r_<name>``. Columns stay nullable in SQL:
``required`` is enforced by the validator, so adding a required property to a
table with rows never needs a made-up default.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from xrm.schemas.model import EntityType, Property, Relationship
from xrm.schemas.naming import constraint_name

SYSTEM_TABLES = {"user": "xrm_users"}


class ExactDecimal(TypeDecorator[Decimal]):
    """Exact decimals: NUMERIC on PostgreSQL, canonical text on SQLite (its NUMERIC is a float)."""

    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":  # plain notation, as PostgreSQL's NUMERIC spells it too
            # Imported here: formats loads phonenumbers and email-validator, which the
            # platform tables (and so every CLI command) must not pay for at start-up.
            from xrm.schemas.formats import decimal_text

            return decimal_text(value) if isinstance(value, Decimal) else str(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out, on both databases (SQLite keeps naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class RecordId(TypeDecorator[str]):
    """Ids as their canonical text (lowercase, hyphenated) in and out, on both databases.

    PostgreSQL stores a native ``uuid``; SQLite stores the same 36 characters
    as text. Stock ``sa.Uuid`` keeps 32 hex digits on SQLite and builds a
    ``uuid.UUID`` per value read, which measured as a third of the time of a
    large GraphQL list; ids here are already canonical strings everywhere.
    """

    impl = sa.String(36)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Uuid(as_uuid=False))
        return dialect.type_descriptor(sa.String(36))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return value if value is None or isinstance(value, str) else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return value if value is None or isinstance(value, str) else str(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        """No per-value work when reading: the driver already gives canonical text.

        SQLite stores the text itself; xrm's PostgreSQL engines load ``uuid``
        as text (``xrm.platform.db``). A Python call per id read measured as
        a tenth of a large GraphQL list.
        """
        if dialect.name in ("sqlite", "postgresql"):
            return None
        return super().result_processor(dialect, coltype)


def id_type() -> RecordId:
    return RecordId()


def column_type(prop: Property) -> Any:
    storage = prop.storage
    if storage == "text":
        # Code-point order (CONTRACT §4) as the column's own collation on PostgreSQL, so
        # equality, ordering and every index on the column agree; SQLite's is already so.
        return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
    if storage == "date":
        return sa.Date()
    if storage == "datetime":
        return UTCDateTime()
    if storage == "decimal":
        return ExactDecimal()
    if storage == "integer":
        return sa.Integer()
    if storage == "bigint":
        return sa.BigInteger()
    if storage == "float":
        return sa.Double()
    if storage == "boolean":
        return sa.Boolean(create_constraint=False)
    if storage == "json":
        return sa.JSON()
    if storage == "ref":
        return id_type()
    raise AssertionError(storage)


def target_table(entity: str) -> str:
    return SYSTEM_TABLES.get(entity, f"e_{entity}")


def property_column(table: str, prop: Property) -> sa.Column[Any]:
    args: list[Any] = []
    if prop.ref is not None:
        args.append(
            sa.ForeignKey(
                f"{target_table(prop.ref.entity)}.id",
                name=constraint_name("fk", table, prop.column),
            )
        )
    return sa.Column(prop.column, column_type(prop), *args, nullable=True)


def system_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", id_type(), nullable=True),
        sa.Column("updated_by", id_type(), nullable=True),
        sa.Column("owner_id", id_type(), nullable=True),
    ]


def unique_index(table: str, et: EntityType, group: tuple[str, ...]) -> sa.Index:
    columns = [et.properties[name].column if name in et.properties else name for name in group]
    return sa.Index(constraint_name("uq", table, *columns), *columns, unique=True)


def search_index(table: str, et: EntityType, group: tuple[str, ...]) -> sa.Index:
    """An index for filtering and ordering by ``group``; the id last, as every ordering ends."""
    columns = [et.properties[name].column if name in et.properties else name for name in group]
    return sa.Index(constraint_name("ix", table, *columns, "id"), *columns, "id")


def lookup_index(table: str, column: str) -> sa.Index:
    return sa.Index(constraint_name("ix", table, column), column)


def entity_table(et: EntityType, metadata: sa.MetaData) -> sa.Table:
    """The table of ``et`` on ``metadata``; retired properties keep their columns."""
    name = et.table_name
    columns = system_columns()
    props = [*et.properties.values(), *et.retired.values()]
    columns.extend(property_column(name, p) for p in props)
    indexes = [lookup_index(name, p.column) for p in props if p.ref is not None]
    indexes.extend(unique_index(name, et, group) for group in et.unique)
    indexes.extend(search_index(name, et, group) for group in et.indexes)
    return sa.Table(name, metadata, *columns, *indexes)


def relationship_table(rel: Relationship, metadata: sa.MetaData) -> sa.Table:
    """The link table of ``rel``: one row per linked pair, plus the link's own attributes."""
    name = rel.table_name
    columns: list[Any] = [
        sa.Column(
            "from_id",
            id_type(),
            sa.ForeignKey(
                f"{target_table(rel.from_entity)}.id",
                name=constraint_name("fk", name, "from_id"),
                ondelete="CASCADE",
            ),
            primary_key=True,
        ),
        sa.Column(
            "to_id",
            id_type(),
            sa.ForeignKey(
                f"{target_table(rel.to_entity)}.id",
                name=constraint_name("fk", name, "to_id"),
                ondelete="CASCADE",
            ),
            primary_key=True,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", id_type(), nullable=True),
    ]
    props = [*rel.properties.values(), *rel.retired.values()]
    columns.extend(property_column(name, p) for p in props)
    return sa.Table(name, metadata, *columns, lookup_index(name, "to_id"))
