"""The durable job queue: ``xrm_jobs``, the outbox that workers claim from.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from xrm.schemas.tables import UTCDateTime, id_type

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "xrm_jobs",
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("kind", sa.String(80), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True, unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", UTCDateTime(), nullable=False),
        sa.Column("claim_token", sa.String(64), nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("actor_id", id_type(), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_xrm_jobs_claim", "xrm_jobs", ["status", "run_after"])
    op.create_index("ix_xrm_jobs_lease", "xrm_jobs", ["status", "claimed_until"])
    op.create_index("ix_xrm_jobs_finished", "xrm_jobs", ["finished_at"])


def downgrade() -> None:
    op.drop_table("xrm_jobs")
