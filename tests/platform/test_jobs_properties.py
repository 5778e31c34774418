"""Property tests of the job queue: its state machine against a model, and what enqueue accepts.

The state machine drives the real queue functions on the real database with
an explicit clock, through random sequences of enqueue, claim, complete,
fail, release, lease expiry, retry, prune and the passing of time, holding on
to every claim ever handed out (stale ones included), and checks after every
step that each stored job is exactly what a plain model of the rules says.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, replace
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from jobs_support import at

from xrm.platform import jobs, tables
from xrm.platform.db import Database
from xrm.platform.jobs import Backoff, JobStatus

LEASE = dt.timedelta(seconds=30)
BACKOFF = Backoff(base=dt.timedelta(seconds=10), ceiling=dt.timedelta(days=30), jitter=0.25)
CLAIMABLE = {JobStatus.QUEUED, JobStatus.FAILED}
UNKNOWN_ID = "0190d3a4-0000-7000-8000-000000000000"


@dataclass(frozen=True)
class Expected:
    """What the model says one job must look like."""

    status: JobStatus
    attempts: int
    max_attempts: int
    run_after: dt.datetime
    token: str | None = None
    claimed_until: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    key: str | None = None


class QueueMachine(RuleBasedStateMachine):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db
        with db.write() as conn:
            conn.execute(tables.jobs.delete())
        self.now = at(0)
        self.model: dict[str, Expected] = {}
        self.claims: list[jobs.Claim] = []

    # -- helpers --------------------------------------------------------------------------

    def _current(self, held: jobs.Claim) -> bool:
        job = self.model.get(held.id)
        return job is not None and job.status == JobStatus.RUNNING and job.token == held.token

    def _failed(self, job: Expected, after: jobs.Job) -> Expected:
        """The model of a failed attempt; checks the backoff the queue chose."""
        if job.attempts >= job.max_attempts:
            return replace(
                job, status=JobStatus.DEAD, token=None, claimed_until=None, finished_at=self.now
            )
        low = BACKOFF.base * 2 ** (job.attempts - 1)
        assert after.status == JobStatus.FAILED
        assert low <= after.run_after - self.now <= low * 1.25
        return replace(
            job, status=JobStatus.FAILED, token=None, claimed_until=None, run_after=after.run_after
        )

    # -- rules ----------------------------------------------------------------------------

    @initialize(count=st.integers(1, 4), max_attempts=st.integers(1, 3))
    def some_jobs_due_now(self, count: int, max_attempts: int) -> None:
        for _ in range(count):
            self._enqueue(None, max_attempts, 0)

    @rule(
        key=st.none() | st.sampled_from(["a", "b", "c"]),
        max_attempts=st.integers(1, 3),
        delay=st.sampled_from([0, 0, 0, 5, 40]),
    )
    def enqueue(self, key: str | None, max_attempts: int, delay: int) -> None:
        self._enqueue(key, max_attempts, delay)

    def _enqueue(self, key: str | None, max_attempts: int, delay: int) -> None:
        run_after = self.now + dt.timedelta(seconds=delay)
        with self.db.write() as conn:
            job = jobs.enqueue(
                conn,
                "k",
                {"d": delay},
                key=key,
                run_after=run_after,
                max_attempts=max_attempts,
                now=self.now,
            )
        owner = next((i for i, j in self.model.items() if key and j.key == key), None)
        if owner is not None:
            assert job.id == owner
            return
        assert job.id not in self.model
        self.model[job.id] = Expected(JobStatus.QUEUED, 0, max_attempts, run_after, key=key)

    @rule(limit=st.integers(1, 3))
    def claim(self, limit: int) -> None:
        with self.db.write() as conn:
            got = jobs.claim(conn, "w", now=self.now, lease=LEASE, limit=limit)
        due = sorted(
            (j.run_after, i)
            for i, j in self.model.items()
            if j.status in CLAIMABLE and j.run_after <= self.now
        )
        assert [c.id for c in got] == [i for _, i in due[:limit]]
        for held in got:
            job = self.model[held.id]
            self.model[held.id] = replace(
                job,
                status=JobStatus.RUNNING,
                attempts=job.attempts + 1,
                token=held.token,
                claimed_until=self.now + LEASE,
            )
            self.claims.append(held)

    @rule(
        pick=st.integers(0, 10**6),
        how=st.sampled_from(["complete", "fail", "release"]),
        stale=st.booleans(),
    )
    def report(self, pick: int, how: str, stale: bool) -> None:
        """A holder reports on a claim: a current one, or any ever handed out (most are stale)."""
        current_claims = [c for c in self.claims if self._current(c)]
        pool = self.claims if stale or not current_claims else current_claims
        if not pool:
            return
        held = pool[pick % len(pool)]
        current = self._current(held)
        job = self.model.get(held.id)
        with self.db.write() as conn:
            if how == "release":
                assert jobs.release(conn, held, now=self.now) == current
            elif not current:
                with pytest.raises(jobs.LeaseLost):
                    if how == "complete":
                        jobs.complete(conn, held, now=self.now)
                    else:
                        jobs.fail(conn, held, "boom", now=self.now, backoff=BACKOFF)
            elif how == "complete":
                jobs.complete(conn, held, now=self.now)
            else:
                after = jobs.fail(conn, held, "boom", now=self.now, backoff=BACKOFF)
        if not current or job is None:
            return
        if how == "complete":
            self.model[held.id] = replace(
                job, status=JobStatus.DONE, token=None, claimed_until=None, finished_at=self.now
            )
        elif how == "fail":
            self.model[held.id] = self._failed(job, after)
        else:
            self.model[held.id] = replace(
                job,
                status=JobStatus.QUEUED,
                attempts=job.attempts - 1,
                token=None,
                claimed_until=None,
                run_after=self.now,
            )

    @rule(seconds=st.sampled_from([0, 1, 5, 12, 31, 120]), sweep=st.booleans())
    def time_passes(self, seconds: int, sweep: bool) -> None:
        """The clock moves on; then, maybe, a worker sweeps the leases that expired."""
        self.now += dt.timedelta(seconds=seconds)
        if not sweep:
            return
        with self.db.write() as conn:
            swept = {j.id: j for j in jobs.recover_expired(conn, now=self.now, backoff=BACKOFF)}
        expired = {
            i
            for i, j in self.model.items()
            if j.status == JobStatus.RUNNING and j.claimed_until and j.claimed_until <= self.now
        }
        assert set(swept) == expired
        for job_id, after in swept.items():
            self.model[job_id] = self._failed(self.model[job_id], after)

    @rule(pick=st.integers(0, 10**6))
    def retry(self, pick: int) -> None:
        ids = [*self.model, UNKNOWN_ID]
        job_id = ids[pick % len(ids)]
        job = self.model.get(job_id)
        with self.db.write() as conn:
            if job is None:
                with pytest.raises(jobs.JobNotFound):
                    jobs.retry(conn, job_id, now=self.now)
                return
            if job.status not in (JobStatus.FAILED, JobStatus.DEAD):
                with pytest.raises(jobs.JobNotRetriable):
                    jobs.retry(conn, job_id, now=self.now)
                return
            jobs.retry(conn, job_id, now=self.now)
        self.model[job_id] = replace(
            job, status=JobStatus.QUEUED, attempts=0, run_after=self.now, finished_at=None
        )

    @rule(retention=st.integers(0, 200))
    def prune(self, retention: int) -> None:
        cutoff = self.now - dt.timedelta(seconds=retention)
        gone = {
            i
            for i, j in self.model.items()
            if j.status in (JobStatus.DONE, JobStatus.DEAD)
            and j.finished_at is not None
            and j.finished_at < cutoff
        }
        with self.db.write() as conn:
            count = jobs.prune(conn, now=self.now, retention=dt.timedelta(seconds=retention))
        assert count == len(gone)
        for job_id in gone:
            del self.model[job_id]

    # -- the invariant --------------------------------------------------------------------

    @invariant()
    def stored_jobs_match_the_model(self) -> None:
        with self.db.read() as conn:
            stored = {job.id: job for job in jobs.list_jobs(conn, limit=500)}
            counts = jobs.count_by_status(conn)
        assert set(stored) == set(self.model)
        for job_id, expected in self.model.items():
            job = stored[job_id]
            assert (
                Expected(
                    job.status,
                    job.attempts,
                    job.max_attempts,
                    job.run_after,
                    job.claim_token,
                    job.claimed_until,
                    job.finished_at,
                    job.idempotency_key,
                )
                == expected
            ), job_id
            assert 0 <= job.attempts <= job.max_attempts
        for status in JobStatus:
            assert counts[status] == sum(1 for j in self.model.values() if j.status == status)


def test_the_queue_follows_its_state_machine(db: Database) -> None:
    run_state_machine_as_test(
        lambda: QueueMachine(db),
        settings=settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


# --- what enqueue accepts ------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
HOSTILE_SCALARS = (
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not math.isfinite(f))
    | st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
    | st.binary(max_size=4)
    | st.sets(st.integers(), max_size=2)
    | st.builds(object)
)
PAYLOADS = st.recursive(
    JSON_SCALARS | HOSTILE_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4)
    ),
    max_leaves=12,
)
NAMES = st.text(max_size=90) | st.text(st.characters(codec="ascii"), min_size=1, max_size=90)


def storable(value: Any) -> bool:
    """The model: JSON values whose text holds no NUL and no lone surrogate."""
    if isinstance(value, str):
        return storable_text(value)
    if value is None or isinstance(value, bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(storable(item) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and storable_text(k) and storable(v) for k, v in value.items()
        )
    return False


def storable_text(text: str) -> bool:
    return "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def good_name(name: str, longest: int) -> bool:
    return bool(name.strip()) and len(name) <= longest and storable_text(name)


@given(payload=PAYLOADS, kind=NAMES, key=st.none() | NAMES | st.text(max_size=210))
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_enqueue_stores_json_exactly_and_refuses_the_rest_cleanly(
    db: Database, payload: Any, kind: str, key: str | None
) -> None:
    with db.write() as conn:
        conn.execute(tables.jobs.delete())
    ok = (
        storable(payload)
        and good_name(kind, 80)
        and (key is None or (key != "" and len(key) <= 200 and storable_text(key)))
    )
    if not ok:
        with pytest.raises(ValueError, match=r"^job "), db.write() as conn:
            jobs.enqueue(conn, kind, payload, key=key)
        with db.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(tables.jobs)).scalar() == 0
        return
    with db.write() as conn:
        made = jobs.enqueue(conn, kind, payload, key=key)
    with db.read() as conn:
        stored = jobs.get_job(conn, made.id)
    expected = json.loads(json.dumps(payload))
    assert stored.payload == expected == made.payload
    assert (stored.kind, stored.idempotency_key) == (kind, key)
