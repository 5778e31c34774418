"""The workflow engine: runs workflows by hand, as dry runs, from the queue and on schedule.

Every run goes through the :class:`~xrm.workflows.runner.Runner` with a record
session of the user it acts for, so a rule can do nothing its user could not.
What the engine adds is where each run's transaction begins and ends:

- a **manual** run (``runWorkflow``) writes in one transaction with its run
  row; a run that fails or rejects is undone and recorded on its own;
- a **dry run** (``runWorkflow(dryRun: true)``, ``testWorkflow``) does the
  same and then rolls everything back, answering the run with its log and
  every change it would have made — the builder's test run (baserow#4946);
- an **async** or **scheduled** run is a job (the outbox): its run row is
  written ``queued`` with the job, settled ``done`` in the job's transaction,
  or, when it fails, ``failed`` (to be retried) and finally ``dead`` through
  the worker's failure hook, with the log of the attempt that failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from xrm.entities.records import RecordService, RecordSession
from xrm.errors import Fault, NotFound, ValidationFailed
from xrm.platform import jobs, tables
from xrm.platform.identity import SYSTEM_ACTOR, Actor, actor_by_id
from xrm.platform.ids import new_id
from xrm.platform.jobs import Job, JobContext, JobError, JobStatus, enqueue
from xrm.platform.jobs.payload import canonical_id
from xrm.plugins.spec import ActionSpec
from xrm.schemas.workflows import Workflow, check_workflow, parse_workflow
from xrm.workflows import runs, schedule
from xrm.workflows.listener import WorkflowListener
from xrm.workflows.pool import SandboxPool
from xrm.workflows.protocol import to_plain
from xrm.workflows.runner import Firing, Outcome, Runner, user_of
from xrm.workflows.runs import Run, RunStatus

RUN_JOB = "workflow.run"
CHANNEL = "workflow"


class RunFailed(Exception):
    """An async or scheduled run failed: its job is retried (the outcome is kept for the hook)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error or "the run failed")
        self.outcome = outcome


