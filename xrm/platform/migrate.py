"""Bring the platform's tables to the newest version: every command calls this first.

An empty database is initialised, an older one upgraded, through Alembic
migrations shipped inside the package (no alembic.ini needed).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from xrm.platform.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply every pending platform migration (up to ``revision``) in one transaction."""
    config = alembic_config()
    with db.write() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
