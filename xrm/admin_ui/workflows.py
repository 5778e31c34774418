"""The workflow builder: `/admin/workflows` (list), `.../new` and `.../{name}` (CONTRACT §2).

Everything here is the ``define_workflows`` right, as in the API: a run's
log and changes show record values a builder chose to log, so a user
without the right gets 403 (and no menu entry), not a read-only copy. Saving
goes through the registry like ``defineWorkflow`` (checked, versioned,
audited, on channel ``admin``), with the version the form was loaded at, so
two builders never overwrite each other. A test run is the API's
``runWorkflow(dryRun: true)``: everything runs in a transaction that is
rolled back. The form's inputs and the definition they spell are in
``workflow_form.py``; runs in words are in ``workflow_runs.py``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui import record_fields as rf
from xrm.admin_ui import workflow_form as wf
from xrm.admin_ui import workflow_plugins as wp
from xrm.admin_ui import workflow_runs as wr
from xrm.admin_ui.auth import admin_form, admin_view, forbidden, may, message, page
from xrm.admin_ui.messages import Shown, explain, say
from xrm.admin_ui.pages import gettext_for, language
from xrm.admin_ui.record_views import looks_like_id
from xrm.entities import workflow_store
from xrm.entities.catalog_state import Catalog
from xrm.entities.records import RecordService, RecordSession
from xrm.entities.registry import WORKFLOW, Registry
from xrm.errors import Conflict, FaultsError, NotFound, XrmError
from xrm.platform import sessions
from xrm.plugins.spec import TriggerSource
from xrm.schemas.workflows import STAGES, TRIGGERS, Workflow
from xrm.workflows import runs
from xrm.workflows.engine import WorkflowEngine
from xrm.workflows.runs import Run

T = TypeVar("T")
Gettext = Callable[[str], str]
RIGHT = "define_workflows"
CHANNEL = "admin"
BASE = "/admin/workflows"


def registry_of(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


async def records_of(
    request: Request, session: sessions.Session, work: Callable[[RecordSession], T]
) -> T:
    """``work`` in a read session of the signed-in user (names of records, the picker)."""
    service: RecordService = request.app.state.records

    def run() -> T:
        with service.session(session.actor, CHANNEL, write=False) as records:
            return work(records)

    return await run_in_threadpool(run)


def plugin_schemas(request: Request) -> dict[str, Mapping[str, Any]]:
    """The settings schema of each action type plugins add (``webhook``, ``email``...)."""
    plugins = getattr(request.app.state, "plugins", None)
    actions = plugins.actions if plugins is not None else {}
    return {name: spec.schema for name, spec in actions.items()}


def _plugin_sources(request: Request) -> dict[str, tuple[str, TriggerSource]]:
    """The enabled plugins' trigger sources (``sample.door`` -> its plugin and declaration)."""
    plugins = getattr(request.app.state, "plugins", None)
    return plugins.sources() if plugins is not None else {}


def _source_title(source: TriggerSource, lang: str) -> str:
    title = source.title
    if isinstance(title, Mapping):
        return rf.in_language(title, lang, source.name)
    return title or source.name


def plugin_event_options(
    sources: Mapping[str, tuple[str, TriggerSource]], chosen: str, lang: str, _: Gettext
) -> list[tuple[str, str]]:
    """The builder's choices of plugin event: each enabled source's events, by title; the
    chosen one stays listed (said so) when its plugin is off, so saving keeps it."""
    options = [
        (
            wf.plugin_event_value(name, event),
            _("%(source)s: %(event)s (plugin %(plugin)s)")
            % {"source": _source_title(source, lang), "event": event, "plugin": plugin},
        )
        for name, (plugin, source) in sorted(sources.items())
        for event in source.events
    ]
    if chosen and chosen not in {value for value, _label in options}:
        source, _sep, event = chosen.rpartition(":")
        options.append((chosen, _off(source, event, _)))
    return options


def _off(source: str, event: str, _: Gettext) -> str:
    return _("%(source)s: %(event)s (not triggered: plugin %(plugin)s is switched off)") % {
        "source": source,
        "event": event,
        "plugin": source.split(".")[0],
    }


