"""The workflow part of the GraphQL API (CONTRACT §4): define, list, delete, run, test, runs.

Defining, deleting, listing and testing workflows, reading their runs and
dry-running them are the ``define_workflows`` right: a run's log and changes
show record values a builder chose to log. Running a ``manual`` workflow is
open to any signed-in user, because every read and write of the run goes
through that user's own permissions — it can do nothing the user could not.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLString,
)

from xrm.api import resolvers
from xrm.api.context import RequestContext
from xrm.api.scalars import DATETIME, JSON
from xrm.entities import workflow_store
from xrm.entities.registry import WORKFLOW as WORKFLOW_KIND
from xrm.errors import DefinitionError, Fault, NotFound, ValidationFailed, XrmError
from xrm.platform.access import Permissions
from xrm.schemas.formats import NUL, NUL_MESSAGE, uuid_text
from xrm.schemas.workflows import Workflow
from xrm.workflows import runs
from xrm.workflows.engine import WorkflowEngine
from xrm.workflows.runs import Run, RunStatus

RIGHT = "define_workflows"
MAX_RUNS = 500


def _nn(t: Any) -> GraphQLNonNull[Any]:
    return GraphQLNonNull(t)


def _list(t: Any) -> GraphQLNonNull[Any]:
    return GraphQLNonNull(GraphQLList(GraphQLNonNull(t)))


WORKFLOW = GraphQLObjectType(
    "Workflow",
    {
        "name": GraphQLField(_nn(GraphQLString)),
        "entity": GraphQLField(_nn(GraphQLString)),
        "enabled": GraphQLField(_nn(GraphQLBoolean)),
        "version": GraphQLField(_nn(GraphQLInt)),
        "definition": GraphQLField(_nn(JSON)),
    },
    description="What happens when records of one entity type change, or a schedule ticks.",
)
WORKFLOW_RUN = GraphQLObjectType(
    "WorkflowRun",
    {
        "id": GraphQLField(_nn(GraphQLID)),
        "workflow": GraphQLField(_nn(GraphQLString)),
        "trigger": GraphQLField(_nn(GraphQLString)),
        "status": GraphQLField(
            _nn(GraphQLString),
            description="done, failed, rejected, running, queued or dead.",
        ),
        "startedAt": GraphQLField(_nn(DATETIME)),
        "durationMs": GraphQLField(GraphQLInt),
        "log": GraphQLField(_list(GraphQLString)),
        "error": GraphQLField(GraphQLString),
        "recordId": GraphQLField(GraphQLID),
        "dryRun": GraphQLField(_nn(GraphQLBoolean)),
        "changes": GraphQLField(
            JSON, description="The writes it made or, in a dry run, would have made."
        ),
    },
    description="One run of a workflow: why, on what, how it ended, what it said and changed.",
)


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
    ctx: RequestContext = info.context
    return ctx


def _require(ctx: RequestContext) -> None:
    assert ctx.catalog is not None
    Permissions.of(ctx.caller(), ctx.catalog.roles).require_right(RIGHT)


def _engine(ctx: RequestContext) -> WorkflowEngine:
    engine = ctx.services.workflows
    if engine is None:
        raise XrmError("workflows are not running in this process")
    return engine


def _workflow(workflow: Workflow) -> dict[str, Any]:
    return {
        "name": workflow.name,
        "entity": workflow.entity,
        "enabled": workflow.enabled,
        "version": workflow.version,
        "definition": dict(workflow.definition),
    }


def _run(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "workflow": run.workflow,
        "trigger": run.trigger,
        "status": run.status.value,
        "startedAt": run.started_at,
        "durationMs": run.duration_ms,
        "log": list(run.log),
        "error": run.error,
        "recordId": run.record_id,
        "dryRun": run.dry_run,
        "changes": [dict(change) for change in run.changes],
    }


# --- resolvers -------------------------------------------------------------------------------


def workflows(source: Any, info: GraphQLResolveInfo) -> Any:
    ctx = _ctx(info)
    _require(ctx)
    defined = ctx.services.registry.current().workflows
    return [_workflow(defined[name]) for name in sorted(defined)]


def define_workflow(source: Any, info: GraphQLResolveInfo, definition: Any) -> Any:
    """Create or replace a workflow by name; only a workflow definition is accepted here."""
    resolvers.define_one(info, WORKFLOW_KIND, definition, None)
    return _workflow(_ctx(info).services.registry.current().workflows[definition["name"]])


def delete_workflow(source: Any, info: GraphQLResolveInfo, name: str) -> bool:
    ctx = _ctx(info)
    _require(ctx)
    deleted = ctx.services.registry.delete_workflow(
        name, actor=ctx.caller(), channel="api", request_id=ctx.request_id
    )
    if not deleted:
        raise NotFound(f"no workflow named {name!r}", workflow=name)
    return True


def workflow_runs(
    source: Any,
    info: GraphQLResolveInfo,
    workflow: str | None = None,
    first: int | None = None,
    recordId: str | None = None,
    status: str | None = None,
) -> Any:
    ctx = _ctx(info)
    _require(ctx)
    faults: list[Fault] = []
    limit = 50 if first is None else first
    if not 1 <= limit <= MAX_RUNS:
        faults.append(Fault("first", f"first is from 1 to {MAX_RUNS}, not {limit}"))
    if workflow is not None and NUL in workflow:
        faults.append(Fault("workflow", NUL_MESSAGE))
    if recordId is not None:
        try:
            recordId = uuid_text(recordId)
        except ValueError as exc:
            faults.append(Fault("recordId", str(exc)))
    wanted = None
    if status is not None:
        try:
            wanted = RunStatus(status)
        except ValueError:
            known = ", ".join(s.value for s in RunStatus)
            faults.append(Fault("status", f"{status!r} is not a run status ({known})"))
    if faults:
        raise ValidationFailed(faults)
    with ctx.services.records.db.read() as conn:
        found = runs.list_runs(
            conn, workflow=workflow, record_id=recordId, status=wanted, limit=limit
        )
    return [_run(run) for run in found]


def run_workflow(
    source: Any,
    info: GraphQLResolveInfo,
    name: str,
    recordId: str | None = None,
    dryRun: bool | None = None,
) -> Any:
    ctx = _ctx(info)
    if dryRun:
        _require(ctx)
    run = _engine(ctx).run_by_hand(
        ctx.caller(), name, recordId, dry_run=bool(dryRun), request_id=ctx.request_id
    )
    return _run(run)


def test_workflow(
    source: Any, info: GraphQLResolveInfo, definition: Any, recordId: str | None = None
) -> Any:
    ctx = _ctx(info)
    _require(ctx)
    if not isinstance(definition, dict) or not workflow_store.is_workflow(definition):
        raise DefinitionError(
            [Fault("definition", "testWorkflow takes a workflow: an object with on and actions")]
        )
    run = _engine(ctx).test(ctx.caller(), definition, recordId, request_id=ctx.request_id)
    return _run(run)


def retry_workflow_run(source: Any, info: GraphQLResolveInfo, id: str) -> Any:
    """Send a failed or dead async run back to the queue (a builder's retry)."""
    ctx = _ctx(info)
    _require(ctx)
    return _run(_engine(ctx).retry(id))


def _bad(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([Fault(field, message)])


def add_fields(query: dict[str, GraphQLField], mutation: dict[str, GraphQLField]) -> None:
    """Add the workflow operations to the root types being built."""
    query["workflows"] = GraphQLField(_list(WORKFLOW), resolve=workflows)
    query["workflowRuns"] = GraphQLField(
        _list(WORKFLOW_RUN),
        args={
            "workflow": GraphQLArgument(GraphQLString),
            "first": GraphQLArgument(GraphQLInt, description=f"At most {MAX_RUNS}; 50 if unset."),
            "recordId": GraphQLArgument(GraphQLID),
            "status": GraphQLArgument(GraphQLString),
        },
        resolve=workflow_runs,
        description="Runs, newest first.",
    )
    mutation["defineWorkflow"] = GraphQLField(
        _nn(WORKFLOW),
        args={"definition": GraphQLArgument(_nn(JSON))},
        resolve=define_workflow,
        description="Create or replace a workflow by name.",
    )
    mutation["deleteWorkflow"] = GraphQLField(
        _nn(GraphQLBoolean),
        args={"name": GraphQLArgument(_nn(GraphQLString))},
        resolve=delete_workflow,
    )
    mutation["runWorkflow"] = GraphQLField(
        _nn(WORKFLOW_RUN),
        args={
            "name": GraphQLArgument(_nn(GraphQLString)),
            "recordId": GraphQLArgument(GraphQLID),
            "dryRun": GraphQLArgument(GraphQLBoolean),
        },
        resolve=run_workflow,
        description="Run a manual workflow; with dryRun, any workflow, and nothing is kept.",
    )
    mutation["retryWorkflowRun"] = GraphQLField(
        _nn(WORKFLOW_RUN),
        args={"id": GraphQLArgument(_nn(GraphQLID))},
        resolve=retry_workflow_run,
        description="Queue a failed or dead async or scheduled run again, with fresh attempts.",
    )
    mutation["testWorkflow"] = GraphQLField(
        _nn(WORKFLOW_RUN),
        args={"definition": GraphQLArgument(_nn(JSON)), "recordId": GraphQLArgument(GraphQLID)},
        resolve=test_workflow,
        description="A dry run of a definition not yet saved: nothing is kept.",
    )
