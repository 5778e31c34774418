"""Admin UI sign-in: server-side sessions and the failed sign-in counters that throttle.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from xrm.schemas.tables import UTCDateTime, id_type

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "xrm_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            id_type(),
            sa.ForeignKey("xrm_users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
    )
    op.create_table(
        "xrm_signin_failures",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", UTCDateTime(), nullable=False),
        sa.Column("blocked_until", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("xrm_signin_failures")
    op.drop_table("xrm_sessions")
