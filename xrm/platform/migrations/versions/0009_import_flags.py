"""Import flags: the rows of an import that duplicate a record or an earlier row of the file.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from xrm.schemas.tables import id_type

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "xrm_import_flags",
        sa.Column(
            "import_id",
            id_type(),
            sa.ForeignKey("xrm_imports.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("row_number", sa.Integer(), primary_key=True),
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("record_id", id_type(), nullable=True),
        sa.Column("record_name", sa.Text(), nullable=True),
        sa.Column("other_row", sa.Integer(), nullable=True),
        sa.Column("merged", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("xrm_import_flags")
