"""Duplicate pairs: what ``xrm duplicates scan`` found, best first per entity type.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from xrm.schemas.tables import UTCDateTime, id_type

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "xrm_duplicate_pairs",
        sa.Column("entity", sa.String(40), primary_key=True),
        sa.Column("first_id", id_type(), primary_key=True),
        sa.Column("second_id", id_type(), primary_key=True),
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("found_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_xrm_duplicate_pairs_best",
        "xrm_duplicate_pairs",
        ["entity", "score", "first_id", "second_id"],
    )


def downgrade() -> None:
    op.drop_table("xrm_duplicate_pairs")
