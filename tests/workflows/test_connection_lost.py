"""The database connection dies in the middle of a run (PostgreSQL restarted, a proxy cut it):
the write or job it served is undone whole, the user or the queue gets a clear error, and a
job's next attempt does the work exactly once. (SQLite has no connection to lose.)"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import ENGINE_KIND

from xrm.entities.records import RecordService
from xrm.platform import tables
from xrm.platform.identity import Actor
from xrm.platform.jobs import JobContext, Worker, WorkerConfig, queue
from xrm.workflows import runs
from xrm.workflows.engine import RUN_JOB, WorkflowEngine
from xrm.workflows.runs import RunStatus

pytestmark = pytest.mark.skipif(ENGINE_KIND != "postgresql", reason="SQLite has no connection")
pytest_plugins = ["sandbox_pool"]

# Makes its task first, then computes long enough for the test to cut the connection.
SLOW: dict[str, Any] = {
    "name": "slow_follow_up",
    "entity": "grievance",
    "on": ["create"],
    "limits": {"cpuSeconds": 10, "wallSeconds": 30},
    "actions": [
        {
            "type": "script",
            "code": "create('task', {'title': 'follow up ' + record['id']})\n"
            "if record['subject'] == 'slow':\n"
            "    n = 0\n"
            "    while n < 20000000:\n"
            "        n += 1",
        }
    ],
}


def cut_after_the_task(db_url: str, backends: list[int]) -> None:
    """Once the rule has written its task and is computing, terminate its connection."""
    # Autocommit: each look at pg_stat_activity sees it afresh (a transaction keeps a snapshot).
    engine = sa.create_engine(db_url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while not backends and time.monotonic() < deadline:
            time.sleep(0.01)
        # Idle in its transaction for a while: the rule's loop, after its write.
        computing = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"
            " AND state = 'idle in transaction' AND now() - state_change > interval '200 ms'"
        )
        while time.monotonic() < deadline:
            if conn.execute(computing, {"pid": backends[0]}).scalar_one():
                break
            time.sleep(0.01)
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backends[0]})
    engine.dispose()


def tasks(service: RecordService, admin: Actor) -> list[str]:
    with service.session(admin, write=False) as session:
        return [t["title"] for t in session.query("task").items]


def test_an_async_run_whose_connection_dies_is_retried_and_done_once(
    ruled: RecordService, admin: Actor, test_database: Any
) -> None:
    ruled.registry.apply([{**SLOW, "stage": "async"}])
    with ruled.session(admin) as session:
        made = session.create("grievance", {"subject": "slow"})
    engine: WorkflowEngine = ruled.listener.engine  # type: ignore[union-attr]
    handlers = engine.job_handlers()
    real = handlers[RUN_JOB]
    backends: list[int] = []

    def spy(payload: Any, context: JobContext) -> None:
        backends.append(context.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        real(payload, context)

    clock = [queue.utcnow()]
    config = WorkerConfig(poll_seconds=0.02, concurrency=1, lease=dt.timedelta(seconds=30))
    worker = Worker(
        ruled.db,
        {**handlers, RUN_JOB: spy},
        config,
        on_failure=engine.failure_hooks(),
        clock=lambda: clock[0],
    )
    first = threading.Thread(target=worker.drain)
    first.start()
    cut_after_the_task(test_database.url, backends)
    first.join(timeout=60)
    assert tasks(ruled, admin) == []  # the attempt's task went with its connection
    with ruled.db.read() as conn:
        (run,) = runs.list_runs(conn)
        job = conn.execute(sa.select(tables.jobs)).mappings().one()
    assert (run.status, job["status"], job["attempts"]) == (RunStatus.FAILED, "failed", 1)
    clock[0] += dt.timedelta(hours=1)  # past the backoff
    assert worker.drain() == 1
    assert tasks(ruled, admin) == [f"follow up {made['id']}"]
    with ruled.db.read() as conn:
        (run,) = runs.list_runs(conn)
    assert run.status is RunStatus.DONE


def test_a_write_whose_connection_dies_during_its_after_rule_keeps_nothing(
    ruled: RecordService, admin: Actor, test_database: Any
) -> None:
    ruled.registry.apply([{**SLOW, "stage": "after"}])
    caught: list[BaseException] = []
    backends: list[int] = []

    def write() -> None:
        try:
            with ruled.session(admin) as session:
                backends.append(
                    session.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
                )
                session.create("grievance", {"subject": "slow"})
        except BaseException as exc:  # what the API layer would turn into an answer
            caught.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    cut_after_the_task(test_database.url, backends)
    writer.join(timeout=60)
    (error,) = caught
    assert isinstance(error, sa.exc.DBAPIError)  # the API answers it without its text
    with ruled.session(admin, write=False) as session:
        assert session.query("grievance").items == []
    assert tasks(ruled, admin) == []