def _plugin_titles(request: Request) -> dict[str, str]:
    plugins = getattr(request.app.state, "plugins", None)
    actions = plugins.actions if plugins is not None else {}
    return {name: spec.title or name for name, spec in actions.items()}


def _translated(setting: wf.Setting, _: Gettext) -> wf.Setting:
    """A plugin's words in the page's language when the catalog has them (built-in plugins)."""
    said = _(setting.description) if setting.description else ""
    return dataclasses.replace(setting, title=_(setting.title), description=said)


def refuse(request: Request, session: sessions.Session) -> Response | None:
    """403 for a user without the right (before anything is read)."""
    return None if may(request, session, RIGHT) else forbidden(request, session)


# --- words for the choices -------------------------------------------------------------------


def trigger_words(_: Gettext) -> dict[str, str]:
    return {
        "create": _("a record is created"),
        "update": _("a record is changed"),
        "delete": _("a record is deleted"),
        "link": _("records are linked"),
        "unlink": _("records are unlinked"),
        "schedule": _("on a schedule"),
        "manual": _("run by hand"),
        "plugin": _("a plugin reports an event"),
    }


def stage_words(_: Gettext) -> dict[str, str]:
    return {
        "before": _("before saving (may change or refuse the record)"),
        "after": _("after saving, in the same transaction"),
        "async": _("afterwards, in the background"),
    }


def action_words(_: Gettext) -> dict[str, str]:
    return {
        "set": _("Set fields of the record"),
        "create": _("Create a record"),
        "update": _("Update the record or a referenced one"),
        "link": _("Link to a record"),
        "unlink": _("Unlink from a record"),
        "reject": _("Refuse the change with a message"),
        "script": _("Run a script"),
    }


def _type_options(catalog: Catalog, lang: str) -> list[tuple[str, str]]:
    shown = [(et.name, rf.type_label(et, lang)) for et in catalog.types.values() if not et.system]
    return sorted(shown, key=lambda pair: pair[1].lower())


def _relationship_options(catalog: Catalog, lang: str) -> list[tuple[str, str]]:
    """Many-to-many relationships and references, each as "From → To: name"."""
    options: list[tuple[str, str]] = []
    for rel in catalog.relationships.values():
        ends = [catalog.types.get(rel.from_entity), catalog.types.get(rel.to_entity)]
        if None in ends:
            continue
        a, b = (rf.type_label(et, lang) for et in ends if et is not None)
        label = rf.in_language(getattr(rel, "label", None), lang, rel.name)
        options.append((rel.name, f"{a} → {b}: {label}"))
    for et in catalog.types.values():
        if et.system:
            continue
        for prop in et.references:
            assert prop.ref is not None
            target = catalog.types.get(prop.ref.entity)
            to = rf.type_label(target, lang) if target is not None else prop.ref.entity
            label = f"{rf.type_label(et, lang)} → {to}: {rf.field_label(prop, lang)}"
            options.append((f"{et.name}.{prop.name}", label))
    return sorted(options, key=lambda pair: pair[1].lower())


def summary(
    workflow: Workflow,
    catalog: Catalog,
    lang: str,
    _: Gettext,
    sources: Mapping[str, tuple[str, TriggerSource]] | None = None,
) -> dict[str, str]:
    """A workflow in words: its type, triggers (a plugin's event by its title, and whether
    its plugin is off, so nobody waits for runs that cannot come), stage."""
    et = catalog.types.get(workflow.entity)
    triggers = trigger_words(_)
    if workflow.source is not None and workflow.event is not None:
        found = (sources or {}).get(workflow.source)
        triggers["plugin"] = (
            _("%(source)s: %(event)s (plugin %(plugin)s)")
            % {"source": _source_title(found[1], lang), "event": workflow.event, "plugin": found[0]}
            if found is not None
            else _off(workflow.source, workflow.event, _)
        )
    return {
        "entity": rf.type_label(et, lang) if et is not None else workflow.entity,
        "on": ", ".join(triggers.get(t, t) for t in workflow.on),
        "stage": (
            _("afterwards, from the job queue")
            if workflow.on == ("plugin",)  # after or async: either way a queued run
            else stage_words(_).get(workflow.stage, workflow.stage)
        ),
        "title": workflow_title(workflow.definition, workflow.name, lang),
    }


