"""The record screens: `/admin/records/{entity}` (list), `.../new` and `.../{id}` (CONTRACT §2).

Every read and write goes through the record service as the signed-in user
on channel ``admin``: one door, the same checks as the API. A type the user
may not read answers 403 and is not in their menu; fields hidden from them
are in no column, input or history line. Forms post to their own address
with the session's CSRF token and the version they were loaded at; what the
service refuses comes back next to the inputs it is about, with everything
the user typed kept, and a stale version is merged with what the other person
saved (both values shown where both changed). Deleting and restoring are in
``record_changes.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui import record_fields as rf
from xrm.admin_ui import record_views as rv
from xrm.admin_ui.auth import admin_form, admin_view, forbidden, message, page
from xrm.admin_ui.messages import Shown, explain, say
from xrm.admin_ui.navigation import Crumb, trail
from xrm.admin_ui.pages import gettext_for, language
from xrm.admin_ui.record_history import history_lines, referenced_ids
from xrm.admin_ui.record_links import LinkState
from xrm.admin_ui.record_related import tabs as related_tabs
from xrm.entities.records import RecordService, RecordSession
from xrm.errors import Conflict, Duplicate, FaultsError, Forbidden, NotFound, XrmError
from xrm.platform import sessions
from xrm.plugins import formats as plugin_formats
from xrm.schemas.model import EntityType

T = TypeVar("T")
Gettext = Callable[[str], str]
CHANNEL = "admin"


def base_of(entity: str) -> str:
    """The list's address, which every other record screen of the type hangs off."""
    return f"/admin/records/{entity}"


async def in_session(
    request: Request, session: sessions.Session, work: Callable[[RecordSession], T], write: bool
) -> T:
    service: RecordService = request.app.state.records

    def run() -> T:
        with service.session(session.actor, CHANNEL, write=write) as records:
            return work(records)

    return await run_in_threadpool(run)


def readable_type(records: RecordSession, entity: str) -> EntityType:
    """The type, if it exists and the user may read it (NotFound / Forbidden otherwise)."""
    et = records.catalog.types.get(entity)
    if et is None or et.system:
        raise NotFound(f"no entity type {entity}")
    records.permissions.require(entity, "read")
    return et


def refused_page(request: Request, session: sessions.Session, exc: XrmError) -> Response:
    _ = gettext_for(request, session.locale)
    if isinstance(exc, Forbidden):
        return forbidden(request, session)
    return message(request, session, _("It does not exist (any more)."), 404)


def _may(records: RecordSession, entity: str, action: str, owner: str | None) -> bool:
    scope = records.permissions.scope(entity, action)
    return scope == "all" or (scope == "own" and owner == records.actor.id)


# --- the list --------------------------------------------------------------------------------


@admin_view
async def records_page(request: Request, session: sessions.Session) -> Response:
    entity = request.path_params["entity"]
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)
    size = request.app.state.settings.page_size

    def load(records: RecordSession) -> dict[str, Any]:
        et = readable_type(records, entity)
        listed = rv.list_page(records, et, request.query_params, base_of(entity), lang, _, size)
        return {
            "entity": entity,
            "type_label": rf.type_label(et, lang),
            "listing": listed,
            "base": base_of(entity),
            "may_create": records.permissions.scope(entity, "create") != "none",
            "may_delete": records.permissions.scope(entity, "delete") != "none",
        }

    try:
        found = await in_session(request, session, load, write=False)
    except (NotFound, Forbidden) as exc:
        return refused_page(request, session, exc)
    deleted = request.query_params.get("deleted", "")
    found["deleted"] = int(deleted) if deleted.isdigit() else 0
    found["here"] = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    found["crumbs"] = trail(request, _("Home"), Crumb(found["type_label"]))
    listed = request.query_params.multi_items()
    kept = urlencode([(k, v) for k, v in listed if k not in ("after", "deleted")])
    found["export_href"] = f"{base_of(entity)}/export.csv" + (f"?{kept}" if kept else "")
    return page(request, session, "records.html", found, fragment="_records_list.html")


# --- a new record ----------------------------------------------------------------------------


@admin_view
async def new_record_page(request: Request, session: sessions.Session) -> Response:
    return await record_form(request, session, request.path_params["entity"], None)


@admin_form
async def create_record(request: Request, session: sessions.Session, form: FormData) -> Response:
    return await _save(request, session, form, request.path_params["entity"], None)


# --- one record ------------------------------------------------------------------------------


@admin_view
async def record_page(request: Request, session: sessions.Session) -> Response:
    return await record_form(
        request,
        session,
        request.path_params["entity"],
        request.path_params["record_id"],
        saved=request.query_params.get("saved") == "1",
        restored=request.query_params.get("restored", ""),
        linked=request.query_params.get("linked", ""),
    )


@admin_form
async def update_record(request: Request, session: sessions.Session, form: FormData) -> Response:
    entity, record_id = request.path_params["entity"], request.path_params["record_id"]
    return await _save(request, session, form, entity, record_id)


# --- the form and detail page ----------------------------------------------------------------


