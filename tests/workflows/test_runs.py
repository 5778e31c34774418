"""Run history: runs are stored whole (log and error clipped, never lost), listed newest
first by workflow, record or status, and pruned after the retention without touching
runs still in progress."""

from __future__ import annotations

import datetime as dt

import pytest

from xrm.platform.db import Database
from xrm.platform.ids import new_id
from xrm.workflows import runs
from xrm.workflows.runs import Run, RunStatus

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)


def run(**values: object) -> Run:
    base: dict[str, object] = {
        "workflow": "escalate",
        "trigger": "update",
        "stage": "after",
        "status": RunStatus.DONE,
        "started_at": NOW,
    }
    base.update(values)
    return Run(**base)  # type: ignore[arg-type]


def test_a_run_reads_back_as_it_was_recorded(db: Database) -> None:
    record_id = new_id()
    stored = run(
        record_id=record_id,
        duration_ms=12,
        log=("checking", "raised priority"),
        changes=({"action": "update", "entity": "grievance", "id": record_id},),
        actor_id=new_id(),
        request_id="req-1",
        depth=2,
    )
    with db.write() as conn:
        runs.record(conn, stored)
    with db.read() as conn:
        assert runs.get_run(conn, stored.id) == stored


def test_long_logs_and_errors_are_clipped_and_say_so(db: Database) -> None:
    lines = (*(f"line {i}" for i in range(runs.MAX_LOG_LINES + 25)), "x" * 5000)
    with db.write() as conn:
        stored = runs.record(conn, run(log=lines, error="E" * 10_000, status=RunStatus.FAILED))
    assert len(stored.log) == runs.MAX_LOG_LINES + 1
    assert stored.log[-1] == "… 26 more lines not kept"
    assert stored.error is not None and len(stored.error) == runs.MAX_ERROR
    with db.read() as conn:
        assert runs.get_run(conn, stored.id) == stored


def test_runs_list_newest_first_and_filter(db: Database) -> None:
    record_id = new_id()
    with db.write() as conn:
        old = runs.record(conn, run(started_at=NOW - dt.timedelta(minutes=5)))
        failed = runs.record(conn, run(status=RunStatus.FAILED, record_id=record_id))
        other = runs.record(conn, run(workflow="welcome", started_at=NOW + dt.timedelta(1)))
    with db.read() as conn:
        assert [r.id for r in runs.list_runs(conn)] == [other.id, failed.id, old.id]
        assert [r.id for r in runs.list_runs(conn, workflow="escalate")] == [failed.id, old.id]
        assert [r.id for r in runs.list_runs(conn, record_id=record_id)] == [failed.id]
        assert [r.id for r in runs.list_runs(conn, status=RunStatus.FAILED)] == [failed.id]
        assert [r.id for r in runs.list_runs(conn, limit=1)] == [other.id]


def test_an_async_run_is_settled_when_its_job_ends(db: Database) -> None:
    with db.write() as conn:
        queued = runs.record(conn, run(stage="async", status=RunStatus.QUEUED))
        runs.finish(conn, queued.id, RunStatus.DEAD, duration_ms=30, error="timed out")
    with db.read() as conn:
        settled = runs.get_run(conn, queued.id)
    assert settled is not None
    assert (settled.status, settled.duration_ms, settled.error) == (
        RunStatus.DEAD,
        30,
        "timed out",
    )


@pytest.mark.parametrize("status", [RunStatus.RUNNING, RunStatus.QUEUED])
def test_pruning_keeps_recent_runs_and_runs_in_progress(db: Database, status: RunStatus) -> None:
    long_ago = NOW - dt.timedelta(days=40)
    with db.write() as conn:
        gone = runs.record(conn, run(started_at=long_ago))
        waiting = runs.record(conn, run(started_at=long_ago, status=status))
        recent = runs.record(conn, run(started_at=NOW - dt.timedelta(days=1)))
        assert runs.prune(conn, now=NOW, retention=dt.timedelta(days=30)) == 1
    with db.read() as conn:
        assert runs.get_run(conn, gone.id) is None
        assert {r.id for r in runs.list_runs(conn)} == {waiting.id, recent.id}
