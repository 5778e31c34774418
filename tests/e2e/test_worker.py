"""``xrm worker`` as a process of its own: it runs due schedule ticks from the queue and
stops cleanly on SIGTERM."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from server import xrm_command

from xrm.entities.records import RecordService
from xrm.platform import tables
from xrm.platform.identity import Actor
from xrm.workflows import runs
from xrm.workflows.runs import Run, RunStatus

HOURLY: dict[str, Any] = {
    "name": "hourly_note",
    "entity": "task",
    "on": ["schedule"],
    "cron": "0 * * * *",
    "actions": [{"type": "script", "code": "create('task', {'title': 'hourly'})"}],
}


def test_xrm_worker_runs_queued_runs_and_stops_on_sigterm(
    catalog_service: RecordService, admin: Actor, test_database: Any, tmp_path: Path
) -> None:
    catalog_service.registry.apply([HOURLY], actor=admin)
    with catalog_service.db.write() as conn:
        # Make the 'last tick' an hour back, so the worker's first look finds one due.
        conn.execute(
            tables.workflow_ticks.insert().values(
                workflow="hourly_note",
                last_tick=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2),
            )
        )
    env = {**test_database.environment(), "XRM_SCHEDULE_POLL_SECONDS": "1"}
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [*xrm_command(), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = dt.datetime.now() + dt.timedelta(seconds=90)
        done: list[Run] = []
        while not done and dt.datetime.now() < deadline:
            with catalog_service.db.read() as conn:
                done = runs.list_runs(conn, status=RunStatus.DONE)
            if not done and process.poll() is not None:
                break
            time.sleep(0.2)
        assert [r.workflow for r in done] == ["hourly_note"], (tmp_path / "worker.log").read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
