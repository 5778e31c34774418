"""Run history: every workflow run is a row users can read back (``workflowRuns``).

A run that succeeds inside a write is stored in that write's transaction, so
it exists exactly when the change does. A run that fails or rejects rolls the
write back, and with it anything stored in that transaction, so the engine
stores such a run afterwards in a transaction of its own: a failure is never
silent (directus#17964, twenty#23046). Rows are pruned after the retention
setting (``XRM_WORKFLOW_RUN_RETENTION_DAYS``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm.platform import tables
from xrm.platform.ids import new_id

t = tables.workflow_runs

MAX_LOG_LINES = 200
MAX_LOG_LINE = 2000
MAX_ERROR = 4000


class RunStatus(StrEnum):
    """How a run ended (or where it stands): CONTRACT §4's ``WorkflowRun.status``."""

    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"
    RUNNING = "running"
    QUEUED = "queued"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Run:
    """One run as stored: what fired it, how it ended, what it said and changed."""

    workflow: str
    trigger: str
    stage: str
    status: RunStatus
    started_at: dt.datetime
    record_id: str | None = None
    duration_ms: int | None = None
    log: tuple[str, ...] = ()
    error: str | None = None
    changes: tuple[Mapping[str, Any], ...] = ()
    dry_run: bool = False
    depth: int = 0
    actor_id: str | None = None
    request_id: str | None = None
    job_id: str | None = None
    id: str = field(default_factory=new_id)
    # Where a failed run failed ("when", "actions.N"), as the run that just ran says; not
    # stored, so not compared (a builder's test run shows the error at that input).
    failed_at: str | None = field(default=None, compare=False)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Run:
        values = dict(row)
        values["status"] = RunStatus(values["status"])
        values["log"] = tuple(values["log"] or ())
        values["changes"] = tuple(values["changes"] or ())
        return cls(**values)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _log_lines(lines: Sequence[str]) -> list[str]:
    """The log as stored: at most ``MAX_LOG_LINES`` lines of ``MAX_LOG_LINE`` characters."""
    kept = [_clip(str(line), MAX_LOG_LINE) for line in lines[:MAX_LOG_LINES]]
    if len(lines) > MAX_LOG_LINES:
        kept.append(f"… {len(lines) - MAX_LOG_LINES} more lines not kept")
    return kept


def record(conn: Connection, run: Run) -> Run:
    """Store ``run`` in the caller's transaction; returns it as stored (log and error clipped)."""
    row = {
        "id": run.id,
        "workflow": run.workflow,
        "trigger": run.trigger,
        "stage": run.stage,
        "record_id": run.record_id,
        "status": run.status.value,
        "started_at": run.started_at,
        "duration_ms": run.duration_ms,
        "log": _log_lines(run.log),
        "error": _clip(run.error, MAX_ERROR) if run.error is not None else None,
        "changes": [dict(change) for change in run.changes],
        "dry_run": run.dry_run,
        "depth": run.depth,
        "actor_id": run.actor_id,
        "request_id": run.request_id,
        "job_id": run.job_id,
    }
    conn.execute(t.insert().values(row))
    return dataclasses.replace(Run.from_row(row), failed_at=run.failed_at)


def finish(
    conn: Connection,
    run_id: str,
    status: RunStatus,
    *,
    duration_ms: int,
    error: str | None = None,
    log: Sequence[str] = (),
    changes: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Settle a run stored as queued (an async or scheduled run, once its job ran)."""
    conn.execute(
        t.update()
        .where(t.c.id == run_id)
        .values(
            status=status.value,
            duration_ms=duration_ms,
            error=_clip(error, MAX_ERROR) if error is not None else None,
            log=_log_lines(log),
            changes=[dict(change) for change in changes],
        )
    )


def requeue(conn: Connection, run_id: str) -> None:
    """A failed or dead run sent back to the queue: queued again, its last error kept."""
    conn.execute(t.update().where(t.c.id == run_id).values(status=RunStatus.QUEUED.value))


def get_run(conn: Connection, run_id: str) -> Run | None:
    """One run by id, or None."""
    row = conn.execute(sa.select(t).where(t.c.id == run_id)).mappings().first()
    return Run.from_row(row) if row is not None else None


def list_runs(
    conn: Connection,
    *,
    workflow: str | None = None,
    record_id: str | None = None,
    status: RunStatus | None = None,
    limit: int = 50,
    before: Run | None = None,
) -> list[Run]:
    """The newest runs first, optionally of one workflow, one record or one status.

    ``before`` pages on: the runs older than that one (keyset paging, no offset, so a
    page stays right while new runs arrive).
    """
    query = sa.select(t).order_by(t.c.started_at.desc(), t.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(
            sa.or_(
                t.c.started_at < before.started_at,
                sa.and_(t.c.started_at == before.started_at, t.c.id < before.id),
            )
        )
    if workflow is not None:
        query = query.where(t.c.workflow == workflow)
    if record_id is not None:
        query = query.where(t.c.record_id == record_id)
    if status is not None:
        query = query.where(t.c.status == status.value)
    return [Run.from_row(row) for row in conn.execute(query).mappings()]


def workflow_names(conn: Connection, *, name: str | None = None) -> list[str]:
    """The workflows that have real runs stored (a deleted one's runs are kept too), by name.

    Test runs do not count: a form tried before it was ever saved leaves one under a name
    no workflow had.
    """
    query = sa.select(t.c.workflow).where(t.c.dry_run.is_(False))
    if name is not None:
        query = query.where(t.c.workflow == name)
    query = query.distinct().order_by(t.c.workflow)
    return [str(found) for found in conn.execute(query).scalars()]


def prune(conn: Connection, *, now: dt.datetime, retention: dt.timedelta) -> int:
    """Delete runs that started before ``now - retention`` and are no longer in progress."""
    unsettled = (RunStatus.RUNNING.value, RunStatus.QUEUED.value)
    result = conn.execute(
        t.delete().where(t.c.started_at < now - retention, t.c.status.not_in(unsettled))
    )
    return result.rowcount or 0
