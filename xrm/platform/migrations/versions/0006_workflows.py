"""Workflows: their definitions, their runs, and the schedule ticks they have claimed.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from xrm.schemas.tables import UTCDateTime, id_type

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "xrm_workflows",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("author_id", id_type(), nullable=True),
    )
    op.create_table(
        "xrm_workflow_runs",
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("workflow", sa.String(80), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(10), nullable=False),
        sa.Column("record_id", id_type(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("log", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("actor_id", id_type(), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("job_id", id_type(), nullable=True),
    )
    op.create_index(
        "ix_xrm_workflow_runs_workflow", "xrm_workflow_runs", ["workflow", "started_at"]
    )
    op.create_index("ix_xrm_workflow_runs_record", "xrm_workflow_runs", ["record_id"])
    op.create_index("ix_xrm_workflow_runs_started", "xrm_workflow_runs", ["started_at"])
    op.create_table(
        "xrm_workflow_ticks",
        sa.Column("workflow", sa.String(80), primary_key=True),
        sa.Column("last_tick", UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("xrm_workflow_ticks")
    op.drop_table("xrm_workflow_runs")
    op.drop_table("xrm_workflows")
