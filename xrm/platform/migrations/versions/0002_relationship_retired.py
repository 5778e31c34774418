"""Relationships keep removed attributes too: a ``retired`` column beside the definition.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("xrm_relationships") as batch:
        batch.add_column(sa.Column("retired", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("xrm_relationships") as batch:
        batch.drop_column("retired")