class _Undo(Exception):
    """Leaves a session's transaction by rolling it back (a dry run, or a failed run)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WorkflowEngine:
    """Runs workflows for the record service it is given; one per process.

    It also becomes that service's write listener: from then on every write a
    workflow watches runs its ``before`` and ``after`` rules and queues its
    ``async`` ones.
    """

    def __init__(
        self,
        records: RecordService,
        pool: SandboxPool,
        actions: Mapping[str, ActionSpec] | None = None,
        disabled: Mapping[str, str] | None = None,
    ) -> None:
        """``disabled``: action types of disabled plugins -> the plugin, for run errors."""
        self.records = records
        self.runner = Runner(pool, actions, records.db, disabled)
        records.listener = WorkflowListener(self)

    # -- runWorkflow and testWorkflow ------------------------------------------------------

    def run_by_hand(
        self,
        actor: Actor,
        name: str,
        record_id: str | None = None,
        *,
        dry_run: bool = False,
        request_id: str | None = None,
    ) -> Run:
        """``runWorkflow``: a ``manual`` workflow on one record or none; any workflow may be
        dry-run, which is how a builder tries one before enabling it."""
        catalog = self.records.registry.current()
        workflow = catalog.workflows.get(name)
        if workflow is None:
            raise NotFound(f"no workflow named {name!r}", workflow=name)
        if not dry_run and not workflow.fires_on("manual"):
            raise ValidationFailed(
                [Fault("name", f"{name} has no manual trigger; only a dry run can run it now")]
            )
        return self._by_hand(actor, workflow, record_id, dry_run=dry_run, request_id=request_id)

    def test(
        self,
        actor: Actor,
        definition: Any,
        record_id: str | None = None,
        *,
        request_id: str | None = None,
    ) -> Run:
        """``testWorkflow``: a dry run of a definition not yet saved (checked as saving would)."""
        workflow = self.check(definition)
        return self._by_hand(actor, workflow, record_id, dry_run=True, request_id=request_id)

    def check(self, definition: Any) -> Workflow:
        """A definition not yet saved, parsed and checked against the catalog as saving would
        (``DefinitionError`` naming every fault: a compile error at its line and column)."""
        workflow = parse_workflow(definition, action_types=self.records.registry.action_types)
        catalog = self.records.registry.current()
        check_workflow(workflow, catalog.types, catalog.relationships)
        return workflow

    def _by_hand(
        self,
        actor: Actor,
        workflow: Workflow,
        record_id: str | None,
        *,
        dry_run: bool,
        request_id: str | None,
    ) -> Run:
        started = _now()
        trigger = "manual"
        run: Run | None = None
        try:
            with self.records.session(actor, CHANNEL, request_id=request_id) as session:
                record = self._record(session, workflow, record_id)
                firing = Firing(
                    workflow=workflow,
                    trigger=trigger,
                    stage=workflow.stage,
                    entity=workflow.entity,
                    record=record,
                    old=None,
                    event=self._event_by_hand(workflow),
                    user=user_of(actor),
                )
                outcome = self.runner.run(firing, session)
                set_change = self._set_change(workflow, record, outcome) if dry_run else None
                if set_change is not None:
                    outcome.changes.insert(0, set_change)
                run = self.run_of(firing, outcome, started, actor, request_id, dry_run=dry_run)
                if dry_run or outcome.status is not RunStatus.DONE:
                    raise _Undo
                runs.record(session.conn, run)
                return run
        except _Undo:
            assert run is not None
        with self.records.db.write() as conn:
            return runs.record(conn, run)

    @staticmethod
    def _event_by_hand(workflow: Workflow) -> dict[str, Any]:
        """A run by hand is ``manual``; a test run of a workflow only a plugin's event starts
        sees that event's shape (with an empty payload), so its script can be tried."""
        if workflow.source is not None and not workflow.fires_on("manual"):
            return {
                "type": "plugin",
                "source": workflow.source,
                "name": workflow.event,
                "payload": {},
            }
        return {"type": "manual"}

    @staticmethod
    def _record(
        session: RecordSession, workflow: Workflow, record_id: str | None
    ) -> dict[str, Any] | None:
        if record_id is None:
            return None
        record = session.get(workflow.entity, record_id)
        if record is None:
            raise NotFound(
                f"no {workflow.entity} with id {record_id!r}", entity=workflow.entity, id=record_id
            )
        return dict(record)

    @staticmethod
    def _set_change(
        workflow: Workflow, record: Mapping[str, Any] | None, outcome: Outcome
    ) -> dict[str, Any] | None:
        """What a ``before`` rule would set on its record, as a dry run's change (``set``).

        A before rule changes the record being saved rather than writing one, so its
        changes are otherwise nowhere in a dry run; a refused or failed run sets nothing.
        """
        if workflow.stage != "before" or record is None or outcome.record is None:
            return None
        if not outcome.fired or outcome.status is not RunStatus.DONE:
            return None
        changed = {
            key: to_plain(value, key)
            for key, value in outcome.record.items()
            if key not in record or to_plain(record[key], key) != to_plain(value, key)
        }
        if not changed:
            return None
        return {
            "action": "set",
            "entity": workflow.entity,
            "id": str(record["id"]),
            "values": changed,
        }

    @staticmethod
    def run_of(
        firing: Firing,
        outcome: Outcome,
        started: dt.datetime,
        actor: Actor,
        request_id: str | None,
        *,
        dry_run: bool = False,
        run_id: str | None = None,
        job_id: str | None = None,
    ) -> Run:
        status = outcome.status if outcome.fired else RunStatus.DONE
        extra = {"id": run_id} if run_id is not None else {}
        return Run(
            workflow=firing.workflow.name,
            trigger=firing.trigger,
            stage=firing.stage,
            status=status,
            started_at=started,
            record_id=firing.record_id,
            duration_ms=outcome.duration_ms,
            log=tuple(outcome.log if outcome.fired else (*outcome.log, "(condition not met)")),
            error=outcome.error,
            changes=tuple(outcome.changes),
            dry_run=dry_run,
            depth=firing.depth,
            actor_id=actor.id,
            request_id=request_id,
            job_id=job_id,
            failed_at=outcome.failed_at,
            **extra,
        )

    # -- async runs: queued with the write, run by a job worker ----------------------------

    def enqueue(self, session: RecordSession, firing: Firing, actor: Actor) -> Run:
        """Queue an ``async`` run in the session's transaction: it exists iff the write does."""
        run_id = new_id()
        payload = {
            "run": run_id,
            "workflow": firing.workflow.name,
            "trigger": firing.trigger,
            "entity": firing.entity,
            "record": to_plain(firing.record, "record") if firing.record is not None else None,
            "old": to_plain(firing.old, "old") if firing.old is not None else None,
            "event": to_plain(dict(firing.event), "event"),
            "user": actor.id,
            "depth": firing.depth,
        }
        job = enqueue(session.conn, RUN_JOB, payload, actor_id=actor.id)
        run = Run(
            workflow=firing.workflow.name,
            trigger=firing.trigger,
            stage="async",
            status=RunStatus.QUEUED,
            started_at=_now(),
            record_id=firing.record_id,
            depth=firing.depth,
            actor_id=actor.id,
            job_id=job.id,
            id=run_id,
        )
        return runs.record(session.conn, run)

    def handle_run_job(self, payload: Mapping[str, Any], context: JobContext) -> None:
        """The job handler of ``workflow.run``: the async run, as its user, in the job's
        transaction; raises :class:`RunFailed` so that the job is retried."""
        actor = self.actor_of(context.conn, payload.get("user"))
        session = self.records.session_on(context.conn, actor, CHANNEL)
        workflow = session.catalog.workflows.get(payload["workflow"])
        if workflow is None or not workflow.enabled:
            # Deleted or switched off since: nothing to run, and nothing to retry.
            runs.finish(
                context.conn,
                payload["run"],
                RunStatus.FAILED,
                duration_ms=0,
                error=f"workflow {payload['workflow']} was deleted or disabled before it ran",
            )
            return
        record = payload.get("record")
        if record is not None and payload["trigger"] != "delete" and payload.get("entity"):
            # An async rule sees the record as it is now, not as it was when queued.
            current = session.get(payload["entity"], str(record["id"]))
            record = dict(current) if current is not None else record
        firing = Firing(
            workflow=workflow,
            trigger=payload["trigger"],
            stage="async",
            entity=payload.get("entity"),
            record=record,
            old=payload.get("old"),
            event=payload.get("event") or {"type": payload["trigger"]},
            user=user_of(actor),
            depth=int(payload.get("depth") or 1),
        )
        self._run_job(firing, session, payload["run"], context)

    def handle_schedule_job(self, payload: Mapping[str, Any], context: JobContext) -> None:
        """The job handler of a schedule tick: the workflow as its author, with no record."""
        row = context.conn.execute(
            sa.select(tables.workflows.c.author_id).where(
                tables.workflows.c.name == payload["workflow"]
            )
        ).first()
        actor = self.actor_of(context.conn, row.author_id if row is not None else None)
        session = self.records.session_on(context.conn, actor, CHANNEL)
        workflow = session.catalog.workflows.get(payload["workflow"])
        if workflow is None or not workflow.enabled:
            runs.finish(
                context.conn,
                payload["run"],
                RunStatus.FAILED,
                duration_ms=0,
                error=f"workflow {payload['workflow']} was deleted or disabled before it ran",
            )
            return
        firing = Firing(
            workflow=workflow,
            trigger="schedule",
            stage="async",
            entity=workflow.entity,
            record=None,
            old=None,
            event={"type": "schedule", "tick": payload["tick"]},
            user=user_of(actor),
        )
        self._run_job(firing, session, payload["run"], context)

    def _run_job(
        self, firing: Firing, session: RecordSession, run_id: str, context: JobContext
    ) -> None:
        savepoint = context.conn.begin_nested()
        outcome = self.runner.run(firing, session)
        if outcome.status is not RunStatus.DONE:
            savepoint.rollback()
            raise RunFailed(outcome)
        savepoint.commit()
        runs.finish(
            context.conn,
            run_id,
            RunStatus.DONE,
            duration_ms=outcome.duration_ms,
            log=outcome.log if outcome.fired else (*outcome.log, "(condition not met)"),
            changes=outcome.changes,
        )

    def retry(self, run_id: str) -> Run:
        """Queue a failed or dead async (or scheduled) run again, with fresh attempts.

        Nothing fails silently or for good (directus#17964, twenty#23046): a run
        that gave up after a transient error can be sent back to the queue.
        """
        key = canonical_id(run_id)
        with self.records.db.write() as conn:
            run = runs.get_run(conn, key) if key is not None else None
            if run is None:
                raise NotFound(f"no workflow run with id {run_id!r}", id=run_id)
            if run.job_id is None or run.status not in (RunStatus.FAILED, RunStatus.DEAD):
                raise ValidationFailed(
                    [
                        Fault(
                            "id",
                            f"this run is {run.status.value}: only a failed or dead async or "
                            "scheduled run can be retried (run the workflow again instead)",
                        )
                    ]
                )
            try:
                jobs.retry(conn, run.job_id)
            except JobError as exc:
                raise ValidationFailed([Fault("id", str(exc))]) from None
            runs.requeue(conn, run.id)
            found = runs.get_run(conn, run.id)
            assert found is not None
            return found

    def job_failed(self, conn: sa.Connection, job: Job, exc: Exception) -> None:
        """The worker's failure hook for run jobs: the run says failed (retrying) or dead."""
        run_id = job.payload.get("run") if isinstance(job.payload, Mapping) else None
        if run_id is None:
            return
        status = RunStatus.DEAD if job.status == JobStatus.DEAD else RunStatus.FAILED
        if isinstance(exc, RunFailed):
            outcome = exc.outcome
            runs.finish(
                conn,
                run_id,
                status,
                duration_ms=outcome.duration_ms,
                error=outcome.error,
                log=outcome.log,
                changes=outcome.changes,
            )
        else:
            runs.finish(conn, run_id, status, duration_ms=0, error=job.last_error)

    def actor_of(self, conn: sa.Connection, user_id: Any) -> Actor:
        """Who a queued run acts for: its user (or author), or the system when none."""
        if user_id is None:
            return SYSTEM_ACTOR
        actor = actor_by_id(conn, str(user_id))
        if actor is None:
            raise NotFound("the user this run acts for no longer exists or is inactive")
        return actor

    # -- the schedule ------------------------------------------------------------------------

    def tick(self, *, now: dt.datetime | None = None, holder: str = "") -> list[schedule.Tick]:
        """Claim every due schedule tick (call it about once a minute from every worker)."""
        now = now or _now()
        catalog = self.records.registry.current()
        scheduled = [w for w in catalog.workflows.values() if w.fires_on("schedule")]
        if not scheduled:
            return []
        with self.records.db.write() as conn:
            defined = dict(
                conn.execute(
                    sa.select(tables.workflows.c.name, tables.workflows.c.updated_at).where(
                        tables.workflows.c.name.in_([w.name for w in scheduled])
                    )
                ).all()
            )
            pairs = [(w, defined[w.name]) for w in scheduled if w.name in defined]
            return schedule.claim_due(conn, pairs, now=now, holder=holder)

    def job_handlers(self) -> dict[str, Any]:
        """The job kinds this engine runs, for the job worker."""
        return {RUN_JOB: self.handle_run_job, schedule.SCHEDULE_JOB: self.handle_schedule_job}

    def failure_hooks(self) -> dict[str, Any]:
        return {RUN_JOB: self.job_failed, schedule.SCHEDULE_JOB: self.job_failed}
