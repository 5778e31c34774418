"""Test runs from the builder: of the saved workflow, and of the form as it stands, unsaved.

Both are dry runs (everything runs in a transaction that is rolled back) against
a record the builder chooses from the recently changed ones or types by name.
The saved workflow runs as ``runWorkflow(dryRun: true)``; the form's contents
run as ``testWorkflow`` does, checked as saving would check them, so a condition
or script that does not compile is named at its input, line and column, exactly
as on save, and nothing is stored but the test run in the workflow's history.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from xrm.admin_ui import workflow_form as wf
from xrm.admin_ui import workflow_plugins as wp
from xrm.admin_ui import workflow_runs as wr
from xrm.admin_ui import workflows as ws
from xrm.admin_ui.auth import admin_form
from xrm.admin_ui.messages import Shown, explain
from xrm.admin_ui.pages import gettext_for, language
from xrm.entities.records import RecordSession
from xrm.errors import FaultsError, XrmError
from xrm.platform import sessions
from xrm.workflows.engine import WorkflowEngine
from xrm.workflows.runs import Run, RunStatus

# The name a new workflow's form is tried under while its name input is still empty.
DRAFT_NAME = "unsaved_draft"
_LINE = re.compile(r"^line (\d+): ")  # a rule's error at a line of its own code


async def _described(
    request: Request, session: sessions.Session, run: Run, entity: str | None = None
) -> wr.RunRow:
    """A dry run as the result shows it: records by name, changes with their old values
    (``entity``: the type of a form not saved yet, which the catalog does not know)."""
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)

    def describe(records: RecordSession) -> wr.RunRow:
        olds = wr.olds_of(records, run)
        return wr.run_rows(records, [run], lang, _, olds=olds, was=entity)[0]

    return await ws.records_of(request, session, describe)


def _chosen(form: FormData, prefix: str) -> tuple[str, str]:
    """(typed name, chosen id) of the record a test run is tried on."""
    typed = str(form.get(prefix + "record") or "").strip()
    return typed, str(form.get(prefix + "recent") or "").strip()


@admin_form
async def test_run(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Run the saved workflow against a chosen record, rolled back, and show what it did."""
    if refused := ws.refuse(request, session):
        return refused
    _ = gettext_for(request, session.locale)
    workflow = ws.registry_of(request).current().workflows.get(request.path_params["name"])
    if workflow is None:
        return ws.missing(request, session)
    typed, chosen = _chosen(form, "")
    engine: WorkflowEngine = request.app.state.workflows
    tested: dict[str, Any] = {"record": typed, "recent": chosen}

    def pick(records: RecordSession) -> tuple[str | None, str | None]:
        return wr.pick_record(records, workflow.entity, workflow.on, typed, chosen, _)

    record_id, problem = await ws.records_of(request, session, pick)
    status = 200
    if problem is not None:
        tested["problem"] = problem
        status = 400
    else:
        try:
            run = await run_in_threadpool(
                engine.run_by_hand, session.actor, workflow.name, record_id, dry_run=True
            )
        except XrmError as exc:
            tested["problem"] = " ".join(s.text for s in explain(exc, _))
            status = 400
        else:
            tested["run"] = await _described(request, session, run)
    values = wf.values_from_definition(workflow.definition)
    context = ws.form_context(request, session, values, creating=False, version=workflow.version)
    return await ws.workflow_page_for(
        request, session, workflow, context, status=status, tested=tested
    )


def _failed_at(
    run: Run, row: wr.RunRow, values: wf.FormValues, blocks: list[int]
) -> tuple[str, str, int | None] | None:
    """(input, error, line) of where a failed test run failed: the condition, or the action
    block (its script, at the line the error names, or its type for any other action)."""
    if run.status is not RunStatus.FAILED or not run.failed_at or not row.error:
        return None
    found = _LINE.match(run.error or "")
    line = int(found.group(1)) if found else None
    if run.failed_at == "when":
        return "when", row.error, line
    index = int(run.failed_at.rpartition(".")[2])
    if index >= len(blocks):
        return None
    block = blocks[index]
    if values.actions[block].type == "script":
        return f"actions.{block}.code", row.error, line
    return f"actions.{block}.type", row.error, None


@admin_form
async def try_form(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Run what the form holds now, not saved, against a chosen record, rolled back.

    The form comes back as it was posted, with the result beside it; problems that stop
    the run (a field the form itself can tell is wrong, a definition the checks refuse,
    a condition or script that does not compile) are shown at their inputs as on save, and
    so is the error of a run that failed (at the condition, or at the action it failed at).
    """
    if refused := ws.refuse(request, session):
        return refused
    _ = gettext_for(request, session.locale)
    name: str | None = request.path_params.get("name")
    catalog = ws.registry_of(request).current()
    stored = catalog.workflows.get(name) if name is not None else None
    if name is not None and stored is None:
        return ws.missing(request, session)
    values = wf.values_from_post(ws.posted(form))
    if name is not None:
        values.name = name
    plugins = ws.plugin_schemas(request)
    built = wf.build(values, catalog.types, stored.definition if stored else None, _, plugins)
    definition = {**built.definition, "name": built.definition["name"] or DRAFT_NAME}
    typed, chosen = _chosen(form, "try.")
    tried: dict[str, Any] = {"record": typed, "recent": chosen}
    errors = wp.unavailable_errors(request, values, built.errors, _)
    top: list[Shown] = []
    lines: dict[str, list[int]] = {}
    failed: tuple[str, str, int | None] | None = None  # (input, error, line) of a failed run
    engine: WorkflowEngine = request.app.state.workflows
    if not errors:  # the definition first: its problems are shown whatever the record

        def pick(records: RecordSession) -> tuple[str | None, str | None]:
            triggers = definition["on"]
            return wr.pick_record(records, values.entity, triggers, typed, chosen, _)

        try:
            await run_in_threadpool(engine.check, definition)
            record_id, problem = await ws.records_of(request, session, pick)
            if problem is not None:
                tried["problem"] = problem
            else:
                test = functools.partial(engine.test, session.actor, definition, record_id)
                run = await run_in_threadpool(test)
                tried["run"] = row = await _described(request, session, run, values.entity)
                failed = _failed_at(run, row, values, built.blocks)
        except FaultsError as exc:
            errors, top, lines = ws.faults_by_input(exc, built.blocks, _)
        except XrmError as exc:
            tried["problem"] = " ".join(s.text for s in explain(exc, _))
    if errors or top:
        tried["problem"] = _("The test did not run: correct the problems marked in the form.")
    errors, top = ws.placed(values, errors, top, plugins, _)
    if failed is not None:  # the run's error beside the input it failed at, as on save
        at, said, line = failed
        errors[at] = said
        if line is not None:
            lines[at] = [line]
    return await ws.form_again(
        request,
        session,
        values,
        name,
        errors,
        top,
        lines,
        ws.posted_version(form),
        200 if "run" in tried else 400,
        tried=tried,
    )
