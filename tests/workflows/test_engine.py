"""The engine's runs end to end on a real database: by hand, dry, tested before saving,
queued (async) through the job worker with retries, and on schedule as the author."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from xrm.entities.records import RecordService
from xrm.errors import NotFound, ValidationFailed
from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.identity import Actor
from xrm.platform.jobs import Worker, WorkerConfig
from xrm.workflows import runs
from xrm.workflows.engine import WorkflowEngine, user_of
from xrm.workflows.pool import SandboxPool
from xrm.workflows.runner import Firing
from xrm.workflows.runs import Run, RunStatus

pytest_plugins = ["sandbox_pool"]

FAST = WorkerConfig(poll_seconds=0.02, concurrency=1, lease=dt.timedelta(seconds=30))

FOLLOW_UP: dict[str, Any] = {
    "name": "follow_up",
    "entity": "grievance",
    "on": ["manual"],  # runs queued by hand here; writes firing rules: test_write_rules.py
    "actions": [
        {
            "type": "script",
            "code": "t = create('task', {'title': 'Follow up: ' + record['subject'],"
            " 'grievance': record['id']})\nlog('made', t['title'])",
        }
    ],
}


@pytest.fixture
def engine(catalog_service: RecordService, pool: SandboxPool) -> WorkflowEngine:
    return WorkflowEngine(catalog_service, pool)


@pytest.fixture
def grievance(catalog_service: RecordService, admin: Actor) -> dict[str, Any]:
    with catalog_service.session(admin) as session:
        return dict(session.create("grievance", {"subject": "No signal"}))


def tasks(service: RecordService, admin: Actor) -> list[str]:
    with service.session(admin, write=False) as session:
        return sorted(t["title"] for t in session.query("task").items)


def stored_runs(db: Database) -> list[Run]:
    with db.read() as conn:
        return runs.list_runs(conn)


def test_a_manual_run_writes_with_its_run_row(
    engine: WorkflowEngine, catalog_service: RecordService, admin: Actor, grievance: Any
) -> None:
    catalog_service.registry.apply([FOLLOW_UP])
    run = engine.run_by_hand(admin, "follow_up", grievance["id"], request_id="r1")
    assert (run.status, run.record_id, run.log) == (
        RunStatus.DONE,
        grievance["id"],
        ("made Follow up: No signal",),
    )
    assert [c["action"] for c in run.changes] == ["create"]
    assert tasks(catalog_service, admin) == ["Follow up: No signal"]
    assert stored_runs(catalog_service.db) == [run]


def test_a_dry_run_reports_its_changes_and_keeps_none(
    engine: WorkflowEngine, catalog_service: RecordService, admin: Actor, grievance: Any
) -> None:
    catalog_service.registry.apply([FOLLOW_UP])
    run = engine.run_by_hand(admin, "follow_up", grievance["id"], dry_run=True)
    assert run.status is RunStatus.DONE and run.dry_run
    (change,) = run.changes
    assert change["values"] == {"title": "Follow up: No signal", "grievance": grievance["id"]}
    assert tasks(catalog_service, admin) == []
    assert stored_runs(catalog_service.db) == [run]


def test_an_unsaved_definition_can_be_tested_on_a_real_record(
    engine: WorkflowEngine, catalog_service: RecordService, admin: Actor, grievance: Any
) -> None:
    draft = {**FOLLOW_UP, "name": "draft"}
    run = engine.test(admin, draft, grievance["id"])
    assert run.status is RunStatus.DONE and run.dry_run
    assert tasks(catalog_service, admin) == []
    assert catalog_service.registry.current().workflows == {}


def test_a_failed_manual_run_keeps_none_of_its_writes_and_is_recorded(
    engine: WorkflowEngine, catalog_service: RecordService, admin: Actor, grievance: Any
) -> None:
    failing = {
        **FOLLOW_UP,
        "actions": [
            *FOLLOW_UP["actions"],
            {"type": "update", "values": {"severity": "apocalyptic"}},
        ],
    }
    catalog_service.registry.apply([failing])
    run = engine.run_by_hand(admin, "follow_up", grievance["id"])
    assert run.status is RunStatus.FAILED
    assert run.error is not None and "severity" in run.error
    assert run.log == ("made Follow up: No signal",)
    assert tasks(catalog_service, admin) == []
    assert stored_runs(catalog_service.db) == [run]


def test_only_manual_workflows_run_by_hand_and_records_must_exist(
    engine: WorkflowEngine, catalog_service: RecordService, admin: Actor, grievance: Any
) -> None:
    catalog_service.registry.apply([{**FOLLOW_UP, "on": ["update"]}])
    with pytest.raises(ValidationFailed):
        engine.run_by_hand(admin, "follow_up", grievance["id"])
    with pytest.raises(NotFound):
        engine.run_by_hand(admin, "nothing_here", grievance["id"])
    with pytest.raises(NotFound):
        engine.run_by_hand(admin, "follow_up", "0190e6a0-0000-7000-8000-000000000000", dry_run=True)


def queue_async(
    engine: WorkflowEngine, service: RecordService, admin: Actor, record: dict[str, Any]
) -> Run:
    workflow = service.registry.current().workflows["follow_up"]
    with service.session(admin) as session:
        return engine.enqueue(
            session,
            Firing(
                workflow=workflow,
                trigger="update",
                stage="async",
                entity="grievance",
                record=record,
                old=record,
                event={"type": "update"},
                user=user_of(admin),
            ),
            admin,
        )


def worker(engine: WorkflowEngine, db: Database, clock: Any = None) -> Worker:
    options = {"clock": clock} if clock else {}
    return Worker(db, engine.job_handlers(), FAST, on_failure=engine.failure_hooks(), **options)


def test_an_async_run_waits_queued_then_runs_from_the_queue(
    engine: WorkflowEngine, catalog_service: RecordService, admin: Actor, grievance: Any
) -> None:
    catalog_service.registry.apply([{**FOLLOW_UP, "stage": "async"}])
    queued = queue_async(engine, catalog_service, admin, grievance)
    assert stored_runs(catalog_service.db)[0].status is RunStatus.QUEUED
    # The record changed after the run was queued: the run sees it as it is now.
    with catalog_service.session(admin) as session:
        session.update("grievance", grievance["id"], {"subject": "Still no signal"})
    assert worker(engine, catalog_service.db).drain() == 1
    (run,) = stored_runs(catalog_service.db)
    assert (run.id, run.status, run.log) == (
        queued.id,
        RunStatus.DONE,
        ("made Follow up: Still no signal",),
    )
    assert tasks(catalog_service, admin) == ["Follow up: Still no signal"]


def test_a_failing_async_run_is_retried_then_dead_with_its_log(
    engine: WorkflowEngine, catalog_service: RecordService, admin: Actor, grievance: Any
) -> None:
    failing = {
        **FOLLOW_UP,
        "stage": "async",
        "actions": [*FOLLOW_UP["actions"], {"type": "script", "code": "log('boom')\n1 / 0"}],
    }
    catalog_service.registry.apply([failing])
    queue_async(engine, catalog_service, admin, grievance)
    with catalog_service.db.write() as conn:
        conn.execute(tables.jobs.update().values(max_attempts=2))
    clock = [dt.datetime.now(dt.UTC)]
    jobs = worker(engine, catalog_service.db, clock=lambda: clock[0])
    assert jobs.drain() == 1
    (run,) = stored_runs(catalog_service.db)
    assert run.status is RunStatus.FAILED
    assert run.log == ("made Follow up: No signal", "boom")
    assert run.error is not None and "ZeroDivisionError" in run.error
    clock[0] += dt.timedelta(hours=2)
    assert jobs.drain() == 1
    (run,) = stored_runs(catalog_service.db)
    assert run.status is RunStatus.DEAD
    assert tasks(catalog_service, admin) == []  # each attempt's writes were undone


def test_a_schedule_tick_runs_once_as_the_workflows_author(
    engine: WorkflowEngine, catalog_service: RecordService, admin: Actor
) -> None:
    nightly = {
        "name": "nightly",
        "entity": "task",
        "on": ["schedule"],
        "cron": "0 3 * * *",
        "timezone": "Asia/Seoul",
        "actions": [
            {
                "type": "script",
                "code": "create('task', {'title': 'Review ' + event['tick']})\n"
                "log('as', user['email'])",
            }
        ],
    }
    catalog_service.registry.apply([nightly], actor=admin)
    with catalog_service.db.read() as conn:
        defined = conn.execute(sa.select(tables.workflows.c.updated_at)).scalar_one()
    later = defined + dt.timedelta(days=3)
    ticks = engine.tick(now=later, holder="test")
    assert len(ticks) == 1  # three nights missed: one run
    assert engine.tick(now=later, holder="other") == []
    assert worker(engine, catalog_service.db, clock=lambda: later).drain() == 1
    (run,) = stored_runs(catalog_service.db)
    assert (run.status, run.trigger, run.log) == (
        RunStatus.DONE,
        "schedule",
        (f"as {admin.email}",),
    )
    assert tasks(catalog_service, admin) == [f"Review {ticks[0].at.isoformat()}"]


def test_a_dead_run_can_be_retried_once_its_cause_is_fixed(
    engine: WorkflowEngine, catalog_service: RecordService, admin: Actor, grievance: Any
) -> None:
    flaky = {
        **FOLLOW_UP,
        "stage": "async",
        "actions": [
            {
                "type": "script",
                "code": "if record['subject'] == 'No signal':\n    1 / 0\nlog('ok')",
            }
        ],
    }
    catalog_service.registry.apply([flaky])
    queued = queue_async(engine, catalog_service, admin, grievance)
    with catalog_service.db.write() as conn:
        conn.execute(tables.jobs.update().values(max_attempts=1))
    jobs = worker(engine, catalog_service.db)
    assert jobs.drain() == 1
    (dead,) = stored_runs(catalog_service.db)
    assert dead.status is RunStatus.DEAD and jobs.drain() == 0  # given up: nothing runs
    with catalog_service.session(admin) as session:
        session.update("grievance", grievance["id"], {"subject": "Signal back"})
    again = engine.retry(queued.id)
    assert (again.id, again.status) == (queued.id, RunStatus.QUEUED)
    assert jobs.drain() == 1
    (done,) = stored_runs(catalog_service.db)
    assert (done.status, done.log) == (RunStatus.DONE, ("ok",))
    with pytest.raises(ValidationFailed, match="only a failed or dead"):
        engine.retry(queued.id)
    with pytest.raises(NotFound):
        engine.retry("01a0e7d2-0000-7000-8000-000000000000")
    with pytest.raises(NotFound):
        engine.retry("not an id")
