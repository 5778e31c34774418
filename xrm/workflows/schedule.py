"""Schedule ticks: each due tick of a scheduled workflow is claimed once across all processes.

Every process that runs a job worker also runs the scheduler's loop, so
several may look at the same tick at the same moment. What makes a tick run
once is a compare-and-set on the workflow's row in ``xrm_workflow_ticks``:
only the process whose ``UPDATE ... WHERE last_tick = <what it read>`` changes
a row enqueues the run, and it enqueues it with an idempotency key made of
the workflow's name and the tick, in the same transaction, so even a replayed
claim cannot add a second job.

After downtime only the latest due tick runs (once), never one run per
missed tick (directus#25592): the claim jumps ``last_tick`` straight to the
most recent tick at or before now. A workflow seen for the first time starts
counting from when it was defined, so defining an hourly workflow at 10:59
runs it at 11:00, not at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from cronsim import CronSim
from sqlalchemy.engine import Connection

from xrm.platform import tables
from xrm.platform.db import insert_or_skip
from xrm.platform.ids import new_id
from xrm.platform.jobs import queue
from xrm.schemas.workflows import DEFAULT_TIMEZONE, Workflow
from xrm.workflows import runs
from xrm.workflows.runs import Run, RunStatus

SCHEDULE_JOB = "workflow.schedule"

t = tables.workflow_ticks


@dataclass(frozen=True, slots=True)
class Tick:
    """One claimed tick: the workflow to run and the moment (UTC) it was due."""

    workflow: str
    at: dt.datetime
    job_id: str
    run_id: str


def latest_tick(workflow: Workflow, now: dt.datetime) -> dt.datetime | None:
    """The most recent tick of ``workflow``'s cron at or before ``now`` (UTC), if any."""
    if workflow.cron is None:
        return None
    zone = ZoneInfo(workflow.timezone or DEFAULT_TIMEZONE)
    # cronsim's reverse iteration is strictly before its start: a second later includes now.
    start = (now + dt.timedelta(seconds=1)).astimezone(zone)
    try:
        tick = next(CronSim(workflow.cron, start, reverse=True))
    except StopIteration:
        return None
    return tick.astimezone(dt.UTC).replace(second=0, microsecond=0)


def _claim(
    conn: Connection, workflow: Workflow, due: dt.datetime, defined_at: dt.datetime, holder: str
) -> bool:
    """Move the workflow's last tick to ``due`` if no other process did; True when this one did."""
    last = conn.execute(sa.select(t.c.last_tick).where(t.c.workflow == workflow.name)).scalar()
    if last is None:
        # First sight: count from the definition, so nothing before it is "missed".
        inserted = conn.execute(
            insert_or_skip(conn, t).values(
                workflow=workflow.name, last_tick=defined_at, claimed_by=holder
            )
        )
        if inserted.rowcount == 0:  # another process inserted it first: read its value
            return _claim(conn, workflow, due, defined_at, holder)
        last = defined_at
    if due <= last:
        return False
    moved = conn.execute(
        t.update()
        .where(t.c.workflow == workflow.name, t.c.last_tick == last)
        .values(last_tick=due, claimed_by=holder)
    )
    return moved.rowcount == 1


def claim_due(
    conn: Connection,
    workflows: Iterable[tuple[Workflow, dt.datetime]],
    *,
    now: dt.datetime,
    holder: str,
) -> list[Tick]:
    """Claim every due tick of the enabled scheduled ``workflows`` (each with when it was
    defined) and enqueue one run job for each, in the caller's transaction."""
    claimed: list[Tick] = []
    for workflow, defined_at in workflows:
        if not workflow.enabled or not workflow.fires_on("schedule"):
            continue
        due = latest_tick(workflow, now)
        if due is None or not _claim(conn, workflow, due, defined_at, holder):
            continue
        run_id = new_id()
        job = queue.enqueue(
            conn,
            SCHEDULE_JOB,
            {"workflow": workflow.name, "tick": due.isoformat(), "run": run_id},
            key=f"schedule:{workflow.name}:{due.isoformat()}",
            now=now,
        )
        runs.record(
            conn,
            Run(
                workflow=workflow.name,
                trigger="schedule",
                stage="async",
                status=RunStatus.QUEUED,
                started_at=now,
                job_id=job.id,
                id=run_id,
            ),
        )
        claimed.append(Tick(workflow.name, due, job.id, run_id))
    return claimed


def forget(conn: Connection, names: Iterable[str]) -> None:
    """Drop the tick rows of deleted workflows (a workflow defined again starts afresh)."""
    names = list(names)
    if names:
        conn.execute(t.delete().where(t.c.workflow.in_(names)))