async def record_form(
    request: Request,
    session: sessions.Session,
    entity: str,
    record_id: str | None,
    *,
    typed: Mapping[str, Any] | None = None,
    field_errors: Mapping[str, str] | None = None,
    errors: list[Shown] | None = None,
    version: int | None = None,
    conflict: list[dict[str, str]] | None = None,
    saved: bool = False,
    restored: str = "",
    status: int = 200,
    link_state: LinkState | None = None,
    linked: str = "",
) -> Response:
    """The new-record form (``record_id`` None) or a record's page with its form and history."""
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)

    def load(records: RecordSession) -> dict[str, Any]:
        et = readable_type(records, entity)
        record: dict[str, Any] = {}
        if record_id is not None:
            found = records.get(entity, record_id)
            if found is None:
                raise NotFound(f"no {entity} {record_id}")
            record = found
        elif records.permissions.scope(entity, "create") == "none":
            raise Forbidden(f"may not create {entity}")
        else:
            record = {p.name: p.default for p in et.properties.values() if p.has_default}
            for prop in et.references:  # "Add one" from a related record's page
                given = request.query_params.get(prop.name)
                if given and rv.looks_like_id(given):
                    record[prop.name] = given
        owner = record.get("owner")
        editable = (
            _may(records, entity, "update", owner)
            if record_id is not None
            else records.permissions.scope(entity, "create") != "none"
        )
        inputs = rv.form_inputs(
            records,
            et,
            record,
            lang,
            _,
            creating=record_id is None,
            typed=typed,
            errors=field_errors,
        )
        out: dict[str, Any] = {
            "entity": entity,
            "type_label": rf.type_label(et, lang),
            "base": base_of(entity),
            "record": record,
            "name": rf.record_name(et, record, _, records.hidden(entity)) if record_id else "",
            "inputs": inputs,
            "editable": editable,
            "may_delete": record_id is not None and _may(records, entity, "delete", owner),
            "version": version if version is not None else record.get("version", 0),
            "history": [],
        }
        if record_id is not None:
            history = records.history(entity, [record["id"]])[record["id"]]
            names = rv.names_of(records, referenced_ids(et, history), _)
            out["history"] = history_lines(et, history, lang, _, names)
            out["tabs"] = related_tabs(
                records, et, record, request.query_params, request.url.path, lang, _, link_state
            )
            out["created"] = rf.when(record["created_at"]) + " UTC"
            out["changed"] = rf.when(record["updated_at"]) + " UTC"
        return out

    try:
        found = await in_session(request, session, load, write=False)
    except (NotFound, Forbidden) as exc:
        return refused_page(request, session, exc)
    found.update(
        errors=errors or [],
        conflict=conflict or [],
        saved=saved,
        restored=restored if restored.isdigit() else "",
        creating=record_id is None,
        linked=linked,
    )
    found["crumbs"] = trail(
        request,
        _("Home"),
        Crumb(found["type_label"], found["base"]),
        Crumb(found["name"] if record_id is not None else _("New record")),
    )
    return page(request, session, "record.html", found, status)


def rule_or_explain(exc: XrmError, _: Gettext) -> list[Shown]:
    if exc.code == "RULE_REJECTED":  # a workflow's reject(message): its author's words
        return [Shown(_("A rule refused this change"), exc.message)]
    return explain(exc, _)


def _field_errors(
    exc: XrmError, et: EntityType, lang: str, _: Gettext
) -> tuple[dict[str, str], list[Shown]]:
    """Faults by input name (``tags.2`` belongs to ``tags``), and the rest for the top."""
    if isinstance(exc, FaultsError):
        faults = [(f.field, f.message) for f in exc.faults]
    elif isinstance(exc, Duplicate):
        faults = [(e["field"], e["message"]) for e in exc.extensions.get("errors", [])]
    else:
        return {}, rule_or_explain(exc, _)
    by_field: dict[str, str] = {}
    rest: list[Shown] = []
    for path, text in faults:
        name = path.split(".", 1)[0]
        prop = et.properties.get(name)
        if prop is not None and prop.plugin_format is not None:
            text = plugin_formats.in_language(text, prop.plugin_format, lang)
        said = say(text, _) or _("This is not accepted: %(detail)s") % {"detail": text}
        if name in et.properties:
            by_field[name] = f"{by_field[name]} {said}" if name in by_field else said
        else:
            rest.append(Shown(path, said))
    if by_field:
        count = len(by_field)
        rest.insert(
            0, Shown("", _("Please correct the fields marked below (%(n)s).") % {"n": count})
        )
    return by_field, rest