def workflow_title(definition: Mapping[str, Any], name: str, lang: str) -> str:
    """The workflow's label in the page's language, else its title, else its name."""
    labels = definition.get("label") or {}
    return str(labels.get(lang) or definition.get("title") or labels.get("en") or name)


# --- the form's context ------------------------------------------------------------------------


def _shown_fault(text: str, _: Gettext) -> str:
    found = wf.code_lines(text)
    if found is not None:
        line, column, what = found
        return _("Line %(line)s, column %(column)s: %(what)s") % {
            "line": line,
            "column": column,
            "what": say(what, _) or what,
        }
    return say(text, _) or _("This is not accepted: %(detail)s") % {"detail": text}


def form_context(
    request: Request,
    session: sessions.Session,
    values: wf.FormValues,
    *,
    creating: bool,
    errors: Mapping[str, str] | None = None,
    top: list[Shown] | None = None,
    code_errors: Mapping[str, list[int]] | None = None,
    version: int = 0,
) -> dict[str, Any]:
    """What the form template needs: choices with labels, values, errors by input."""
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)
    catalog = registry_of(request).current()
    actions = list(values.actions)
    actions.append(wf.ActionInputs())  # one blank block: "add an action"
    schemas = plugin_schemas(request)
    titles = _plugin_titles(request)
    return {
        "plugin_actions": [
            (name, [_translated(one, _) for one in wf.setting_inputs(schema)])
            for name, schema in sorted(schemas.items())
        ],
        "form": values,
        "form_actions": list(enumerate(actions)),
        "creating": creating,
        "version": version,
        "types": _type_options(catalog, lang),
        "triggers": [(t, trigger_words(_)[t]) for t in TRIGGERS],
        "plugin_events": plugin_event_options(
            _plugin_sources(request), values.plugin_event, lang, _
        ),
        "stages": [(s, stage_words(_)[s]) for s in STAGES],
        "action_types": [
            *action_words(_).items(),
            *((name, _(titles[name])) for name in sorted(schemas)),
            *wp.unavailable_options(request, values, schemas, _),
        ],
        "relationships": _relationship_options(catalog, lang),
        "field_errors": dict(errors or {}),
        "code_errors": {k: ",".join(map(str, v)) for k, v in (code_errors or {}).items()},
        "errors": top or [],
    }


def faults_by_input(
    exc: FaultsError, blocks: list[int], _: Gettext
) -> tuple[dict[str, str], list[Shown], dict[str, list[int]]]:
    by_input: dict[str, str] = {}
    rest: list[Shown] = []
    lines: dict[str, list[int]] = {}
    for fault in exc.faults:
        name = wf.input_of(fault.field, blocks)
        said = _shown_fault(fault.message, _)
        if not name:
            rest.append(Shown(fault.field, said, say(fault.message, _) is not None))
            continue
        by_input[name] = f"{by_input[name]} {said}" if name in by_input else said
        found = wf.code_lines(fault.message)
        if found is not None:
            lines.setdefault(name, []).append(found[0])
    return by_input, rest, lines


def _please(count: int, _: Gettext) -> Shown:
    return Shown("", _("Please correct the fields marked below (%(n)s).") % {"n": count})


# --- the list ------------------------------------------------------------------------------------


@admin_view
async def workflows_page(request: Request, session: sessions.Session) -> Response:
    if refused := refuse(request, session):
        return refused
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)
    catalog = registry_of(request).current()
    sources = _plugin_sources(request)

    def load() -> list[dict[str, Any]]:
        rows = []
        with request.app.state.db.read() as conn:
            for name in sorted(catalog.workflows):
                workflow = catalog.workflows[name]
                last = runs.list_runs(conn, workflow=name, limit=1)
                rows.append(
                    {
                        "name": name,
                        "href": f"{BASE}/{name}",
                        "enabled": workflow.enabled,
                        "last": last[0] if last else None,
                        "missing": wp.missing_actions(request, workflow, _),
                        **summary(workflow, catalog, lang, _, sources),
                    }
                )
        return rows

    rows = await run_in_threadpool(load)
    for row in rows:
        last: Run | None = row.pop("last")
        row["last_status"] = wr.status_label(last.status, _) if last else ""
        row["last_code"] = last.status.value if last else ""
        row["last_when"] = rf.when(last.started_at) + " UTC" if last else ""

    def kept() -> list[tuple[str, str]]:
        with request.app.state.db.read() as conn:
            names = [n for n in runs.workflow_names(conn) if n not in catalog.workflows]
            was = workflow_store.deleted(conn, names)
        return [(workflow_title(was.get(n, {}), n, lang), f"{BASE}/{n}") for n in names]

    context = {
        "rows": rows,
        "deleted": request.query_params.get("deleted") == "1",
        "gone": await run_in_threadpool(kept),
        "days": _retention_days(request),
    }
    return page(request, session, "workflows.html", context)


