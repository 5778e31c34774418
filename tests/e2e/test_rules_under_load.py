"""Rules under load, with processes killed: 8 clients create records that fire a ``before``,
an ``after`` and an ``async`` rule for 12 s through two ``xrm serve`` processes while an
``xrm worker`` also takes jobs; half-way one server and the worker are killed (-9) and
started again. Every record kept has its before change, exactly one after task and, once the
queue settles, exactly one async task: no run lost, none done twice."""

from __future__ import annotations

import collections
import contextlib
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from server import crash, running_server, served, xrm_command

from xrm.entities.records import RecordService
from xrm.platform import tables
from xrm.platform.identity import Actor, create_token
from xrm.workflows import runs
from xrm.workflows.runs import RunStatus

pytestmark = pytest.mark.slow

SECONDS = 12  # long enough for a hundred records and more on each side of the kill
CLIENTS = 8
SETTINGS = {
    "XRM_JOBS_LEASE_SECONDS": "5",  # a killed worker's job is taken over soon
    "XRM_JOBS_POLL_SECONDS": "1",
    "XRM_JOBS_BACKOFF_SECONDS": "1",
}
RULES: list[dict[str, Any]] = [
    {
        "name": "stamp",
        "entity": "grievance",
        "on": ["create"],
        "stage": "before",
        "actions": [{"type": "set", "values": {"description": "stamped"}}],
    },
    {
        "name": "after_task",
        "entity": "grievance",
        "on": ["create"],
        "stage": "after",
        "actions": [
            {
                "type": "script",
                "code": "create('task', {'title': 'after ' + record['id'],"
                " 'grievance': record['id']})",
            }
        ],
    },
    {
        "name": "async_task",
        "entity": "grievance",
        "on": ["create"],
        "stage": "async",
        "actions": [
            {
                "type": "script",
                "code": "create('task', {'title': 'async ' + record['id'],"
                " 'grievance': record['id']})",
            }
        ],
    },
]
CREATE = "mutation($s: String!) { createGrievance(input: {subject: $s}) { id } }"


@contextlib.contextmanager
def worker_process(test_database: Any, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*xrm_command(), "worker"],
            env={**test_database.environment(), **SETTINGS},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            crash(process)


def clients(bases: list[str], token: str, stop: threading.Event) -> list[threading.Thread]:
    def client(number: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=30, headers=headers) as http:
            sent = 0
            while not stop.is_set():
                base = bases[(number + sent) % len(bases)]
                sent += 1
                # A server being killed answers nothing; what it committed is counted below.
                with contextlib.suppress(httpx.HTTPError):
                    http.post(
                        f"{base}/graphql",
                        json={"query": CREATE, "variables": {"s": f"c{number}-{sent}"}},
                    )

    return [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]


def every(service: RecordService, admin: Actor, entity: str) -> list[dict[str, Any]]:
    """All records of ``entity``, page after page."""
    out: list[dict[str, Any]] = []
    after = None
    with service.session(admin, write=False) as session:
        while True:
            page = session.query(entity, first=500, after=after, with_total=False)
            out.extend(page.items)
            if not page.has_next_page:
                return out
            after = page.cursor(len(page.items) - 1)


def settled(service: RecordService) -> bool:
    """No run job left to do (queued, running or waiting for a retry)."""
    with service.db.read() as conn:
        left = conn.execute(
            sa.select(sa.func.count())
            .select_from(tables.jobs)
            .where(tables.jobs.c.status.in_(("queued", "running", "failed")))
        ).scalar_one()
    return left == 0


def test_rules_run_exactly_once_under_load_with_processes_killed(
    catalog_service: RecordService, admin: Actor, test_database: Any, tmp_path: Path
) -> None:
    catalog_service.registry.apply(RULES, actor=admin)
    with catalog_service.db.write() as conn:
        token = create_token(conn, admin)
    stop = threading.Event()
    with (
        running_server(test_database, tmp_path / "a.log", env=SETTINGS) as first,
        worker_process(test_database, tmp_path / "worker.log") as worker,
    ):
        with served(test_database, tmp_path / "b.log", env=SETTINGS) as (second, process):
            threads = clients([first, second], token, stop)
            for thread in threads:
                thread.start()
            time.sleep(SECONDS / 2)
            # Both die with work in hand: requests in flight, jobs claimed.
            crash(worker)
            crash(process)
        with (
            running_server(test_database, tmp_path / "b2.log", env=SETTINGS),
            worker_process(test_database, tmp_path / "worker2.log"),
        ):
            time.sleep(SECONDS / 2)
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            deadline = time.monotonic() + 120
            while not settled(catalog_service) and time.monotonic() < deadline:
                time.sleep(0.5)
    logs = "\n".join(p.read_text()[-3000:] for p in sorted(tmp_path.glob("*.log")))
    assert settled(catalog_service), logs
    grievances, tasks = (
        every(catalog_service, admin, "grievance"),
        every(catalog_service, admin, "task"),
    )
    assert len(grievances) >= 20, logs
    assert {g["description"] for g in grievances} == {"stamped"}
    made = collections.Counter(t["title"] for t in tasks)
    for grievance in grievances:
        for stage in ("after", "async"):
            assert made.pop(f"{stage} {grievance['id']}", 0) == 1, (stage, grievance["id"])
    assert not made  # no task of a record that was rolled back
    with catalog_service.db.read() as conn:
        async_runs = runs.list_runs(conn, workflow="async_task", limit=100_000)
    assert {r.status for r in async_runs} == {RunStatus.DONE}
    assert sorted(r.record_id for r in async_runs) == sorted(g["id"] for g in grievances)
