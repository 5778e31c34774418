"""Roles beyond the built-in ones are definitions, stored like entity types.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from xrm.schemas.tables import UTCDateTime

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "xrm_roles",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("xrm_roles")
