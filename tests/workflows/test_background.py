"""A process's background work: the schedule is looked at, due runs are run by the job
worker, old runs are pruned (``xrm worker`` as a process: tests/e2e/test_worker.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from xrm.background import Background
from xrm.entities.records import RecordService
from xrm.platform import tables
from xrm.platform.identity import Actor
from xrm.platform.settings import Settings
from xrm.workflows import runs
from xrm.workflows.engine import WorkflowEngine
from xrm.workflows.pool import SandboxPool
from xrm.workflows.runs import Run, RunStatus

pytest_plugins = ["sandbox_pool"]

HOURLY: dict[str, Any] = {
    "name": "hourly_note",
    "entity": "task",
    "on": ["schedule"],
    "cron": "0 * * * *",
    "actions": [{"type": "script", "code": "create('task', {'title': 'hourly'})"}],
}


def defined_at(service: RecordService) -> dt.datetime:
    with service.db.read() as conn:
        stamp: dt.datetime = conn.execute(sa.select(tables.workflows.c.updated_at)).scalar_one()
    return stamp


def test_a_step_claims_due_ticks_and_prunes_old_runs(
    catalog_service: RecordService, pool: SandboxPool, admin: Actor, settings: Settings
) -> None:
    catalog_service.registry.apply([HOURLY], actor=admin)
    old = Run("gone", "manual", "after", RunStatus.DONE, dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    with catalog_service.db.write() as conn:
        runs.record(conn, old)
    background = Background(WorkflowEngine(catalog_service, pool), settings)
    later = defined_at(catalog_service) + dt.timedelta(hours=1, minutes=1)
    background.step(later)
    background.worker.clock = lambda: later
    assert background.worker.drain() == 1
    with catalog_service.db.read() as conn:
        (run,) = runs.list_runs(conn)
    assert (run.workflow, run.status) == ("hourly_note", RunStatus.DONE)
    with catalog_service.session(admin, write=False) as session:
        assert [t["title"] for t in session.query("task").items] == ["hourly"]