# --- a new workflow ------------------------------------------------------------------------------


@admin_view
async def new_workflow_page(request: Request, session: sessions.Session) -> Response:
    if refused := refuse(request, session):
        return refused
    values = wf.FormValues(entity=request.query_params.get("entity", ""))
    context = form_context(request, session, values, creating=True)
    return await _new_page(request, session, context)


@admin_form
async def create_workflow(request: Request, session: sessions.Session, form: FormData) -> Response:
    if refused := refuse(request, session):
        return refused
    return await _save(request, session, form, None)


# --- one workflow --------------------------------------------------------------------------------


@admin_view
async def workflow_page(request: Request, session: sessions.Session) -> Response:
    if refused := refuse(request, session):
        return refused
    name = request.path_params["name"]
    workflow = registry_of(request).current().workflows.get(name)
    if workflow is None:
        return await _deleted_page(request, session, name)
    values = wf.values_from_definition(workflow.definition)
    context = form_context(request, session, values, creating=False, version=workflow.version)
    flags = {k: request.query_params.get(k) == "1" for k in ("saved", "retried", "switched")}
    return await workflow_page_for(request, session, workflow, context, flags=flags)


def missing(request: Request, session: sessions.Session) -> Response:
    _ = gettext_for(request, session.locale)
    return message(request, session, _("It does not exist (any more)."), 404)


def _retention_days(request: Request) -> int:
    days: int = request.app.state.settings.workflow_run_retention_days
    return days


async def _runs_context(
    request: Request,
    session: sessions.Session,
    name: str,
    entity: str | None,
    was: str | None = None,
) -> dict[str, Any]:
    """One page of a workflow's runs (``?before=`` pages on) and the test run's choices
    (``was``: the type a deleted workflow was about, to name its runs' records)."""
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)
    before_id = request.query_params.get("before", "")

    def load(records: RecordSession) -> dict[str, Any]:
        conn = records.conn
        before = runs.get_run(conn, before_id) if looks_like_id(before_id) else None
        found = runs.list_runs(conn, workflow=name, limit=wr.PAGE + 1, before=before)
        more = len(found) > wr.PAGE
        found = found[: wr.PAGE]
        return {
            "runs": wr.run_rows(records, found, lang, _, was=was),
            "older_href": f"{BASE}/{name}?before={found[-1].id}" if more else "",
            "paged": before is not None,
            **(wr.recent_choices(records, entity, _) if entity else {}),
        }

    return await records_of(request, session, load)


async def _deleted_page(request: Request, session: sessions.Session, name: str) -> Response:
    """A deleted workflow's kept runs, read-only, until retention removes them (else 404)."""

    lang = language(request, session.locale)

    def kept() -> Mapping[str, Any] | None:
        with request.app.state.db.read() as conn:
            if not runs.workflow_names(conn, name=name):
                return None
            return workflow_store.deleted(conn, [name]).get(name, {})

    was = await run_in_threadpool(kept)
    if was is None:
        return missing(request, session)
    entity = was.get("entity") if isinstance(was.get("entity"), str) else None
    loaded = await _runs_context(request, session, name, None, entity)
    for row in loaded["runs"]:
        row.retryable = False  # its job would find no workflow to run
    loaded.update(
        name=name,
        title=workflow_title(was, name, lang),
        base=f"{BASE}/{name}",
        days=_retention_days(request),
    )
    return page(request, session, "workflow_deleted.html", loaded)


