"""The platform's tables come from Alembic migrations, and the code's view of them matches."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.migrate import upgrade


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
