"""Run one workflow on one firing: its condition, then its actions, into one outcome.

The runner knows nothing of transactions or stages beyond what an action
needs: the caller (the write listener, the job handler, a dry run) hands it
the record session to act through and decides what the outcome means for the
write: a rejection or failure in the ``before`` and ``after`` stages undoes the
write; in the ``async`` stage it fails the job, which is retried. The outcome
always carries the log and the changes made so far, so a failed run is
recorded with what it said before it failed.

``set`` and a ``before`` script change the record being written; the record a
script hands back is diffed against the one it was given, and only the fields
it really changed are applied, so a script that merely reads the record
cannot overwrite a concurrent change with stale values.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xrm.entities.records import RecordSession
from xrm.errors import Fault, ValidationFailed, XrmError
from xrm.platform.db import Database
from xrm.platform.identity import Actor
from xrm.platform.jobs import enqueue
from xrm.plugins.spec import ACTION_JOB, ActionCall, ActionSpec, PluginError, not_installed
from xrm.schemas.workflows import (
    Action,
    CreateAction,
    LinkAction,
    PluginAction,
    RejectAction,
    ScriptAction,
    SetAction,
    UnlinkAction,
    UpdateAction,
    Workflow,
)
from xrm.workflows.errors import DepthExceeded, RuleRejected, SandboxError
from xrm.workflows.host import RuleHost
from xrm.workflows.pool import RuleInputs, SandboxPool
from xrm.workflows.protocol import to_plain
from xrm.workflows.runs import RunStatus

# Fields a rule cannot set on the record being written: the platform's own.
SYSTEM_FIELDS = frozenset({"id", "version", "created_at", "updated_at", "owner_id"})


def user_of(actor: Actor, locale: str | None = None) -> dict[str, Any]:
    """CONTRACT §5's ``user``: ``{"id", "email", "roles"}`` (and the locale for messages)."""
    return {
        "id": actor.id,
        "email": actor.email,
        "roles": list(actor.roles),
        "locale": locale or actor.locale,
    }


@dataclass(frozen=True, slots=True)
class Firing:
    """One workflow about to run: why, on what record, for whom, how deep in a chain.

    ``record`` is the record as a rule sees it (property names; for a ``before``
    rule the values about to be written, ``id`` included); ``old`` the stored
    version or None; ``event`` CONTRACT §5's event dict; ``user`` the caller.
    """

    workflow: Workflow
    trigger: str
    stage: str
    entity: str | None
    record: Mapping[str, Any] | None
    old: Mapping[str, Any] | None
    event: Mapping[str, Any]
    user: Mapping[str, Any] | None
    depth: int = 1

    @property
    def record_id(self) -> str | None:
        return str(self.record["id"]) if self.record and self.record.get("id") else None


@dataclass(slots=True)
class Outcome:
    """How a run ended: status, the record as the run left it, its log, changes and error."""

    status: RunStatus
    record: dict[str, Any] | None
    log: list[str] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    duration_ms: int = 0
    fired: bool = True  # False when the condition said no (nothing ran, nothing to record)
    # The step a failed run failed at: "when", or "actions.N" (a builder shows it there).
    failed_at: str | None = None
    cause: XrmError | None = None  # the error that ended the run, for who must re-raise it