async def workflow_page_for(
    request: Request,
    session: sessions.Session,
    workflow: Workflow,
    context: dict[str, Any],
    *,
    status: int = 200,
    tested: dict[str, Any] | None = None,
    flags: Mapping[str, bool] | None = None,
) -> Response:
    """The page of one workflow: summary, switch, runs (paged), test run, the form, delete."""
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)
    catalog = registry_of(request).current()
    context.update(await _runs_context(request, session, workflow.name, workflow.entity))
    if context["form"].entity == workflow.entity:  # the same choices as the saved one's test
        context["try_choices"] = {"recent": context["recent"], "picker": context["picker"]}
    else:
        await _try_choices(request, session, context)
    context.update(
        workflow=workflow,
        about=summary(workflow, catalog, lang, _, _plugin_sources(request)),
        base=f"{BASE}/{workflow.name}",
        missing=wp.missing_actions(request, workflow, _),
        tested=tested,
        days=_retention_days(request),
        **(flags or {}),
    )
    return page(request, session, "workflow.html", context, status)


@admin_form
async def save_workflow(request: Request, session: sessions.Session, form: FormData) -> Response:
    if refused := refuse(request, session):
        return refused
    return await _save(request, session, form, request.path_params["name"])


def posted(form: FormData) -> dict[str, list[str]]:
    posted: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            posted.setdefault(key, []).append(value)
    return posted


async def _save(
    request: Request, session: sessions.Session, form: FormData, name: str | None
) -> Response:
    """Save the posted form as a workflow (``name`` None: a new one, named by the form)."""
    _ = gettext_for(request, session.locale)
    registry = registry_of(request)
    catalog = registry.current()
    stored = catalog.workflows.get(name) if name is not None else None
    if name is not None and stored is None:
        return missing(request, session)
    values = wf.values_from_post(posted(form))
    if name is not None:
        values.name = name
    version = posted_version(form)
    plugins = plugin_schemas(request)
    built = wf.build(values, catalog.types, stored.definition if stored else None, _, plugins)
    errors = wp.unavailable_errors(request, values, built.errors, _)
    top: list[Shown] = []
    lines: dict[str, list[int]] = {}
    if form.get("more"):  # "Add another action": the form again, one more blank block
        values.actions = [a for a in values.actions if a.type]
        return await form_again(request, session, values, name, {}, [], {}, version, 200)
    if not errors:
        try:
            await run_in_threadpool(
                registry.apply,
                [built.definition],
                actor=session.actor,
                channel=CHANNEL,
                kinds={WORKFLOW},
                expected_version=version,
            )
        except FaultsError as exc:
            errors, top, lines = faults_by_input(exc, built.blocks, _)
        except Conflict:
            top = [
                Shown(
                    "",
                    _(
                        "Someone else saved this workflow after you opened it, or a workflow "
                        "with this name exists. Your changes are not saved: reload the page "
                        "and make them again."
                    ),
                )
            ]
        except XrmError as exc:
            top = explain(exc, _)
        else:
            saved = built.definition["name"]
            return RedirectResponse(f"{BASE}/{saved}?saved=1", status_code=303)
    errors, top = placed(values, errors, top, plugins, _)
    return await form_again(request, session, values, name, errors, top, lines, version, 400)


def posted_version(form: FormData) -> int:
    """The version of the workflow the form was loaded at (0: a new one)."""
    try:
        return int(str(form.get("version") or "0"))
    except ValueError:
        return 0


def placed(
    values: wf.FormValues,
    errors: Mapping[str, str],
    top: list[Shown],
    plugins: Mapping[str, Mapping[str, Any]],
    _: Gettext,
) -> tuple[dict[str, str], list[Shown]]:
    """Errors with an input to show them beside, and the rest above the form (with a count)."""
    shown = wf.known_inputs(values, plugins)
    beside = {k: v for k, v in errors.items() if k in shown}
    above = [*top, *(Shown("", v) for k, v in errors.items() if k not in shown)]
    if beside:
        above.insert(0, _please(len(beside), _))
    return beside, above


