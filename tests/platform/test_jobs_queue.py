"""The job queue's rules, driven step by step with an explicit clock, on SQLite and PostgreSQL.

Outbox (a job exists exactly when its transaction commits), idempotency keys,
backoff, dead after the last attempt, manual retry, leases that expire and
the stale holder that can no longer finish, listing, counting and pruning.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from jobs_support import at

from xrm.platform import jobs, tables
from xrm.platform.db import Database
from xrm.platform.jobs import Backoff, JobStatus

LEASE = dt.timedelta(seconds=30)
BACKOFF = Backoff(base=dt.timedelta(seconds=10), ceiling=dt.timedelta(days=1), jitter=0.25)


class Boom(Exception):
    pass


def count_jobs(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(tables.jobs)).scalar_one())


def enqueue(db: Database, kind: str = "k", payload: Any = None, **options: Any) -> jobs.Job:
    options.setdefault("now", at(0))
    with db.write() as conn:
        return jobs.enqueue(conn, kind, payload, **options)


def claim_one(db: Database, now: dt.datetime, worker: str = "w") -> jobs.Claim:
    with db.write() as conn:
        claims = jobs.claim(conn, worker, now=now, lease=LEASE)
    assert len(claims) == 1, claims
    return claims[0]


def get(db: Database, job_id: str) -> jobs.Job:
    with db.read() as conn:
        return jobs.get_job(conn, job_id)


def test_a_job_enqueued_in_a_rolled_back_transaction_never_exists(db: Database) -> None:
    with pytest.raises(Boom), db.write() as conn:
        jobs.enqueue(conn, "webhook", {"record": 1}, key="rolled-back")
        raise Boom
    assert count_jobs(db) == 0
    with db.write() as conn:
        assert jobs.claim(conn, "w", now=at(10**6), lease=LEASE) == []
    # The key was never taken: the same key later makes a real job.
    job = enqueue(db, "webhook", {"record": 2}, key="rolled-back")
    assert get(db, job.id).payload == {"record": 2}


def test_a_job_is_invisible_to_workers_until_its_transaction_commits(db: Database) -> None:
    with db.write() as conn:
        job = jobs.enqueue(conn, "webhook", {"n": 1})
        seen: list[list[jobs.Claim]] = []

        def other_worker() -> None:
            with db.read() as other:
                rows = other.execute(sa.select(tables.jobs.c.id)).all()
            seen.append(rows)  # type: ignore[arg-type]

        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join(60)
        assert seen == [[]]
    assert claim_one(db, at(10**6)).id == job.id


def test_the_same_idempotency_key_returns_the_existing_job(db: Database) -> None:
    first = enqueue(db, "webhook", {"v": 1}, key="order-7/paid")
    again = enqueue(db, "webhook", {"v": 2}, key="order-7/paid", now=at(50))
    assert again.id == first.id
    assert again.payload == {"v": 1}
    assert count_jobs(db) == 1
    # Still a no-op once the job has run: the key stands until the job is pruned.
    c = claim_one(db, at(1))
    with db.write() as conn:
        jobs.complete(conn, c, now=at(2))
    assert enqueue(db, "webhook", {"v": 3}, key="order-7/paid").id == first.id
    assert count_jobs(db) == 1
    with db.write() as conn:
        assert jobs.prune(conn, now=at(100), retention=dt.timedelta(seconds=10)) == 1
    assert enqueue(db, "webhook", {"v": 4}, key="order-7/paid").id != first.id


def test_jobs_without_a_key_are_all_kept(db: Database) -> None:
    a = enqueue(db, "webhook", {"v": 1})
    b = enqueue(db, "webhook", {"v": 1})
    assert a.id != b.id
    assert count_jobs(db) == 2


def test_a_key_reused_by_another_kind_is_refused(db: Database) -> None:
    enqueue(db, "webhook", None, key="shared")
    with pytest.raises(ValueError, match="already belongs to a 'webhook' job"):
        enqueue(db, "import", None, key="shared")
    assert count_jobs(db) == 1


def test_two_transactions_racing_on_one_key_make_one_job(db: Database) -> None:
    answers: list[str] = []
    with db.write() as conn:
        first = jobs.enqueue(conn, "webhook", {"v": 1}, key="race")

        def second() -> None:
            answers.append(enqueue(db, "webhook", {"v": 2}, key="race").id)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.3)  # give it the chance to collide; it waits for our commit either way
    thread.join(60)
    assert answers == [first.id]
    assert count_jobs(db) == 1


def test_a_delayed_job_waits_for_its_time(db: Database) -> None:
    job = enqueue(db, "reminder", None, run_after=at(60))
    with db.write() as conn:
        assert jobs.claim(conn, "w", now=at(59), lease=LEASE) == []
    assert claim_one(db, at(60)).id == job.id


def test_jobs_are_claimed_oldest_due_first(db: Database) -> None:
    late = enqueue(db, "k", "late", run_after=at(5))
    early = enqueue(db, "k", "early", run_after=at(1))
    with db.write() as conn:
        claims = jobs.claim(conn, "w", now=at(10), lease=LEASE, limit=5)
    assert [c.id for c in claims] == [early.id, late.id]
    assert all(c.job.status == JobStatus.RUNNING and c.job.attempts == 1 for c in claims)
    with db.write() as conn:
        assert jobs.claim(conn, "w", now=at(10), lease=LEASE, limit=5) == []


def test_backoff_grows_with_every_failure_then_the_job_is_dead(db: Database) -> None:
    job = enqueue(db, "webhook", None, max_attempts=6)
    now = at(0)
    waits: list[float] = []
    for attempt in range(1, 7):
        held = claim_one(db, now)
        assert held.job.attempts == attempt
        with db.write() as conn:
            after = jobs.fail(conn, held, f"target down ({attempt})", now=now, backoff=BACKOFF)
        if attempt < 6:
            assert after.status == JobStatus.FAILED
            wait = (after.run_after - now).total_seconds()
            low = 10 * 2 ** (attempt - 1)
            assert low <= wait <= low * 1.25
            waits.append(wait)
            just_before = after.run_after - dt.timedelta(seconds=1)
            with db.write() as conn:  # not before its time
                assert jobs.claim(conn, "w", now=just_before, lease=LEASE) == []
            now = after.run_after
    assert waits == sorted(waits) and len(set(waits)) == 5
    dead = get(db, job.id)
    assert dead.status == JobStatus.DEAD
    assert dead.attempts == 6
    assert dead.last_error == "target down (6)"
    assert dead.finished_at == now
    with db.write() as conn:  # a dead job is never claimed again on its own
        assert jobs.claim(conn, "w", now=at(10**8), lease=LEASE) == []


def test_backoff_stops_at_its_ceiling() -> None:
    backoff = Backoff(base=dt.timedelta(seconds=10), ceiling=dt.timedelta(minutes=5))
    assert backoff.delay(1_000) == dt.timedelta(minutes=5)
    assert backoff.delay(1) >= dt.timedelta(seconds=10)


def test_retry_brings_a_dead_job_back_with_fresh_attempts(db: Database) -> None:
    job = enqueue(db, "webhook", {"url": "x"}, max_attempts=1)
    held = claim_one(db, at(0))
    with db.write() as conn:
        assert jobs.fail(conn, held, "no route", now=at(1), backoff=BACKOFF).status == "dead"
        again = jobs.retry(conn, job.id, now=at(100))
    assert (again.status, again.attempts, again.run_after, again.finished_at) == (
        JobStatus.QUEUED,
        0,
        at(100),
        None,
    )
    assert again.last_error == "no route"  # still shown until it next fails
    held = claim_one(db, at(100))
    with db.write() as conn:
        jobs.complete(conn, held, now=at(101))
    assert get(db, job.id).status == JobStatus.DONE


def test_retry_runs_a_failed_job_now(db: Database) -> None:
    job = enqueue(db, "webhook", None, max_attempts=5)
    held = claim_one(db, at(0))
    with db.write() as conn:
        failed = jobs.fail(conn, held, "timeout", now=at(0), backoff=BACKOFF)
    assert failed.run_after > at(1)
    with db.write() as conn:
        jobs.retry(conn, job.id, now=at(1))
    assert claim_one(db, at(1)).id == job.id


@pytest.mark.parametrize("state", ["queued", "running", "done"])
def test_only_failed_or_dead_jobs_can_be_retried(db: Database, state: str) -> None:
    job = enqueue(db, "webhook", None)
    if state != "queued":
        held = claim_one(db, at(0))
        if state == "done":
            with db.write() as conn:
                jobs.complete(conn, held, now=at(1))
    refused = pytest.raises(jobs.JobNotRetriable, match=f"is {state}; only failed or dead")
    with refused, db.write() as conn:
        jobs.retry(conn, job.id)
    assert get(db, job.id).status == state


@pytest.mark.parametrize("job_id", ["0190d3a4-0000-7000-8000-000000000000", "not-an-id", ""])
def test_retrying_or_reading_an_unknown_job_says_so(db: Database, job_id: str) -> None:
    with pytest.raises(jobs.JobNotFound, match="there is no job"), db.write() as conn:
        jobs.retry(conn, job_id)
    with pytest.raises(jobs.JobNotFound, match="there is no job"), db.read() as conn:
        jobs.get_job(conn, job_id)


def test_an_expired_lease_makes_the_job_claimable_and_the_old_holder_powerless(
    db: Database,
) -> None:
    job = enqueue(db, "webhook", None)
    old = claim_one(db, at(0), worker="old")
    assert old.job.claimed_until == at(30)
    with db.write() as conn:  # still leased: nothing to sweep, nothing to claim
        assert jobs.recover_expired(conn, now=at(29), backoff=BACKOFF) == []
        assert jobs.claim(conn, "new", now=at(29), lease=LEASE) == []
    with db.write() as conn:
        [swept] = jobs.recover_expired(conn, now=at(30), backoff=BACKOFF)
    assert swept.status == JobStatus.FAILED
    assert "lease expired" in (swept.last_error or "")
    new = claim_one(db, swept.run_after, worker="new")
    assert new.id == job.id and new.job.attempts == 2 and new.token != old.token

    with db.write() as conn:
        with pytest.raises(jobs.LeaseLost):
            jobs.complete(conn, old, now=swept.run_after)
        with pytest.raises(jobs.LeaseLost):
            jobs.fail(conn, old, "late", now=swept.run_after, backoff=BACKOFF)
        with pytest.raises(jobs.LeaseLost):
            jobs.lock(conn, old)
        assert jobs.renew(conn, [old], now=swept.run_after, lease=LEASE) == 0
        assert jobs.release(conn, old, now=swept.run_after) is False
    current = get(db, job.id)
    assert (current.status, current.claimed_by) == (JobStatus.RUNNING, "new")

    with db.write() as conn:
        jobs.complete(conn, new, now=swept.run_after)
    assert get(db, job.id).status == JobStatus.DONE


def test_a_renewed_lease_is_not_swept(db: Database) -> None:
    enqueue(db, "webhook", None)
    held = claim_one(db, at(0))
    with db.write() as conn:
        assert jobs.renew(conn, [held], now=at(20), lease=LEASE) == 1
        assert jobs.recover_expired(conn, now=at(40), backoff=BACKOFF) == []
        [swept] = jobs.recover_expired(conn, now=at(50), backoff=BACKOFF)
    assert swept.id == held.id


def test_a_job_whose_last_lease_expires_is_dead(db: Database) -> None:
    job = enqueue(db, "webhook", None, max_attempts=1)
    claim_one(db, at(0))
    with db.write() as conn:
        [swept] = jobs.recover_expired(conn, now=at(31), backoff=BACKOFF)
    assert swept.id == job.id and swept.status == JobStatus.DEAD


def test_a_released_job_is_queued_again_without_spending_an_attempt(db: Database) -> None:
    job = enqueue(db, "webhook", None, max_attempts=1)
    held = claim_one(db, at(0))
    with db.write() as conn:
        assert jobs.release(conn, held, now=at(1)) is True
        with pytest.raises(jobs.LeaseLost):
            jobs.complete(conn, held, now=at(1))
    back = get(db, job.id)
    assert (back.status, back.attempts) == (JobStatus.QUEUED, 0)
    assert claim_one(db, at(1)).job.attempts == 1


def test_listing_and_counting_for_the_admin_page(db: Database) -> None:
    made = [enqueue(db, "webhook" if n % 2 else "import", {"n": n}) for n in range(5)]
    held = claim_one(db, at(0))  # the oldest, made[0]
    with db.write() as conn:
        jobs.fail(conn, held, "boom", now=at(0), backoff=BACKOFF)
        counts = jobs.count_by_status(conn)
        assert counts == {
            JobStatus.QUEUED: 4,
            JobStatus.RUNNING: 0,
            JobStatus.DONE: 0,
            JobStatus.FAILED: 1,
            JobStatus.DEAD: 0,
        }
        assert jobs.count_by_status(conn, kind="webhook")[JobStatus.QUEUED] == 2
        newest_first = [j.id for j in jobs.list_jobs(conn)]
        assert newest_first == [j.id for j in reversed(made)]
        page = jobs.list_jobs(conn, limit=2)
        rest = jobs.list_jobs(conn, before=page[-1].id, limit=10)
        assert [j.id for j in page + rest] == newest_first
        assert [j.id for j in jobs.list_jobs(conn, status="failed")] == [made[0].id]
        assert {j.kind for j in jobs.list_jobs(conn, kind="webhook")} == {"webhook"}
        with pytest.raises(ValueError, match="'stuck' is not a valid JobStatus"):
            jobs.list_jobs(conn, status="stuck")
        with pytest.raises(ValueError, match="before must be a job id"):
            jobs.list_jobs(conn, before="1; drop table xrm_jobs")
        with pytest.raises(ValueError, match="limit must be between 1 and 500"):
            jobs.list_jobs(conn, limit=0)


def test_pruning_removes_only_jobs_finished_before_the_retention(db: Database) -> None:
    old_done, new_done, old_dead, waiting = (enqueue(db, "k", n, max_attempts=1) for n in range(4))
    with db.write() as conn:
        claims = {c.id: c for c in jobs.claim(conn, "w", now=at(0), lease=LEASE, limit=4)}
        jobs.complete(conn, claims[old_done.id], now=at(0))
        jobs.fail(conn, claims[old_dead.id], "x", now=at(0), backoff=BACKOFF)
        jobs.complete(conn, claims[new_done.id], now=at(900))
        jobs.release(conn, claims[waiting.id], now=at(0))
        assert jobs.prune(conn, now=at(1000), retention=dt.timedelta(seconds=500)) == 2
        left = {j.id for j in jobs.list_jobs(conn)}
    assert left == {new_done.id, waiting.id}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kind": ""}, "job kind must be a non-empty string"),
        ({"kind": "k" * 81}, "job kind is 81 characters long; at most 80"),
        ({"key": ""}, "idempotency key must be a non-empty string"),
        ({"key": "k" * 201}, "idempotency key is 201 characters long"),
        ({"max_attempts": 0}, "max_attempts must be a whole number of at least 1"),
        ({"payload": {"x": float("nan")}}, r"job payload\.x is nan"),
        ({"payload": {1: "a"}}, "has the key 1; JSON keys must be text"),
        ({"payload": [object()]}, r"job payload\[0\] is a object"),
        ({"payload": {"s": "\ud800"}}, r"payload\.s holds a lone surrogate"),
        ({"payload": "a\x00b"}, "holds a NUL character"),
    ],
)
def test_bad_job_arguments_are_refused_before_anything_is_stored(
    db: Database, arguments: dict[str, Any], message: str
) -> None:
    call: dict[str, Any] = {"kind": "k", "payload": None, **arguments}
    with pytest.raises(ValueError, match=message), db.write() as conn:
        jobs.enqueue(conn, call.pop("kind"), call.pop("payload"), **call)
    assert count_jobs(db) == 0


def test_a_payload_nested_too_deep_is_refused(db: Database) -> None:
    payload: Any = "leaf"
    for _ in range(10_000):
        payload = [payload]
    with pytest.raises(ValueError, match="nested more than 64 levels deep"), db.write() as conn:
        jobs.enqueue(conn, "k", payload)
