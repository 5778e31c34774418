"""The platform's first tables: state, definitions, users, tokens, audit, sequences.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from xrm.schemas.tables import UTCDateTime, id_type

revision = "0001"
down_revision = None


def upgrade() -> None:
    state = op.create_table(
        "xrm_state",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    # The registry bumps this row on every definition change; readers compare it cheaply.
    op.bulk_insert(state, [{"key": "schema_version", "value": "0"}])
    op.create_table(
        "xrm_entity_types",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("plural", sa.String(40), nullable=False, unique=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("retired", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "xrm_relationships",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "xrm_users",
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("locale", sa.String(20), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "xrm_user_roles",
        sa.Column(
            "user_id",
            id_type(),
            sa.ForeignKey("xrm_users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("role", sa.String(40), primary_key=True),
    )
    op.create_table(
        "xrm_tokens",
        sa.Column("id", id_type(), primary_key=True),
        sa.Column(
            "user_id", id_type(), sa.ForeignKey("xrm_users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "xrm_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", id_type(), nullable=True),
        sa.Column("actor_email", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("entity", sa.String(80), nullable=True),
        sa.Column("record_id", sa.String(80), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=True),
    )
    op.create_index("ix_xrm_audit_record", "xrm_audit", ["entity", "record_id"])
    op.create_table(
        "xrm_sequences",
        sa.Column("name", sa.String(120), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
