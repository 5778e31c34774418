"""Alembic environment for the platform's own tables; always given a live connection."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table="xrm_alembic_version")
with context.begin_transaction():
    context.run_migrations()
