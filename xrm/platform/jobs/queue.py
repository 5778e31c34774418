"""The queue's writes: enqueue in the caller's transaction, claim, renew, complete, fail, retry.

Every function takes an open connection and the current time from its
caller, so the transaction is the caller's (enqueueing is part of the change
that causes the job: the outbox) and tests drive time explicitly.

Claiming is safe between processes on both databases. On PostgreSQL the
candidate rows are locked with ``FOR UPDATE SKIP LOCKED``, so concurrent
claimers take different jobs without waiting on each other; on SQLite the
whole claim is one ``UPDATE ... WHERE id IN (SELECT ...) RETURNING`` inside a
write transaction, which SQLite runs one at a time.

Each claim carries a fresh token. Completing, failing or renewing checks it:
a worker that stalled past its lease, whose job was then swept and claimed
again, finds its token stale and its report refused (``LeaseLost``), so a job
is never finished twice.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm.platform import tables
from xrm.platform.ids import new_id
from xrm.platform.jobs.job import (
    CLAIMABLE,
    RETRIABLE,
    Claim,
    Job,
    JobNotFound,
    JobNotRetriable,
    JobStatus,
    LeaseLost,
)
from xrm.platform.jobs.payload import canonical_id, check_key, check_kind, check_payload

DEFAULT_MAX_ATTEMPTS = 10
MAX_ERROR = 4000
LEASE_LOST_ERROR = "the worker running this job stopped answering (its lease expired)"

t = tables.jobs


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a failed job waits before its next attempt: exponential, with jitter.

    After attempt ``n`` the wait is ``base * 2**(n-1)`` stretched by a random
    factor in ``[1, 1 + jitter)``, capped at ``ceiling``. The jitter spreads
    out jobs that failed together (a webhook target that was down) so they do
    not all come back in the same second; it never shrinks a wait, so waits
    grow with every attempt until the ceiling.
    """

    base: dt.timedelta = dt.timedelta(seconds=10)
    ceiling: dt.timedelta = dt.timedelta(hours=1)
    jitter: float = 0.25

    def delay(self, attempts: int, rng: random.Random | None = None) -> dt.timedelta:
        exponent = min(max(attempts, 1) - 1, 40)
        seconds = self.base.total_seconds() * 2.0**exponent
        seconds *= 1.0 + self.jitter * (rng or random).random()
        return min(dt.timedelta(seconds=seconds), self.ceiling)


def enqueue(
    conn: Connection,
    kind: str,
    payload: Any,
    *,
    key: str | None = None,
    run_after: dt.datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    actor_id: str | None = None,
    request_id: str | None = None,
    now: dt.datetime | None = None,
) -> Job:
    """Add a job in the caller's transaction; it exists only if that transaction commits.

    With a ``key`` already used by a stored job, nothing is added and that job
    is returned, whatever its status; a key is free again once its job is
    pruned. The same key under a different kind is a caller's mistake and is
    refused.
    """
    check_kind(kind)
    check_key(key)
    check_payload(payload)
    if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1:
        raise ValueError(
            f"job max_attempts must be a whole number of at least 1, not {max_attempts!r}"
        )
    now = now or utcnow()
    row = {
        "id": new_id(),
        "kind": kind,
        "payload": json.loads(json.dumps(payload)),
        "idempotency_key": key,
        "status": JobStatus.QUEUED.value,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": run_after or now,
        "actor_id": actor_id,
        "request_id": request_id,
        "created_at": now,
        "updated_at": now,
    }
    if key is None:
        conn.execute(t.insert().values(row))
        return Job.from_row({c.name: row.get(c.name) for c in t.columns})
    insert = _insert_ignoring_conflict(conn).values(row).returning(*t.columns)
    added = conn.execute(insert).mappings().first()
    if added is not None:
        return Job.from_row(added)
    existing = conn.execute(sa.select(t).where(t.c.idempotency_key == key)).mappings().one()
    if existing["kind"] != kind:
        raise ValueError(
            f"job idempotency key {key!r} already belongs to a {existing['kind']!r} job, "
            f"not {kind!r}: put the kind in the key"
        )
    return Job.from_row(existing)


