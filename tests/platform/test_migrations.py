"""The platform's tables come from Alembic migrations, and the code's view of them matches."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.migrate import head_revision, upgrade


def test_migrations_create_exactly_the_tables_the_code_uses(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": "xrm_alembic_version"}
        )
        differences = compare_metadata(context, tables.metadata)
    assert differences == []


def test_upgrade_is_idempotent_and_records_the_revision(db: Database) -> None:
    upgrade(db)
    upgrade(db)
    with db.read() as conn:
        revisions = conn.execute(sa.text("SELECT version_num FROM xrm_alembic_version")).all()
        version = conn.execute(
            sa.select(tables.state.c.value).where(tables.state.c.key == "schema_version")
        ).scalar_one()
    assert len(revisions) == 1
    assert version == "0"


def test_an_older_database_is_upgraded_with_its_data(empty_database: Any) -> None:
    db = Database(empty_database.settings())
    try:
        upgrade(db, "0001")
        with db.write() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO xrm_relationships (name, definition, version, updated_at) "
                    "VALUES ('links', '{}', 3, CURRENT_TIMESTAMP)"
                )
            )
        upgrade(db)  # what every command does first
        with db.read() as conn:
            row = conn.execute(sa.select(tables.relationships)).mappings().one()
            revision = conn.execute(sa.text("SELECT version_num FROM xrm_alembic_version")).scalar()
    finally:
        db.dispose()
    assert (row["name"], row["version"], row["retired"]) == ("links", 3, None)
    assert revision == head_revision() == "0009"
