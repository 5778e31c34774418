"""Workflows on writes: the record session's listener runs ``before`` and ``after`` rules
and queues ``async`` ones.

The record session calls :meth:`WorkflowListener.before` and
:meth:`WorkflowListener.after` around every write a workflow watches (and
nothing at all for writes none watches). Rules run through the same session,
so their reads and writes are the caller's, in the caller's transaction, and
their own writes fire workflows in turn: the session carries how deep that
chain is, and a chain deeper than :data:`MAX_DEPTH` ends the write with an
error naming it, so a rule that updates the record that fires it cannot loop
(directus#14086).

A ``before`` or ``after`` run that rejects or fails raises, which undoes the
write; its run is recorded after the rollback (the session's rollback hook),
so the history shows why a write was refused. A run whose condition was false
is not recorded: every write would otherwise leave one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from xrm.entities.catalog_state import Catalog
from xrm.entities.events import LINK_WRITES, RECORD_WRITES, WriteEvent
from xrm.entities.records import RecordSession
from xrm.schemas.workflows import Workflow
from xrm.workflows import runs
from xrm.workflows.errors import ChainFailed, DepthExceeded, RuleRejected, SandboxError
from xrm.workflows.runner import Firing, Outcome, user_of
from xrm.workflows.runs import RunStatus
from xrm.workflows.triggers import Happening, fired

if TYPE_CHECKING:
    from xrm.workflows.engine import WorkflowEngine

# Rules that fire rules: how deep a chain may go (Dataverse's plug-in depth).
MAX_DEPTH = 8

_Key = tuple[str, str, str | None]


class WorkflowListener:
    """The record sessions' :class:`~xrm.entities.events.WriteListener` for ``engine``."""

    def __init__(self, engine: WorkflowEngine) -> None:
        self.engine = engine
        self._watched: tuple[Catalog, frozenset[_Key]] | None = None

    # -- which writes anything watches --------------------------------------------------------

    def _keys(self, catalog: Catalog) -> frozenset[_Key]:
        """(trigger, entity, relationship) of every enabled workflow, per catalog version."""
        watched = self._watched
        if watched is not None and watched[0] is catalog:
            return watched[1]
        keys: set[_Key] = set()
        for workflow in catalog.workflows.values():
            if not workflow.enabled:
                continue
            for trigger in workflow.on:
                if trigger in RECORD_WRITES:
                    keys.add((trigger, workflow.entity, None))
                elif trigger in LINK_WRITES:
                    keys.add((trigger, workflow.entity, workflow.relationship))
        found = frozenset(keys)
        self._watched = (catalog, found)
        return found

    def wants(
        self, catalog: Catalog, trigger: str, entity: str, relationship: str | None = None
    ) -> bool:
        return (trigger, entity, relationship) in self._keys(catalog)

    # -- the stages ----------------------------------------------------------------------------

    def before(self, session: RecordSession, event: WriteEvent) -> Mapping[str, Any] | None:
        """Run the ``before`` workflows in order, each seeing the record as the last left it."""
        record = dict(event.record) if event.record is not None else None
        for workflow in self._fired(session, event, "before"):
            outcome = self._run(session, self._firing(session, workflow, event, "before", record))
            if event.trigger in ("create", "update") and outcome.record is not None:
                record = outcome.record
        return record

    def after(self, session: RecordSession, event: WriteEvent) -> None:
        """Run the ``after`` workflows, then queue the ``async`` ones with the write (outbox)."""
        for workflow in self._fired(session, event, "after"):
            self._run(session, self._firing(session, workflow, event, "after", event.record))
        for workflow in self._fired(session, event, "async"):
            firing = self._firing(session, workflow, event, "async", event.record)
            self._check_depth(session, firing)
            self.engine.enqueue(session, firing, session.actor)

    # -- one run -------------------------------------------------------------------------------

    @staticmethod
    def _fired(session: RecordSession, event: WriteEvent, stage: str) -> list[Workflow]:
        what = Happening(event.trigger, event.entity, event.relationship, event.changed)
        return fired(session.catalog.workflows.values(), what, stage)

    @staticmethod
    def _firing(
        session: RecordSession,
        workflow: Workflow,
        event: WriteEvent,
        stage: str,
        record: Mapping[str, Any] | None,
    ) -> Firing:
        return Firing(
            workflow=workflow,
            trigger=event.trigger,
            stage=stage,
            entity=event.entity,
            record=record,
            old=event.old if event.trigger != "create" else None,
            event=event.as_dict(),
            user=user_of(session.actor),
            depth=session.depth + 1,
        )

    @staticmethod
    def _check_depth(session: RecordSession, firing: Firing) -> None:
        if firing.depth > MAX_DEPTH:
            chain = " → ".join([*session.chain, firing.workflow.name])
            raise DepthExceeded(
                f"workflows fired workflows more than {MAX_DEPTH} deep, so the change was "
                f"undone (does a rule change what fires it?): {chain}",
                reason="error",
            )

    def _run(self, session: RecordSession, firing: Firing) -> Outcome:
        """Run one workflow one level deeper; record it; raise when it refuses or fails."""
        self._check_depth(session, firing)
        started = dt.datetime.now(dt.UTC)
        saved = session.depth
        session.depth = firing.depth
        session.chain.append(firing.workflow.name)
        try:
            outcome = self.engine.runner.run(firing, session)
        finally:
            session.depth = saved
            session.chain.pop()
        run = self.engine.run_of(firing, outcome, started, session.actor, session.request_id)
        if outcome.status is RunStatus.DONE:
            if outcome.fired:
                runs.record(session.conn, run)
            return outcome
        # The write is undone: keep the run where the rollback cannot reach it.
        db = self.engine.records.db

        def keep() -> None:
            with db.write() as conn:
                runs.record(conn, run)

        session.on_rollback(keep)
        if isinstance(outcome.cause, RuleRejected | ChainFailed):
            raise outcome.cause  # a rejection, or a failure further down the chain: as it was
        name = firing.workflow.name
        reason = outcome.cause.reason if isinstance(outcome.cause, SandboxError) else "error"
        raise ChainFailed(
            f"workflow {name} failed: {outcome.error or 'no reason given'}",
            reason=reason,
            log=outcome.log,
        )
