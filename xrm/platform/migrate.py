"""Bring the platform's tables to the newest version: every command calls this first.

An empty database is initialised, an older one upgraded, through Alembic
migrations shipped inside the package (no alembic.ini needed).

Importing Alembic costs more than half a second, and almost every time a
command starts the database is already up to date. So the newest revision is
read from the migration files' own ``revision = "..."`` lines, compared with
the one the database records, and Alembic is only loaded when they differ.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from xrm.platform.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "xrm_alembic_version"  # as env.py configures it
_REVISION = re.compile(r"""^(down_revision|revision)\s*=\s*(?:['"]([^'"]+)['"]|None)""", re.M)


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@cache
def head_revision() -> str | None:
    """The newest revision, found in the migration files without importing Alembic.

    None when the files do not form one straight line (then Alembic decides).
    """
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((m.group(1), m.group(2)) for m in _REVISION.finditer(path.read_text("utf-8")))
        if found.get("revision"):
            revisions[found["revision"]] = found.get("down_revision")
    parents = set(revisions.values())
    heads = [r for r in revisions if r not in parents]
    return heads[0] if len(heads) == 1 else None


def at_head(db: Database) -> bool:
    """Whether the database records exactly the newest revision (False if it records none)."""
    head = head_revision()
    if head is None:
        return False
    try:
        with db.read() as conn:
            found = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    except sa.exc.DBAPIError:  # no version table yet: an empty database
        return False
    return [row[0] for row in found] == [head]


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply every pending platform migration (up to ``revision``) in one transaction."""
    if revision == "head" and at_head(db):
        return
    from alembic import command

    config = alembic_config()
    with db.write() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
