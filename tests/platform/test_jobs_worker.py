"""The worker in threads, as ``xrm serve`` runs it: handlers, failures, leases, stopping.

Time is never asserted: tests wait for conditions with generous timeouts, and
drive expiry with explicit clocks.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from jobs_support import (
    HANDLERS,
    at,
    create_side_tables,
    effects,
    record,
    runs_of,
    starts,
    statuses,
    wait_for,
)

from xrm.platform import jobs
from xrm.platform.db import Database
from xrm.platform.jobs import JobContext, JobStatus, Worker, WorkerConfig
from xrm.platform.settings import Settings

FAST = WorkerConfig(poll_seconds=0.02, concurrency=2, lease=dt.timedelta(seconds=30))


@pytest.fixture
def side(db: Database) -> Database:
    create_side_tables(db)
    return db


def enqueue(db: Database, kind: str, payload: Any = None, **options: Any) -> jobs.Job:
    with db.write() as conn:
        return jobs.enqueue(conn, kind, payload, **options)


def job(db: Database, job_id: str) -> jobs.Job:
    with db.read() as conn:
        return jobs.get_job(conn, job_id)


def test_a_handler_gets_its_payload_and_its_writes_commit_with_the_job(side: Database) -> None:
    seen: list[Any] = []

    def handler(payload: Any, ctx: JobContext) -> None:
        seen.append((payload, ctx.job.kind, ctx.job.attempts))
        record(payload, ctx)

    made = enqueue(side, "hello", {"to": ["ada", "연아"]})
    assert Worker(side, {"hello": handler}, FAST).drain() == 1
    assert seen == [({"to": ["ada", "연아"]}, "hello", 1)]
    assert runs_of(side, effects) == [(made.id, runs_of(side, starts)[0][1])]
    done = job(side, made.id)
    assert (done.status, done.claim_token, done.claimed_until) == (JobStatus.DONE, None, None)
    assert done.finished_at is not None


def test_a_failing_handler_leaves_no_writes_and_the_job_waits_to_retry(side: Database) -> None:
    def handler(payload: Any, ctx: JobContext) -> None:
        record(payload, ctx)
        raise RuntimeError("the mail server said no")

    made = enqueue(side, "mail", None, max_attempts=3)
    worker = Worker(side, {"mail": handler}, FAST)
    assert worker.drain() == 1  # once: the retry waits for its backoff
    failed = job(side, made.id)
    assert failed.status == JobStatus.FAILED
    assert failed.last_error == "RuntimeError: the mail server said no"
    assert failed.run_after > failed.updated_at
    assert runs_of(side, effects) == []  # rolled back with the failed attempt
    assert len(runs_of(side, starts)) == 1


def test_a_failure_hook_keeps_its_record_of_each_failed_attempt(side: Database) -> None:
    """The handler's writes roll back; the hook writes in the failure's own transaction, sees
    the job as it now stands, and a hook that breaks loses nothing of the job's record."""
    seen: list[tuple[str, int, str]] = []

    def handler(payload: Any, ctx: JobContext) -> None:
        record(payload, ctx)
        raise RuntimeError("no")

    def hook(conn: sa.Connection, failed: jobs.Job, exc: Exception) -> None:
        conn.execute(effects.insert().values(job_id=failed.id, worker="hook"))
        seen.append((failed.status.value, failed.attempts, str(exc)))
        if failed.status == JobStatus.DEAD:
            raise RuntimeError("the hook itself breaks")

    made = enqueue(side, "mail", None, max_attempts=2)
    clock = [dt.datetime.now(dt.UTC)]
    worker = Worker(
        side, {"mail": handler}, FAST, on_failure={"mail": hook}, clock=lambda: clock[0]
    )
    assert worker.drain() == 1
    clock[0] += dt.timedelta(hours=2)  # past the backoff
    assert worker.drain() == 1
    assert seen == [("failed", 1, "no"), ("dead", 2, "no")]
    # The first hook's write stayed; the second's rolled back with its own savepoint only.
    assert runs_of(side, effects) == [(made.id, "hook")]
    assert job(side, made.id).status == JobStatus.DEAD


def test_a_job_of_an_unknown_kind_fails_with_a_clear_error(side: Database) -> None:
    made = enqueue(side, "webhok", {"url": "x"})
    Worker(side, HANDLERS, FAST).drain()
    failed = job(side, made.id)
    assert failed.status == JobStatus.FAILED
    assert failed.last_error == (
        "UnknownJobKind: no handler for job kind 'webhok' in this worker (known: record, stall)"
    )


