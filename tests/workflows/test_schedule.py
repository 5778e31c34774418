"""Schedule ticks run once across processes, and a missed tick runs once, not once per miss."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrm.platform import tables
from xrm.platform.db import Database
from xrm.schemas.workflows import Workflow, parse_workflow
from xrm.workflows import runs, schedule
from xrm.workflows.runs import RunStatus

UTC = dt.UTC


def scheduled(cron: str = "0 * * * *", *, name: str = "hourly", **more: Any) -> Workflow:
    return parse_workflow(
        {
            "name": name,
            "entity": "customer",
            "on": ["schedule"],
            "cron": cron,
            "actions": [{"type": "script", "code": "log('tick')"}],
            **more,
        }
    )


def at(hour: int, minute: int = 0, second: int = 0, day: int = 5) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


def claim(db: Database, workflow: Workflow, now: dt.datetime, defined: dt.datetime) -> list[Any]:
    with db.write() as conn:
        return schedule.claim_due(conn, [(workflow, defined)], now=now, holder="test")


def jobs(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(sa.select(tables.jobs).order_by(tables.jobs.c.created_at))
        return [dict(row) for row in rows.mappings()]


def test_the_latest_tick_is_read_in_the_workflows_time_zone() -> None:
    seoul = scheduled("0 9 * * *", timezone="Asia/Seoul")
    # 09:00 in Seoul is 00:00 UTC.
    assert schedule.latest_tick(seoul, at(0, 0, 0)) == at(0)
    assert schedule.latest_tick(seoul, at(23, 59, 59, day=4)) == at(0, day=4)
    assert schedule.latest_tick(scheduled(), at(10, 0, 0)) == at(10)
    assert schedule.latest_tick(scheduled(), at(10, 59, 59)) == at(10)


def test_a_workflow_defined_just_before_a_tick_runs_at_that_tick_not_at_once(db: Database) -> None:
    hourly = scheduled()
    assert claim(db, hourly, now=at(10, 59, 30), defined=at(10, 59)) == []
    assert jobs(db) == []
    ticks = claim(db, hourly, now=at(11, 0, 5), defined=at(10, 59))
    assert [tick.at for tick in ticks] == [at(11)]
    (job,) = jobs(db)
    assert job["kind"] == schedule.SCHEDULE_JOB
    assert job["payload"] == {
        "workflow": "hourly",
        "tick": at(11).isoformat(),
        "run": ticks[0].run_id,
    }
    with db.read() as conn:
        queued = runs.get_run(conn, ticks[0].run_id)
    assert queued is not None
    assert (queued.workflow, queued.trigger, queued.status, queued.job_id) == (
        "hourly",
        "schedule",
        RunStatus.QUEUED,
        job["id"],
    )


def test_after_downtime_the_missed_ticks_run_once(db: Database) -> None:
    hourly = scheduled()
    assert len(claim(db, hourly, now=at(8, 0, 1), defined=at(7, 30))) == 1
    # Down from 08:01 to 11:30: the 09:00, 10:00 and 11:00 ticks were missed.
    ticks = claim(db, hourly, now=at(11, 30), defined=at(7, 30))
    assert [tick.at for tick in ticks] == [at(11)]
    assert claim(db, hourly, now=at(11, 45), defined=at(7, 30)) == []
    assert [job["payload"]["tick"] for job in jobs(db)] == [at(8).isoformat(), at(11).isoformat()]


def test_disabled_and_unscheduled_workflows_claim_nothing(db: Database) -> None:
    off = scheduled(enabled=False)
    assert claim(db, off, now=at(12), defined=at(1)) == []
    manual = parse_workflow(
        {
            "name": "by_hand",
            "entity": "customer",
            "on": ["manual"],
            "actions": [{"type": "script", "code": "log('x')"}],
        }
    )
    assert claim(db, manual, now=at(12), defined=at(1)) == []
    assert jobs(db) == []


def test_a_claim_rolled_back_is_claimed_again(db: Database) -> None:
    hourly = scheduled()
    with pytest.raises(RuntimeError), db.write() as conn:
        assert schedule.claim_due(conn, [(hourly, at(9))], now=at(10, 1), holder="a")
        raise RuntimeError("the process died before committing")
    assert jobs(db) == []
    assert len(claim(db, hourly, now=at(10, 2), defined=at(9))) == 1


def race_claims(db: Database, workflow: Workflow, now: dt.datetime, racers: int) -> list[int]:
    """How many ticks each of ``racers`` threads (one connection each) claimed at ``now``."""
    barrier = threading.Barrier(racers)
    won: list[int] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            barrier.wait()
            won.append(len(claim(db, workflow, now=now, defined=at(9, 30))))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return won


def test_racing_processes_run_each_tick_once(db: Database) -> None:
    """Eight claimers (one connection each, as eight processes would have) race on each tick."""
    hourly = scheduled()
    for hour in (10, 11, 12):
        assert sorted(race_claims(db, hourly, at(hour, 0, 3), 8)) == [0] * 7 + [1]
    assert [job["payload"]["tick"] for job in jobs(db)] == [at(h).isoformat() for h in (10, 11, 12)]


def test_forgetting_a_workflow_starts_it_afresh(db: Database) -> None:
    hourly = scheduled()
    claim(db, hourly, now=at(10, 1), defined=at(9, 30))
    with db.write() as conn:
        schedule.forget(conn, ["hourly"])
    # Defined again at 10:30: the 10:00 tick is before its definition.
    assert claim(db, hourly, now=at(10, 40), defined=at(10, 30)) == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cron=st.sampled_from(["*/5 * * * *", "0 * * * *", "30 2 * * *", "0 9 * * 1-5", "15 */3 * * *"]),
    zone=st.sampled_from(["UTC", "Asia/Seoul", "America/New_York", "Australia/Lord_Howe"]),
    steps=st.lists(st.integers(min_value=0, max_value=60 * 30), min_size=1, max_size=10),
)
def test_claims_follow_the_model_of_ticks(
    db: Database, cron: str, zone: str, steps: list[int]
) -> None:
    """Model: polled at times that only move on, the claims are exactly the distinct latest
    ticks after the definition, each once, in order; a claimed tick is a real tick and no
    tick lies between it and the poll that claimed it."""
    workflow = scheduled(cron, name=f"w{next(_names)}", timezone=zone)
    defined = at(0, 7)
    now = defined
    claimed: list[dt.datetime] = []
    expected: list[dt.datetime] = []
    for minutes in steps:
        now = now + dt.timedelta(minutes=minutes)
        due = schedule.latest_tick(workflow, now)
        assert due is not None and due <= now
        following = workflow.next_tick(due)
        assert following is not None and following > now
        if due > defined and (not expected or due > expected[-1]):
            expected.append(due)
        claimed += [tick.at for tick in claim(db, workflow, now=now, defined=defined)]
    assert claimed == expected


_names = itertools.count()