async def _save(
    request: Request,
    session: sessions.Session,
    form: FormData,
    entity: str,
    record_id: str | None,
) -> Response:
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)
    try:
        version = int(str(form.get("version") or "0"))
    except ValueError:
        version = 0
    typed: dict[str, Any] = {}
    outcome: dict[str, Any] = {}

    def save(records: RecordSession) -> str:
        et = readable_type(records, entity)
        outcome["et"] = et
        hidden = records.hidden(entity)
        fixed = records.permissions.read_only(entity)
        values: dict[str, Any] = {}
        for prop in et.properties.values():
            if prop.name in hidden or prop.name in fixed or prop.autonumber:
                continue
            if prop.ref is not None and not rv.may_pick(records, prop.ref.entity):
                continue
            values[prop.name] = rf.posted_value(prop, form)
            typed[prop.name] = rf.typed_back(prop, values[prop.name])
        unresolved = rv.resolve_references(records, et, values, _)
        if unresolved:
            outcome["unresolved"] = unresolved
            raise _Unresolved
        if record_id is None:
            return str(records.create(entity, values)["id"])
        if version:
            return str(records.update(entity, record_id, values, expected_version=version)["id"])
        return str(records.update(entity, record_id, values)["id"])

    try:
        saved_id = await in_session(request, session, save, write=True)
    except _Unresolved:
        return await record_form(
            request,
            session,
            entity,
            record_id,
            typed=typed,
            field_errors=outcome["unresolved"],
            version=version,
            status=400,
            errors=[
                Shown(
                    "",
                    _("Please correct the fields marked below (%(n)s).")
                    % {"n": len(outcome["unresolved"])},
                )
            ],
        )
    except Conflict:
        return await _conflict(request, session, entity, record_id, typed, version, lang, _)
    except (NotFound, Forbidden) as exc:
        if isinstance(exc, Forbidden) and exc.extensions.get("fields"):
            return await record_form(
                request,
                session,
                entity,
                record_id,
                typed=typed,
                version=version,
                errors=explain(exc, _),
                status=403,
            )
        return refused_page(request, session, exc)
    except XrmError as exc:
        by_field, rest = (
            _field_errors(exc, outcome["et"], lang, _)
            if "et" in outcome
            else ({}, rule_or_explain(exc, _))
        )
        return await record_form(
            request,
            session,
            entity,
            record_id,
            typed=typed,
            field_errors=by_field,
            errors=rest,
            version=version,
            status=400,
        )
    return RedirectResponse(f"{base_of(entity)}/{saved_id}?saved=1", status_code=303)


class _Unresolved(Exception):
    """A reference typed by name matched no record, or several: nothing is written."""


async def _conflict(
    request: Request,
    session: sessions.Session,
    entity: str,
    record_id: str | None,
    typed: Mapping[str, Any],
    expected: int,
    lang: str,
    _: Gettext,
) -> Response:
    """The form again after someone else saved the record since it was opened (``expected``).

    The record as the user opened it is read back from its audit trail, so
    each field is merged three ways: what only they changed is taken into the
    form, what only the user changed is kept, and a field both changed is
    listed with both values (the user's kept). Saving again then overwrites
    nothing the user did not see.
    """
    assert record_id is not None

    def merge(records: RecordSession) -> tuple[int, dict[str, Any], list[dict[str, str]], list]:
        et = readable_type(records, entity)
        now = records.get(entity, record_id)
        if now is None:
            raise NotFound(f"no {entity} {record_id}")
        opened = dict(now)
        for entry in reversed(records.history(entity, [now["id"]])[now["id"]]):
            if entry["version"] is None or entry["version"] <= expected:
                continue
            for name, pair in (entry.get("changes") or {}).items():
                if isinstance(pair, list) and len(pair) == 2:
                    opened[name] = pair[0]
        current = {i.name: i for i in rv.form_inputs(records, et, now, lang, _, creating=False)}
        before = {
            i.name: i.value for i in rv.form_inputs(records, et, opened, lang, _, creating=False)
        }
        merged: dict[str, Any] = {}
        both: list[dict[str, str]] = []
        theirs: list[str] = []
        for name, item in current.items():
            if item.read_only or name not in typed:
                continue
            mine, was = typed[name], before.get(name)
            if mine == was:  # untouched by the user: take what is saved now
                merged[name] = item.value
                if item.value != was:
                    theirs.append(item.label)
            else:
                merged[name] = mine
                if item.value != was and item.value != mine:
                    both.append(
                        {"label": item.label, "theirs": item.shown, "yours": _yours(item, typed, _)}
                    )
        return int(now["version"]), merged, both, theirs

    try:
        version, merged, both, theirs = await in_session(request, session, merge, write=False)
    except (NotFound, Forbidden) as exc:
        return refused_page(request, session, exc)
    said = [
        Shown(
            "",
            _(
                "Someone else saved this record after you opened it. Your changes are not saved "
                "yet: check the form and save again."
            ),
        )
    ]
    if theirs:
        fields = ", ".join(theirs)
        said.append(
            Shown("", _("Their changes are in the form now: %(fields)s.") % {"fields": fields})
        )
    if both:
        said.append(Shown("", _("You both changed the fields below; the form keeps your values.")))
    return await record_form(
        request,
        session,
        entity,
        record_id,
        typed=merged,
        version=version,
        errors=said,
        conflict=both,
        status=409,
    )


def _yours(item: rf.Input, typed: Mapping[str, Any], _: Gettext) -> str:
    """The user's value of a field in words, like the other person's beside it."""
    value = typed[item.name]
    labels = dict(item.options)
    if isinstance(value, list):
        return ", ".join(labels.get(str(v), str(v)) for v in value) or "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return labels.get(str(value), str(value)) or "—"