def test_a_database_error_in_a_handler_is_not_shown_to_admins(side: Database) -> None:
    def handler(_payload: Any, ctx: JobContext) -> None:
        ctx.conn.execute(sa.text("SELECT * FROM no_such_table_here"))

    made = enqueue(side, "broken", None)
    Worker(side, {"broken": handler}, FAST).drain()
    error = job(side, made.id).last_error or ""
    assert error.startswith("a database error stopped this job")
    assert "no_such_table_here" not in error and "SELECT" not in error


def test_a_job_fails_until_dead_then_a_retry_runs_it_again(side: Database) -> None:
    calls = Counter[str]()

    def flaky(payload: Any, ctx: JobContext) -> None:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise ConnectionError(f"refused ({calls['n']})")
        record(payload, ctx)

    now = [at(0)]
    config = WorkerConfig(poll_seconds=0.02, concurrency=1, lease=dt.timedelta(seconds=30))
    worker = Worker(side, {"flaky": flaky}, config, clock=lambda: now[0])
    made = enqueue(side, "flaky", None, max_attempts=3, now=at(0))
    for _ in range(3):
        assert worker.run_once()
        now[0] = job(side, made.id).run_after
    dead = job(side, made.id)
    assert (dead.status, dead.attempts, dead.last_error) == (
        JobStatus.DEAD,
        3,
        "ConnectionError: refused (3)",
    )
    now[0] = at(10**5)  # long after its last backoff, well within the retention
    assert worker.drain() == 0  # dead stays dead
    with side.write() as conn:
        jobs.retry(conn, made.id, now=now[0])
    assert worker.drain() == 1
    assert job(side, made.id).status == JobStatus.DONE
    assert [j for j, _ in runs_of(side, effects)] == [made.id]


def test_a_stale_holder_cannot_finish_a_job_taken_over_by_another(side: Database) -> None:
    """The first worker stalls past its lease; the job is swept and claimed again; when the
    first one wakes up its writes are refused, and the job stays with the new holder."""
    may_go_on = threading.Event()
    outcome: list[str] = []

    def slow(payload: Any, ctx: JobContext) -> None:
        outcome.append("started")
        assert may_go_on.wait(120)
        try:
            ctx.conn.execute(effects.insert().values(job_id=ctx.job.id, worker=ctx.worker))
        except jobs.LeaseLost:
            outcome.append("refused")
            raise

    made = enqueue(side, "slow", None)
    stale = Worker(side, {"slow": slow}, FAST, name="stale")
    thread = threading.Thread(target=stale.run_once)
    thread.start()
    wait_for(lambda: outcome == ["started"], "the first run to start")

    lease_end = job(side, made.id).claimed_until
    assert lease_end is not None
    with side.write() as conn:
        [swept] = jobs.recover_expired(conn, now=lease_end, backoff=FAST.backoff)
        [new] = jobs.claim(conn, "new", now=swept.run_after, lease=FAST.lease)
    may_go_on.set()
    thread.join(120)
    assert outcome == ["started", "refused"]
    assert runs_of(side, effects) == []
    current = job(side, made.id)
    assert (current.status, current.claimed_by, current.attempts) == (JobStatus.RUNNING, "new", 2)
    with side.write() as conn:
        jobs.complete(conn, new, now=swept.run_after)
    assert job(side, made.id).status == JobStatus.DONE


def test_leases_of_running_jobs_are_renewed(side: Database) -> None:
    may_finish = threading.Event()

    def long_job(_payload: Any, _ctx: JobContext) -> None:
        assert may_finish.wait(120)

    made = enqueue(side, "long", None)
    config = WorkerConfig(poll_seconds=0.02, concurrency=1, lease=dt.timedelta(seconds=0.3))
    worker = Worker(side, {"long": long_job}, config)
    worker.start()
    try:
        first = wait_for(lambda: job(side, made.id).claimed_until, "the job to be claimed")
        wait_for(
            lambda: (job(side, made.id).claimed_until or first) > first, "the lease to be renewed"
        )
        # Renewed, so never swept: the job has had one attempt only.
        assert job(side, made.id).attempts == 1
        may_finish.set()
        wait_for(lambda: job(side, made.id).status == JobStatus.DONE, "the job to finish")
    finally:
        may_finish.set()
        assert worker.stop(120)
    assert job(side, made.id).attempts == 1


