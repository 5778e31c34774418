"""Reading the queue for people (the admin jobs page, the CLI) and pruning what is finished.

Listing pages by id (ids grow with time, so newest first is id descending)
rather than by offset, so a page stays cheap however many jobs are kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm.platform import tables
from xrm.platform.jobs.job import FINISHED, Job, JobNotFound, JobStatus
from xrm.platform.jobs.payload import canonical_id

t = tables.jobs
MAX_PAGE = 500


def get_job(conn: Connection, job_id: str) -> Job:
    """The job with this id; ``JobNotFound`` when there is none."""
    found = canonical_id(job_id)
    row = None
    if found is not None:
        row = conn.execute(sa.select(t).where(t.c.id == found)).mappings().first()
    if row is None:
        raise JobNotFound(f"there is no job {job_id!r}")
    return Job.from_row(row)


def list_jobs(
    conn: Connection,
    *,
    status: JobStatus | str | None = None,
    statuses: Sequence[JobStatus | str] = (),
    kind: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> list[Job]:
    """Jobs newest first, optionally of one status (or any of ``statuses``) and kind;
    ``before`` is the last id of the previous page."""
    if status is not None:
        status = JobStatus(status)  # ValueError names an unknown status
    wanted = [JobStatus(s).value for s in statuses]
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
    query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(t.c.status == status.value)
    if wanted:
        query = query.where(t.c.status.in_(wanted))
    if kind is not None:
        query = query.where(t.c.kind == kind)
    if before is not None:
        last = canonical_id(before)
        if last is None:
            raise ValueError(f"before must be a job id, not {before!r}")
        query = query.where(t.c.id < last)
    return [Job.from_row(row) for row in conn.execute(query).mappings()]


def count_by_status(conn: Connection, *, kind: str | None = None) -> dict[JobStatus, int]:
    """How many jobs are in each status (every status present, zero when none)."""
    query = sa.select(t.c.status, sa.func.count()).group_by(t.c.status)
    if kind is not None:
        query = query.where(t.c.kind == kind)
    counts = dict.fromkeys(JobStatus, 0)
    for status, count in conn.execute(query):
        counts[JobStatus(status)] = count
    return counts


def prune(conn: Connection, *, now: dt.datetime, retention: dt.timedelta) -> int:
    """Delete done and dead jobs that finished more than ``retention`` ago; how many.

    Their idempotency keys are free again afterwards.
    """
    result = conn.execute(
        t.delete().where(
            t.c.status.in_([s.value for s in FINISHED]), t.c.finished_at < now - retention
        )
    )
    return result.rowcount
