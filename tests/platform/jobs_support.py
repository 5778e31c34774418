"""What the job queue tests share: side tables that record what handlers did, the handlers,
and helpers to wait for a condition (never a fixed sleep) and to run a worker process.

Each handler records its start in a transaction of its own (committed even if
the run is later killed or refused) and its effect through the job's own
transaction (committed only together with the job's completion). Neither
table has a unique constraint, so a job run twice shows up as two rows
rather than as an error.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.jobs import JobContext

side = sa.MetaData()
starts = sa.Table(
    "test_job_starts",
    side,
    sa.Column("n", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(36), nullable=False),
    sa.Column("worker", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
)
effects = sa.Table(
    "test_job_effects",
    side,
    sa.Column("n", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(36), nullable=False),
    sa.Column("worker", sa.String(200), nullable=False),
)

HERE = Path(__file__).resolve().parent
WORKER_SCRIPT = HERE / "jobs_worker_process.py"


def create_side_tables(db: Database) -> None:
    side.create_all(db.engine)


def record(_payload: Any, ctx: JobContext) -> None:
    """A job whose start and whose effect are both recorded."""
    _record_start(ctx)
    ctx.conn.execute(effects.insert().values(job_id=ctx.job.id, worker=ctx.worker))


def stall_first_attempt(payload: Any, ctx: JobContext) -> None:
    """Record the start and the effect, then, on a first attempt, never finish.

    Once the effect is written inside the job's open transaction it touches
    ``payload["marker"]`` so a test knows the worker is mid-job, and can kill it.
    """
    _record_start(ctx)
    ctx.conn.execute(effects.insert().values(job_id=ctx.job.id, worker=ctx.worker))
    if ctx.job.attempts == 1:
        Path(payload["marker"]).touch()
        while True:
            time.sleep(1)


def _record_start(ctx: JobContext) -> None:
    with ctx.db.write() as conn:
        conn.execute(
            starts.insert().values(job_id=ctx.job.id, worker=ctx.worker, attempt=ctx.job.attempts)
        )


HANDLERS: dict[str, Callable[[Any, JobContext], None]] = {
    "record": record,
    "stall": stall_first_attempt,
}


def runs_of(db: Database, table: sa.Table) -> list[tuple[str, str]]:
    """(job id, worker) for every row of a side table."""
    with db.read() as conn:
        rows = conn.execute(sa.select(table.c.job_id, table.c.worker))
        return [(job_id, worker) for job_id, worker in rows]


def statuses(db: Database) -> dict[str, str]:
    with db.read() as conn:
        rows = conn.execute(sa.select(tables.jobs.c.id, tables.jobs.c.status))
        return {job_id: status for job_id, status in rows}


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """Poll until ``condition()`` is truthy; fail naming ``what`` after a generous timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def at(seconds: float) -> dt.datetime:
    """A fixed instant for explicit clocks: ``seconds`` after an arbitrary epoch."""
    return dt.datetime(2030, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)


@contextmanager
def worker_process(
    environment: dict[str, str], *args: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker process running the test handlers (see jobs_worker_process.py).

    Stopped with SIGKILL on the way out if the test did not end it itself.
    """
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT), *args],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