async def form_again(
    request: Request,
    session: sessions.Session,
    values: wf.FormValues,
    name: str | None,
    errors: Mapping[str, str],
    top: list[Shown],
    lines: Mapping[str, list[int]],
    version: int,
    status: int,
    *,
    tried: dict[str, Any] | None = None,
) -> Response:
    context = form_context(
        request,
        session,
        values,
        creating=name is None,
        errors=errors,
        top=top,
        code_errors=lines,
        version=version,
    )
    context["tried"] = tried
    workflow = registry_of(request).current().workflows.get(name) if name else None
    if workflow is None:
        return await _new_page(request, session, context, status)
    return await workflow_page_for(request, session, workflow, context, status=status)


async def _try_choices(
    request: Request, session: sessions.Session, context: dict[str, Any]
) -> None:
    """The records the form's test run offers: of the type the form names now."""
    _ = gettext_for(request, session.locale)
    entity = context["form"].entity

    def load(records: RecordSession) -> dict[str, Any]:
        return wr.recent_choices(records, entity, _)

    context["try_choices"] = await records_of(request, session, load)


async def _new_page(
    request: Request, session: sessions.Session, context: dict[str, Any], status: int = 200
) -> Response:
    await _try_choices(request, session, context)
    return page(request, session, "workflow_new.html", context, status)


# --- delete ------------------------------------------------------------------------------------


@admin_form
async def delete_workflow(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Delete a workflow after the box is ticked, as ``deleteWorkflow`` does (audited).

    Its runs stay: the list's "Deleted workflows" links to them until retention prunes them.
    """
    if refused := refuse(request, session):
        return refused
    _ = gettext_for(request, session.locale)
    registry = registry_of(request)
    workflow = registry.current().workflows.get(request.path_params["name"])
    if workflow is None:
        return missing(request, session)
    if form.get("confirm") != "1":
        values = wf.values_from_definition(workflow.definition)
        context = form_context(request, session, values, creating=False, version=workflow.version)
        context["delete_error"] = _("Tick “Yes, delete this workflow” to delete it.")
        return await workflow_page_for(request, session, workflow, context, status=400)
    deleted = await run_in_threadpool(
        functools.partial(
            registry.delete_workflow, workflow.name, actor=session.actor, channel=CHANNEL
        )
    )
    if not deleted:  # someone else deleted it meanwhile
        return missing(request, session)
    return RedirectResponse(f"{BASE}?deleted=1", status_code=303)


# --- enable / disable, retry -------------------------------------------------------------------


@admin_form
async def set_enabled(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Switch a workflow on or off: its stored definition with ``enabled`` changed, saved."""
    if refused := refuse(request, session):
        return refused
    _ = gettext_for(request, session.locale)
    registry = registry_of(request)
    workflow = registry.current().workflows.get(request.path_params["name"])
    if workflow is None:
        return missing(request, session)
    definition = {**workflow.definition, "enabled": form.get("enabled") == "1"}
    try:
        await run_in_threadpool(
            registry.apply,
            [definition],
            actor=session.actor,
            channel=CHANNEL,
            kinds={WORKFLOW},
            expected_version=workflow.version,
        )
    except XrmError as exc:
        return message(request, session, " ".join(s.text for s in explain(exc, _)), 409)
    return RedirectResponse(f"{BASE}/{workflow.name}?switched=1", status_code=303)


@admin_form
async def retry_run(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Send a failed or dead background run back to the queue (``retryWorkflowRun``)."""
    if refused := refuse(request, session):
        return refused
    _ = gettext_for(request, session.locale)
    name = request.path_params["name"]
    run_id = request.path_params["run_id"]
    engine: WorkflowEngine = request.app.state.workflows

    def of_this_workflow() -> bool:
        if not looks_like_id(run_id):
            return False
        with request.app.state.db.read() as conn:
            found = runs.get_run(conn, run_id)
        return found is not None and found.workflow == name

    if not await run_in_threadpool(of_this_workflow):
        return missing(request, session)
    try:
        await run_in_threadpool(engine.retry, run_id)
    except XrmError as exc:
        status = 404 if isinstance(exc, NotFound) else 400
        return message(request, session, " ".join(s.text for s in explain(exc, _)), status)
    return RedirectResponse(f"{BASE}/{name}?retried=1", status_code=303)
