"""Job workers as separate processes on one database, as ``xrm worker`` runs them.

Two processes drain the same queue, each job exactly once; a process killed
with SIGKILL in the middle of a job leaves it to be retried once its lease
expires, and its half-done work never counts.
"""

from __future__ import annotations

import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from jobs_support import (
    create_side_tables,
    effects,
    runs_of,
    starts,
    statuses,
    wait_for,
    worker_process,
)

from xrm.platform import jobs
from xrm.platform.db import Database
from xrm.platform.jobs import JobStatus

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
    pytest.mark.slow,
]


def test_two_worker_processes_run_500_jobs_each_exactly_once(
    db: Database, test_database: Any, tmp_path: Path
) -> None:
    create_side_tables(db)
    with db.write() as conn:
        made = {jobs.enqueue(conn, "record", {"n": n}).id for n in range(500)}
    go = tmp_path / "go"
    env = test_database.environment()
    with (
        worker_process(
            env,
            "--name",
            "one",
            "--ready",
            str(tmp_path / "one"),
            "--go",
            str(go),
            log=tmp_path / "one.log",
        ) as one,
        worker_process(
            env,
            "--name",
            "two",
            "--ready",
            str(tmp_path / "two"),
            "--go",
            str(go),
            log=tmp_path / "two.log",
        ) as two,
    ):
        wait_for(lambda: (tmp_path / "one").exists() and (tmp_path / "two").exists(), "both")
        go.touch()  # both start claiming at the same moment
        wait_for(lambda: set(statuses(db).values()) == {"done"}, "every job to be done")
        for process in (one, two):
            process.send_signal(signal.SIGTERM)
        codes = [one.wait(120), two.wait(120)]
    assert codes == [0, 0], (tmp_path / "one.log").read_text() + (tmp_path / "two.log").read_text()
    for table in (starts, effects):
        ran = [job_id for job_id, _ in runs_of(db, table)]
        assert len(ran) == 500 and set(ran) == made, table.name
    by_process = Counter(worker.split("#")[0] for _, worker in runs_of(db, effects))
    assert set(by_process) == {"one", "two"}


def test_a_worker_killed_mid_job_leaves_it_to_be_done_once_by_another(
    db: Database, test_database: Any, tmp_path: Path
) -> None:
    create_side_tables(db)
    marker = tmp_path / "mid-job"
    with db.write() as conn:
        made = jobs.enqueue(conn, "stall", {"marker": str(marker)})
    env = test_database.environment()
    # A short lease, renewed while the worker lives: once it is killed, the lease lapses.
    with worker_process(env, "--name", "doomed", "--lease", "2", log=tmp_path / "a.log") as doomed:
        wait_for(marker.exists, "the first worker to be in the middle of the job")
        doomed.send_signal(signal.SIGKILL)
        assert doomed.wait(60) == -signal.SIGKILL
    held = _job(db, made.id)
    assert held.status == JobStatus.RUNNING
    assert (held.claimed_by or "").startswith("doomed#")
    assert runs_of(db, effects) == []  # its open transaction died with it

    heir_args = ("--name", "heir", "--lease", "2", "--backoff", "0.1")
    with worker_process(env, *heir_args, log=tmp_path / "b.log") as heir:
        wait_for(lambda: _job(db, made.id).status == JobStatus.DONE, "the job to be retried")
        heir.send_signal(signal.SIGTERM)
        assert heir.wait(120) == 0
    done = _job(db, made.id)
    assert done.attempts == 2
    assert "lease expired" in (done.last_error or "")
    assert [(j, w.split("#")[0]) for j, w in runs_of(db, starts)] == [
        (made.id, "doomed"),
        (made.id, "heir"),
    ]
    assert [(j, w.split("#")[0]) for j, w in runs_of(db, effects)] == [(made.id, "heir")]


def _job(db: Database, job_id: str) -> jobs.Job:
    with db.read() as conn:
        return jobs.get_job(conn, job_id)