def test_two_workers_in_threads_run_500_jobs_each_exactly_once(side: Database) -> None:
    with side.write() as conn:
        made = {jobs.enqueue(conn, "record", {"n": n}).id for n in range(500)}
    other_db = Database(side.settings)
    workers = [
        Worker(side, HANDLERS, FAST, name="one"),
        Worker(other_db, HANDLERS, FAST, name="two"),
    ]
    try:
        for worker in workers:
            worker.start()
        wait_for(lambda: set(statuses(side).values()) == {"done"}, "every job to be done")
    finally:
        stopped = [worker.stop(120) for worker in workers]
        other_db.dispose()
    assert stopped == [True, True]
    for table in (starts, effects):
        ran = [job_id for job_id, _ in runs_of(side, table)]
        assert len(ran) == 500 and set(ran) == made, table.name
    by_worker = Counter(worker.split("#")[0] for _, worker in runs_of(side, effects))
    assert set(by_worker) == {"one", "two"}


def test_wake_runs_a_new_job_without_waiting_for_the_poll(side: Database) -> None:
    sleepy = WorkerConfig(poll_seconds=3600, concurrency=1)
    worker = Worker(side, HANDLERS, sleepy)
    worker.start()
    try:
        wait_for(lambda: worker._last_prune is not None, "the worker's first look at the queue")
        made = enqueue(side, "record", None)
        worker.wake()
        wait_for(lambda: job(side, made.id).status == JobStatus.DONE, "the woken worker")
    finally:
        assert worker.stop(120)


def test_stop_lets_the_running_job_finish(side: Database) -> None:
    started, may_finish = threading.Event(), threading.Event()

    def handler(payload: Any, ctx: JobContext) -> None:
        started.set()
        assert may_finish.wait(120)
        record(payload, ctx)

    first = enqueue(side, "h", None)
    one_at_a_time = WorkerConfig(poll_seconds=0.02, concurrency=1)
    worker = Worker(side, {"h": handler}, one_at_a_time)
    worker.start()
    assert started.wait(120)
    second = enqueue(side, "h", None)
    worker.request_stop()
    may_finish.set()
    assert worker.stop(120) is True
    assert job(side, first.id).status == JobStatus.DONE
    assert job(side, second.id).status == JobStatus.QUEUED  # nothing claimed after the stop


def test_stop_hands_back_a_job_that_outlives_the_grace(side: Database) -> None:
    started, may_finish = threading.Event(), threading.Event()

    def handler(payload: Any, ctx: JobContext) -> None:
        started.set()
        assert may_finish.wait(120)
        record(payload, ctx)

    made = enqueue(side, "h", None)
    worker = Worker(side, {"h": handler}, FAST)
    worker.start()
    assert started.wait(120)
    assert worker.stop(timeout=0) is False
    back = job(side, made.id)
    assert (back.status, back.attempts) == (JobStatus.QUEUED, 0)
    may_finish.set()  # the abandoned run finishes, but may not complete the job
    wait_for(lambda: not worker._in_flight, "the abandoned run to end")
    assert runs_of(side, effects) == []
    assert job(side, made.id).status == JobStatus.QUEUED
    assert Worker(side, {"h": record}, FAST).drain() == 1
    assert len(runs_of(side, effects)) == 1


def test_the_worker_prunes_finished_jobs_after_the_retention(side: Database) -> None:
    now = [at(0)]
    config = WorkerConfig(poll_seconds=0.02, concurrency=1, retention=dt.timedelta(days=1))
    worker = Worker(side, HANDLERS, config, clock=lambda: now[0])
    made = enqueue(side, "record", None, now=at(0))
    assert worker.drain() == 1
    now[0] = at(0) + dt.timedelta(days=1, hours=1)
    worker.drain()
    assert made.id not in statuses(side)


def test_worker_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XRM_JOBS_LEASE_SECONDS", "90")
    monkeypatch.setenv("XRM_JOBS_CONCURRENCY", "4")
    monkeypatch.setenv("XRM_JOBS_BACKOFF_SECONDS", "3")
    monkeypatch.setenv("XRM_JOBS_RETENTION_DAYS", "2")
    monkeypatch.setenv("XRM_JOBS_POLL_SECONDS", "5")
    config = WorkerConfig.from_settings(Settings.from_env())
    assert config.lease == dt.timedelta(seconds=90)
    assert (config.concurrency, config.poll_seconds) == (4, 5.0)
    assert config.backoff.base == dt.timedelta(seconds=3)
    assert config.retention == dt.timedelta(days=2)
    monkeypatch.setenv("XRM_JOBS_MAX_ATTEMPTS", "0")
    with pytest.raises(ValueError, match="XRM_JOBS_MAX_ATTEMPTS must be at least 1, not 0"):
        Settings.from_env()
