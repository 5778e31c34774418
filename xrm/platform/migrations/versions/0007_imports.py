"""Imports: ``xrm_imports`` (one row per import, its file and progress) and its rejected rows.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from xrm.schemas.tables import UTCDateTime, id_type

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "xrm_imports",
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("entity", sa.String(80), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("source", sa.LargeBinary(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("batches_done", sa.Integer(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("actor_id", id_type(), nullable=True),
        sa.Column("actor_email", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_xrm_imports_file", "xrm_imports", ["file_sha256", "entity"])
    op.create_index("ix_xrm_imports_created", "xrm_imports", ["created_at"])
    op.create_table(
        "xrm_import_rejects",
        sa.Column(
            "import_id",
            id_type(),
            sa.ForeignKey("xrm_imports.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("row_number", sa.Integer(), primary_key=True),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("xrm_import_rejects")
    op.drop_index("ix_xrm_imports_created", "xrm_imports")
    op.drop_index("ix_xrm_imports_file", "xrm_imports")
    op.drop_table("xrm_imports")
