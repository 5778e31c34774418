"""The platform's own tables (``xrm_*``), as the code reads and writes them.

Their DDL lives in Alembic migrations (``migrations/versions``); this module is
the current shape, kept equal to the newest migration by a test.
"""

from __future__ import annotations

import sqlalchemy as sa

from xrm.schemas.tables import UTCDateTime, id_type

metadata = sa.MetaData()

state = sa.Table(
    "xrm_state",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)

entity_types = sa.Table(
    "xrm_entity_types",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("plural", sa.String(40), nullable=False, unique=True),
    sa.Column("definition", sa.JSON(), nullable=False),
    sa.Column("retired", sa.JSON(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

relationships = sa.Table(
    "xrm_relationships",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("definition", sa.JSON(), nullable=False),
    # Attributes removed from the definition, kept with their data (added in 0002).
    sa.Column("retired", sa.JSON(), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

roles = sa.Table(
    "xrm_roles",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("definition", sa.JSON(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

users = sa.Table(
    "xrm_users",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.Text(), nullable=True),
    sa.Column("password_hash", sa.Text(), nullable=True),
    sa.Column("locale", sa.String(20), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

user_roles = sa.Table(
    "xrm_user_roles",
    metadata,
    sa.Column(
        "user_id", id_type(), sa.ForeignKey("xrm_users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("role", sa.String(40), primary_key=True),
)

tokens = sa.Table(
    "xrm_tokens",
    metadata,
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

sessions = sa.Table(
    "xrm_sessions",
    metadata,
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

signin_failures = sa.Table(
    "xrm_signin_failures",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("failures", sa.Integer(), nullable=False),
    sa.Column("last_failure_at", UTCDateTime(), nullable=False),
    sa.Column("blocked_until", UTCDateTime(), nullable=True),
)

audit = sa.Table(
    "xrm_audit",
    metadata,
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
    sa.Index("ix_xrm_audit_record", "entity", "record_id"),
)

sequences = sa.Table(
    "xrm_sequences",
    metadata,
    sa.Column("name", sa.String(120), primary_key=True),
    sa.Column("value", sa.BigInteger(), nullable=False),
)

# The durable job queue (xrm/platform/jobs): one row per background job, written in the
# same transaction as the change that caused it (the outbox). Added in 0005.
jobs = sa.Table(
    "xrm_jobs",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("kind", sa.String(80), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    # Enqueueing a key that is already here returns that job instead of adding one.
    sa.Column("idempotency_key", sa.String(200), nullable=True, unique=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    # Not before this time: a delayed job, or the backoff after a failed attempt.
    sa.Column("run_after", UTCDateTime(), nullable=False),
    # The lease of a running job: the claim's token, its holder, and until when it holds.
    sa.Column("claim_token", sa.String(64), nullable=True),
    sa.Column("claimed_by", sa.String(200), nullable=True),
    sa.Column("claimed_until", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    # Who or what caused it, for the admin jobs page (no foreign key: history outlives users).
    sa.Column("actor_id", id_type(), nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    # The claim query reads by status and time; the lease sweep reads running jobs by deadline.
    sa.Index("ix_xrm_jobs_claim", "status", "run_after"),
    sa.Index("ix_xrm_jobs_lease", "status", "claimed_until"),
    sa.Index("ix_xrm_jobs_finished", "finished_at"),
)

# Workflows (CONTRACT §5), the fourth kind of definition, stored like roles. Added in 0006.
workflows = sa.Table(
    "xrm_workflows",
    metadata,
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("definition", sa.JSON(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # Who defined it last: a scheduled run acts as this user (no foreign key, like audit).
    sa.Column("author_id", id_type(), nullable=True),
)

# One row per workflow run: what fired it, how it ended, its log and the changes it made.
workflow_runs = sa.Table(
    "xrm_workflow_runs",
    metadata,
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
    # Who caused it (no foreign key: history outlives users), and the job of an async run.
    sa.Column("actor_id", id_type(), nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("job_id", id_type(), nullable=True),
    sa.Index("ix_xrm_workflow_runs_workflow", "workflow", "started_at"),
    sa.Index("ix_xrm_workflow_runs_record", "record_id"),
    sa.Index("ix_xrm_workflow_runs_started", "started_at"),
)

# The last schedule tick each scheduled workflow was claimed for: a compare-and-set on this
# row is what makes a tick run once across every server process.
workflow_ticks = sa.Table(
    "xrm_workflow_ticks",
    metadata,
    sa.Column("workflow", sa.String(80), primary_key=True),
    sa.Column("last_tick", UTCDateTime(), nullable=False),
    sa.Column("claimed_by", sa.String(200), nullable=True),
)

# Imports (xrm/entities/imports, docs/import.md): one row per `xrm import`, the file it read
# (kept, so a resume or the admin UI can read it again), how far it got, and its counts. A
# batch's records and the row's `batches_done` commit together, so a resume starts exactly
# after the last committed batch. Added in 0007.
imports = sa.Table(
    "xrm_imports",
    metadata,
    sa.Column("id", id_type(), primary_key=True),
    sa.Column("entity", sa.String(80), nullable=False),
    sa.Column("file_name", sa.Text(), nullable=False),
    sa.Column("file_sha256", sa.String(64), nullable=False),
    sa.Column("source", sa.LargeBinary(), nullable=False),
    # The options it ran with (mapping, key, encoding, sheet): a resume runs with the same.
    sa.Column("options", sa.JSON(), nullable=False),
    # running, done, undone; a killed run stays `running` until resumed.
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
    sa.Index("ix_xrm_imports_file", "file_sha256", "entity"),
    sa.Index("ix_xrm_imports_created", "created_at"),
)

# The rows an import rejected, with the reason, written in their batch's transaction.
import_rejects = sa.Table(
    "xrm_import_rejects",
    metadata,
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

# The rows of an import that its type's duplicate rules matched (``--duplicates flag`` or
# ``merge``): the row, the rule and score, and the stored record (``record_id``, its display
# value then) or the earlier row of the file (``other_row``) it matched; ``merged`` when the
# row was written into that record. Skipped rows are rejects instead. Added in 0009.
import_flags = sa.Table(
    "xrm_import_flags",
    metadata,
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

# Pairs of records a duplicate scan found (``xrm duplicates scan``), best first per type:
# one row per pair (``first_id`` < ``second_id``), under the rule that scored it highest.
# No foreign keys: records are of any type; a merged or deleted record's pairs are dropped by
# the next scan and never shown meanwhile (readers join the pair to both records). Added in 0008.
duplicate_pairs = sa.Table(
    "xrm_duplicate_pairs",
    metadata,
    sa.Column("entity", sa.String(40), primary_key=True),
    sa.Column("first_id", id_type(), primary_key=True),
    sa.Column("second_id", id_type(), primary_key=True),
    sa.Column("rule", sa.String(80), nullable=False),
    sa.Column("score", sa.Float(), nullable=False),
    sa.Column("found_at", UTCDateTime(), nullable=False),
    sa.Index("ix_xrm_duplicate_pairs_best", "entity", "score", "first_id", "second_id"),
)