def _insert_ignoring_conflict(conn: Connection) -> Any:
    # INSERT ... ON CONFLICT DO NOTHING: a concurrent enqueue of the same key waits for the
    # other transaction and then adds nothing, instead of failing the caller's transaction.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(t).on_conflict_do_nothing(index_elements=[t.c.idempotency_key])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(t).on_conflict_do_nothing(index_elements=[t.c.idempotency_key])


def claim(
    conn: Connection,
    worker: str,
    *,
    now: dt.datetime,
    lease: dt.timedelta,
    limit: int = 1,
) -> list[Claim]:
    """Take up to ``limit`` due jobs for ``worker``: running, one attempt more, leased until
    ``now + lease``. Oldest due first. Call it in a short transaction of its own."""
    token = secrets.token_hex(16)
    due = (
        sa.select(t.c.id)
        .where(t.c.status.in_([s.value for s in CLAIMABLE]), t.c.run_after <= now)
        .order_by(t.c.run_after, t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        t.update()
        .where(t.c.id.in_(due.scalar_subquery()))
        .values(
            status=JobStatus.RUNNING.value,
            attempts=t.c.attempts + 1,
            claim_token=token,
            claimed_by=worker[:200],
            claimed_until=now + lease,
            started_at=now,
            updated_at=now,
        )
        .returning(*t.columns)
    )
    jobs = [Job.from_row(row) for row in conn.execute(statement).mappings()]
    jobs.sort(key=lambda job: (job.run_after, job.id))
    return [Claim(job, token) for job in jobs]


def pending(conn: Connection, *, now: dt.datetime) -> tuple[bool, bool]:
    """Whether any job is due to be claimed, and whether any lease has expired.

    A plain read, so an idle worker looks at the queue without taking a write
    lock (on SQLite, a write transaction excludes every other writer).
    """
    due = sa.select(t.c.id).where(
        t.c.status.in_([s.value for s in CLAIMABLE]), t.c.run_after <= now
    )
    expired = sa.select(t.c.id).where(
        t.c.status == JobStatus.RUNNING.value, t.c.claimed_until <= now
    )
    row = conn.execute(sa.select(sa.exists(due), sa.exists(expired))).one()
    return bool(row[0]), bool(row[1])


def _held(claim: Claim) -> sa.ColumnElement[bool]:
    return sa.and_(
        t.c.id == claim.id,
        t.c.status == JobStatus.RUNNING.value,
        t.c.claim_token == claim.token,
    )


def lock(conn: Connection, claim: Claim) -> None:
    """Lock the job's row for the rest of the transaction, proving the claim still holds.

    A handler's transaction starts with this: on PostgreSQL the row lock keeps
    the lease sweep (which skips locked rows) from taking the job while the
    handler writes; on SQLite the write transaction already excludes everyone.
    """
    found = conn.execute(sa.select(t.c.id).where(_held(claim)).with_for_update()).first()
    if found is None:
        raise LeaseLost(f"job {claim.id} is no longer held by this claim")


def renew(
    conn: Connection, claims: Iterable[Claim], *, now: dt.datetime, lease: dt.timedelta
) -> int:
    """Extend the leases of jobs still running under these claims; how many were extended.

    Rows locked by a handler's transaction are skipped: they cannot be swept
    while locked, and waiting for them would stall the heartbeat.
    """
    count = 0
    for held in claims:
        mine = sa.select(t.c.id).where(_held(held)).with_for_update(skip_locked=True)
        result = conn.execute(
            t.update()
            .where(t.c.id.in_(mine.scalar_subquery()))
            .values(claimed_until=now + lease, updated_at=now)
        )
        count += result.rowcount
    return count


def complete(conn: Connection, claim: Claim, *, now: dt.datetime) -> None:
    """Mark the job done; ``LeaseLost`` if the claim no longer holds (nothing changes)."""
    result = conn.execute(
        t.update()
        .where(_held(claim))
        .values(
            status=JobStatus.DONE.value,
            claim_token=None,
            claimed_until=None,
            updated_at=now,
            finished_at=now,
        )
    )
    if result.rowcount != 1:
        raise LeaseLost(f"job {claim.id} is no longer held by this claim; its result is dropped")


def fail(
    conn: Connection,
    claim: Claim,
    error: str,
    *,
    now: dt.datetime,
    backoff: Backoff,
    rng: random.Random | None = None,
) -> Job:
    """Record a failed attempt: back to ``failed`` with a later ``run_after``, or ``dead``
    when its attempts are used up. ``LeaseLost`` if the claim no longer holds."""
    row = conn.execute(sa.select(t).where(_held(claim)).with_for_update()).mappings().first()
    if row is None:
        raise LeaseLost(f"job {claim.id} is no longer held by this claim; its error is dropped")
    return _record_failure(conn, Job.from_row(row), error, now=now, backoff=backoff, rng=rng)


def _record_failure(
    conn: Connection,
    job: Job,
    error: str,
    *,
    now: dt.datetime,
    backoff: Backoff,
    rng: random.Random | None,
) -> Job:
    values: dict[str, Any] = {
        "claim_token": None,
        "claimed_until": None,
        "last_error": _clip(error),
        "updated_at": now,
    }
    if job.attempts >= job.max_attempts:
        values.update(status=JobStatus.DEAD.value, finished_at=now)
    else:
        values.update(
            status=JobStatus.FAILED.value, run_after=now + backoff.delay(job.attempts, rng)
        )
    row = (
        conn.execute(
            t.update()
            .where(t.c.id == job.id, t.c.claim_token == job.claim_token)
            .values(values)
            .returning(*t.columns)
        )
        .mappings()
        .one()
    )
    return Job.from_row(row)


def release(conn: Connection, claim: Claim, *, now: dt.datetime) -> bool:
    """Give a claimed job back unstarted (a worker stopping): queued again, the attempt
    not counted. False when the claim no longer holds or the row is busy."""
    mine = sa.select(t.c.id).where(_held(claim)).with_for_update(skip_locked=True)
    result = conn.execute(
        t.update()
        .where(t.c.id.in_(mine.scalar_subquery()))
        .values(
            status=JobStatus.QUEUED.value,
            attempts=t.c.attempts - 1,
            claim_token=None,
            claimed_until=None,
            run_after=now,
            updated_at=now,
        )
    )
    return result.rowcount == 1


def recover_expired(
    conn: Connection,
    *,
    now: dt.datetime,
    backoff: Backoff,
    rng: random.Random | None = None,
    limit: int = 100,
) -> list[Job]:
    """Sweep running jobs whose lease ran out (their worker was killed or hung): each
    counts as a failed attempt, so it is retried after its backoff, or parked as dead.

    The old holder's token is cleared, so nothing it reports later counts.
    """
    expired = conn.execute(
        sa.select(t)
        .where(t.c.status == JobStatus.RUNNING.value, t.c.claimed_until <= now)
        .order_by(t.c.claimed_until, t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).mappings()
    swept = [Job.from_row(row) for row in expired]
    return [
        _record_failure(conn, job, LEASE_LOST_ERROR, now=now, backoff=backoff, rng=rng)
        for job in swept
    ]


def retry(conn: Connection, job_id: str, *, now: dt.datetime | None = None) -> Job:
    """Bring a failed or dead job back now, with a fresh set of attempts (an admin's retry).

    ``JobNotFound`` for an unknown id; ``JobNotRetriable`` for a job that is
    queued, running or done. Its last error stays visible until it next fails.
    """
    now = now or utcnow()
    found = canonical_id(job_id)
    if found is None:
        raise JobNotFound(f"there is no job {job_id!r}")
    row = (
        conn.execute(
            t.update()
            .where(t.c.id == found, t.c.status.in_([s.value for s in RETRIABLE]))
            .values(
                status=JobStatus.QUEUED.value,
                attempts=0,
                run_after=now,
                finished_at=None,
                updated_at=now,
            )
            .returning(*t.columns)
        )
        .mappings()
        .first()
    )
    if row is not None:
        return Job.from_row(row)
    status = conn.execute(sa.select(t.c.status).where(t.c.id == found)).scalar()
    if status is None:
        raise JobNotFound(f"there is no job {job_id!r}")
    raise JobNotRetriable(f"job {job_id} is {status}; only failed or dead jobs can be retried")


def _clip(error: str) -> str:
    error = error.replace("\x00", "")
    return error if len(error) <= MAX_ERROR else error[: MAX_ERROR - 1] + "…"