class Runner:
    """Runs workflows' conditions and actions in the sandbox pool, through a record session.

    ``actions`` are the plugin action types enabled in this process (the plugin
    manager's, handed down by app.py); ``db`` is what an inline one may use.
    """

    def __init__(
        self,
        pool: SandboxPool,
        actions: Mapping[str, ActionSpec] | None = None,
        db: Database | None = None,
        disabled: Mapping[str, str] | None = None,
    ) -> None:
        self.pool = pool
        self.actions = dict(actions or {})
        self.db = db
        self.disabled = dict(disabled or {})  # action type -> its disabled plugin

    def run(self, firing: Firing, session: RecordSession) -> Outcome:
        """Run ``firing`` through ``session``; never raises for what the rule did."""
        self.pool.start()  # started on the first run: a process that runs no rule starts none
        started = time.perf_counter()
        host = RuleHost(session)
        record = dict(firing.record) if firing.record is not None else None
        outcome = Outcome(RunStatus.DONE, record)
        step = "when"
        try:
            if not self._condition(firing, record, host, outcome):
                outcome.fired = False
                return outcome
            for index, action in enumerate(firing.workflow.actions):
                step = f"actions.{index}"
                outcome.record = self._act(index, action, firing, outcome.record, host, outcome)
        except RuleRejected as exc:
            outcome.status = RunStatus.REJECTED
            outcome.error, outcome.error_code, outcome.cause = exc.message, exc.code, exc
            outcome.log.extend(exc.log)
        except SandboxError as exc:
            outcome.status = RunStatus.FAILED
            outcome.error, outcome.error_code, outcome.cause = exc.message, exc.code, exc
            outcome.log.extend(exc.log)
            outcome.failed_at = step
        except XrmError as exc:  # an action's write was refused (validation, access, ...)
            outcome.status = RunStatus.FAILED
            outcome.error, outcome.error_code, outcome.cause = _action_error(exc), exc.code, exc
            outcome.failed_at = step
        finally:
            outcome.changes = host.changes
            outcome.duration_ms = round((time.perf_counter() - started) * 1000)
        fatal = host.fatal
        if fatal is not None and (
            outcome.status is not RunStatus.DONE or isinstance(fatal, DepthExceeded)
        ):
            # The run ended because a write it made was refused by that write's own rules:
            # the user reads that refusal, not the script's report of it.
            rejected = isinstance(fatal, RuleRejected)
            outcome.status = RunStatus.REJECTED if rejected else RunStatus.FAILED
            outcome.error, outcome.error_code, outcome.cause = fatal.message, fatal.code, fatal
            outcome.failed_at = outcome.failed_at or step
        return outcome

    # -- the steps --------------------------------------------------------------------------

    def _inputs(self, firing: Firing, record: Mapping[str, Any] | None) -> RuleInputs:
        return RuleInputs(
            record=to_plain(record, "record") if record is not None else None,
            old=to_plain(firing.old, "old") if firing.old is not None else None,
            event=to_plain(dict(firing.event), "event"),
            user=to_plain(dict(firing.user), "user") if firing.user is not None else None,
        )

    def _condition(
        self, firing: Firing, record: Mapping[str, Any] | None, host: RuleHost, outcome: Outcome
    ) -> bool:
        when = firing.workflow.when
        if when is None:
            return True
        result = self.pool.condition(
            when, self._inputs(firing, record), handler=host, limits=firing.workflow.limits
        )
        outcome.log.extend(result.log)
        return bool(result.value)

    def _act(
        self,
        index: int,
        action: Action,
        firing: Firing,
        record: dict[str, Any] | None,
        host: RuleHost,
        outcome: Outcome,
    ) -> dict[str, Any] | None:
        """Carry out one action; returns the record as it stands afterwards."""
        if isinstance(action, SetAction):
            assert record is not None  # set is checked to need a create or update trigger
            return {**record, **_settable(action.values, f"actions.{index}.values")}
        if isinstance(action, ScriptAction):
            result = self.pool.script(
                action.code,
                self._inputs(firing, record),
                handler=host,
                limits=firing.workflow.limits,
            )
            outcome.log.extend(result.log)
            if firing.stage == "before" and record is not None and isinstance(result.value, dict):
                changed = {
                    key: value
                    for key, value in result.value.items()
                    if key not in record or to_plain(record[key], key) != value
                }
                return {**record, **_settable(changed, f"actions.{index}: record")}
            return record
        if isinstance(action, RejectAction):
            raise RuleRejected(_message(action.message, firing.user))
        if isinstance(action, CreateAction):
            host.create(action.entity, action.values)
        elif isinstance(action, UpdateAction):
            self._update(action, firing, record, host)
        elif isinstance(action, LinkAction):
            own = _own_id(firing, record)
            host.link(action.relationship, own, action.other_id, action.attributes)
        elif isinstance(action, UnlinkAction):
            host.unlink(action.relationship, _own_id(firing, record), action.other_id)
        elif isinstance(action, PluginAction):
            self._plugin(action, firing, record, host, outcome)
        return record

    def _plugin(
        self,
        action: PluginAction,
        firing: Firing,
        record: Mapping[str, Any] | None,
        host: RuleHost,
        outcome: Outcome,
    ) -> None:
        """Run a plugin's action inline, or queue it as a job in the run's transaction (so
        it exists exactly when the write does, and the queue retries it with backoff)."""
        spec = self.actions.get(action.type)
        if spec is None:
            plugin = self.disabled.get(action.type)
            raise SandboxError(not_installed(action.type, plugin), reason="error")
        plain_record = to_plain(record, "record") if record is not None else None
        plain_old = to_plain(firing.old, "old") if firing.old is not None else None
        event = to_plain(dict(firing.event), "event")
        if spec.mode == "job":
            job = enqueue(
                host.session.conn,
                ACTION_JOB,
                {
                    "action": action.type,
                    "settings": dict(action.settings),
                    "workflow": firing.workflow.name,
                    "entity": firing.entity,
                    "record": plain_record,
                    "old": plain_old,
                    "event": event,
                },
                max_attempts=spec.max_attempts,
                actor_id=(firing.user or {}).get("id"),
            )
            outcome.log.append(f"{action.type}: queued as job {job.id}")
            return
        if self.db is None:
            raise SandboxError(f"{action.type} cannot run in this process", reason="error")
        try:
            spec.run(
                ActionCall(
                    action=action.type,
                    settings=action.settings,
                    workflow=firing.workflow.name,
                    entity=firing.entity,
                    record=plain_record,
                    old=plain_old,
                    event=event,
                    config=host.session.settings,
                    db=self.db,
                )
            )
        except PluginError as exc:
            raise SandboxError(f"{action.type}: {exc}", reason="error") from None

    def _update(
        self,
        action: UpdateAction,
        firing: Firing,
        record: Mapping[str, Any] | None,
        host: RuleHost,
    ) -> None:
        assert firing.entity is not None
        own_id = _own_id(firing, record)
        if action.target is None:
            host.update(firing.entity, own_id, action.values)
            return
        target_id = (record or {}).get(action.target)
        if target_id is None:
            raise SandboxError(
                f"update of {action.target}: the record has none to update", reason="error"
            )
        ref = host.session.catalog.entity(firing.entity).properties[action.target].ref
        assert ref is not None  # checked when the workflow was defined
        host.update(ref.entity, str(target_id), action.values)


def _settable(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    refused = sorted(set(values) & SYSTEM_FIELDS)
    if refused:
        raise ValidationFailed(
            [Fault(where, f"a rule cannot set {', '.join(refused)}: the platform keeps them")]
        )
    return dict(values)


def _own_id(firing: Firing, record: Mapping[str, Any] | None) -> str:
    if record is None or record.get("id") is None:
        raise SandboxError(
            "this action needs the triggering record, and there is none", reason="error"
        )
    return str(record["id"])


def _message(message: str | Mapping[str, str], user: Mapping[str, Any] | None) -> str:
    """A reject message: plain text, or one per language picked by the user's locale."""
    if isinstance(message, str):
        return message
    locale = str((user or {}).get("locale") or "en")
    return message.get(locale) or message.get(locale.split("-")[0]) or next(iter(message.values()))


def _action_error(exc: XrmError) -> str:
    return exc.message  # FaultsError's message already lists every fault
