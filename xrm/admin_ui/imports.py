"""The import wizard, ``/admin/import``: upload a file, map its columns, check it, run it.

The steps are plain forms (every one works without JavaScript): the upload
stores the file as a draft import; its page suggests a field for each column
(from the names and labels, as ``xrm import`` does) and lets the user change
each one and choose a key; "Check" runs a dry run and lists each row's
problems; "Import" starts the import as a background job (``import.run``)
whose page shows its progress (static/imports.js refreshes it) and links the
rejected rows file; a finished import can be undone. Everything goes through
the record service as the signed-in user, on channel ``import``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui.auth import admin_form, admin_view, database, message, page
from xrm.admin_ui.duplicates import rule_labels
from xrm.admin_ui.pages import gettext_for, language
from xrm.entities.imports import BadFile, BadImport, store
from xrm.entities.imports.job import IMPORT_JOB
from xrm.entities.imports.run import (
    DUPLICATE_CHOICES,
    Importer,
    Options,
    Outcome,
    Plan,
    rejected_csv,
)
from xrm.entities.imports.store import Flag
from xrm.entities.imports.undo import undo
from xrm.entities.records import RecordService
from xrm.errors import XrmError
from xrm.platform import jobs, sessions
from xrm.platform.access import Permissions
from xrm.schemas.model import EntityType

_SHOWN_REJECTS = 100
_SHOWN_FLAGS = 100


def _service(request: Request) -> RecordService:
    service: RecordService = request.app.state.records
    return service


def _types(request: Request, session: sessions.Session) -> list[EntityType]:
    """The entity types this user may create records of: what they may import into."""
    catalog = _service(request).registry.current()
    permissions = Permissions.of(session.actor, catalog.roles)
    return [
        et
        for name, et in sorted(catalog.types.items())
        if not et.system and permissions.scope(name, "create") != "none"
    ]


def may_import(request: Request, session: sessions.Session) -> bool:
    """Whether the import wizard belongs in this user's menu."""
    return bool(_types(request, session))


def _label(labels: Any, lang: str, fallback: str) -> str:
    if isinstance(labels, dict):
        return str(labels.get(lang) or labels.get("en") or fallback)
    return fallback


def _type_label(et: EntityType, lang: str) -> str:
    return _label(et.label, lang, et.title)


def _fields(et: EntityType, lang: str) -> list[tuple[str, str]]:
    return [(name, _label(p.label, lang, name)) for name, p in et.properties.items()]


@admin_view
async def import_page(request: Request, session: sessions.Session) -> Response:
    """The upload form and the recent imports of the types the user may import into."""
    return _upload_page(request, session)


def _upload_page(
    request: Request, session: sessions.Session, error: str | None = None, status: int = 200
) -> Response:
    lang = language(request, session.locale)
    types = _types(request, session)
    if not types:
        _ = gettext_for(request, session.locale)
        return message(request, session, _("You may not do that."), 403)
    names = {et.name: _type_label(et, lang) for et in types}
    with database(request).read() as conn:
        recent = [r for r in store.listing(conn, 20) if r.entity in names]
    return page(
        request,
        session,
        "import.html",
        {
            "types": [(et.name, names[et.name]) for et in types],
            "recent": recent,
            "type_names": names,
            "error": error,
        },
        status,
    )


@admin_form
async def upload(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Keep the uploaded file as a draft import and go to its mapping page."""
    _ = gettext_for(request, session.locale)
    allowed = {et.name for et in _types(request, session)}
    entity = str(form.get("entity") or "")
    file = form.get("file")
    if entity not in allowed:
        return _upload_page(request, session, _("Choose the type of records to import."), 400)
    if not isinstance(file, UploadFile) or not file.filename:
        return _upload_page(request, session, _("Choose a CSV or XLSX file."), 400)
    data = await file.read()
    service = _service(request)
    importer = Importer(service, session.actor)
    try:
        plan = importer.prepare(file.filename, data, Options(entity))
    except (BadFile, BadImport) as exc:
        return _upload_page(request, session, _file_problem(request, session, exc), 400)
    with database(request).write() as conn:
        row = store.start(
            conn,
            entity=entity,
            file_name=file.filename,
            source=data,
            options=Options(entity).stored(),
            batch_size=service.settings.import_batch_size,
            total_rows=len(plan.table.rows),
            actor=session.actor,
            status=store.DRAFT,
        )
    return RedirectResponse(request.url_for("import_detail", import_id=row.id), status_code=303)


def _file_problem(request: Request, session: sessions.Session, exc: Exception) -> str:
    _ = gettext_for(request, session.locale)
    return str(_("This file cannot be imported: %(why)s") % {"why": str(exc)})


def _row_or_none(request: Request, session: sessions.Session, import_id: str) -> Any:
    with database(request).read() as conn:
        row = store.get(conn, import_id)
    if row is None or row.entity not in {et.name for et in _types(request, session)}:
        return None
    return row


def _not_found(request: Request, session: sessions.Session) -> Response:
    _ = gettext_for(request, session.locale)
    return message(request, session, _("There is no such import."), 404)


def _plan(request: Request, session: sessions.Session, row: Any, options: Options) -> Plan:
    with database(request).read() as conn:
        data = store.source(conn, row.id)
    return Importer(_service(request), session.actor).prepare(row.file_name, data, options)


def _options(row: Any, form: FormData | None, headers: list[str] | None) -> Options:
    """The stored options, or those the mapping form chose (a field per column, a key)."""
    if form is None or headers is None:
        return Options.from_stored(row.entity, row.options)
    mapping = {}
    for index, header in enumerate(headers):
        if header:
            mapping[header] = str(form.get(f"column{index}") or "")
    key = str(form.get("key") or "") or None
    return Options(row.entity, mapping, key, duplicates=str(form.get("duplicates") or "flag"))


def _bad_choice(request: Request, session: sessions.Session, form: FormData) -> str | None:
    """The error to show when the form's duplicates choice is none of the offered ones."""
    if str(form.get("duplicates") or "flag") in DUPLICATE_CHOICES:
        return None
    _ = gettext_for(request, session.locale)
    return str(_("Duplicates: choose flag, skip or merge."))


def _flags(
    request: Request, session: sessions.Session, et: EntityType, flags: list[Flag]
) -> list[dict[str, Any]]:
    """Flagged and merged rows as the page lists them: what each duplicates, in words."""
    _ = gettext_for(request, session.locale)
    labels = rule_labels(et, language(request, session.locale))
    shown = []
    for flag in flags[:_SHOWN_FLAGS]:
        if flag.other_row is not None:
            who = str(_("row %(number)s of the file") % {"number": flag.other_row})
        elif flag.record is None:
            who = str(_("a record you cannot see"))
        else:
            who = flag.name or str(_("a record without a name"))
        shown.append(
            {
                "row": flag.row,
                "who": who,
                "href": (
                    f"/admin/records/{et.name}/{flag.record}" if flag.record is not None else None
                ),
                "rule": labels.get(flag.rule, flag.rule),
                "score": round(flag.score * 100),
                "merged": flag.merged,
            }
        )
    return shown


@admin_view
async def import_detail(request: Request, session: sessions.Session) -> Response:
    """A draft's mapping form, or a started import's progress and outcome."""
    row = _row_or_none(request, session, request.path_params["import_id"])
    if row is None:
        return _not_found(request, session)
    return _detail(request, session, row)


def _detail(
    request: Request,
    session: sessions.Session,
    row: Any,
    *,
    form: FormData | None = None,
    checked: Outcome | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    lang = language(request, session.locale)
    et = _service(request).registry.current().entity(row.entity)
    context: dict[str, Any] = {
        "row": row,
        "type_label": _type_label(et, lang),
        "error": error,
        "checked": checked,
        "shown_rejects": (checked.rejects[:_SHOWN_REJECTS] if checked else []),
        "done_rows": min(row.total_rows, row.batches_done * row.batch_size),
        "has_rules": bool(et.duplicates),
        "flags": [],
        "more_flags": 0,
    }
    if checked is not None:
        context["flags"] = _flags(request, session, et, checked.flags)
        context["more_flags"] = max(0, len(checked.flags) - _SHOWN_FLAGS)
    elif row.status != store.DRAFT and et.duplicates:
        with database(request).read() as conn:
            found = store.flags(conn, row.id)
        context["flags"] = _flags(request, session, et, found)
        context["more_flags"] = max(0, len(found) - _SHOWN_FLAGS)
    if row.status == store.DRAFT:
        stored = Options.from_stored(row.entity, row.options)
        try:
            plan = _plan(request, session, row, stored)
            headers = plan.table.headers
            chosen = (
                {i: str(form.get(f"column{i}") or "") for i in range(len(headers))}
                if form is not None
                else {i: plan.columns.fields.get(i, "") for i in range(len(headers))}
            )
        except (BadFile, BadImport) as exc:
            return message(request, session, _file_problem(request, session, exc), 400)
        samples = [[("" if c is None else str(c)) for c in r] for r in plan.table.rows[:2]]
        context.update(
            columns=[
                (
                    index,
                    header,
                    chosen.get(index, ""),
                    [s[index] if index < len(s) else "" for s in samples],
                )
                for index, header in enumerate(headers)
            ],
            fields=_fields(et, lang),
            key=(str(form.get("key") or "") if form is not None else stored.key or ""),
            duplicates=(
                str(form.get("duplicates") or "flag") if form is not None else stored.duplicates
            ),
        )
    return page(request, session, "import_detail.html", context, status)


@admin_form
async def check_import(request: Request, session: sessions.Session, form: FormData) -> Response:
    """A dry run with the chosen mapping: counts and each rejected row's reason."""
    row = _row_or_none(request, session, request.path_params["import_id"])
    if row is None:
        return _not_found(request, session)
    if row.status != store.DRAFT:
        return RedirectResponse(request.url_for("import_detail", import_id=row.id), 303)
    if (bad := _bad_choice(request, session, form)) is not None:
        return _detail(request, session, row, form=form, error=bad, status=400)
    try:
        headers = _plan(request, session, row, Options(row.entity)).table.headers
        plan = _plan(request, session, row, _options(row, form, headers))
    except (BadFile, BadImport) as exc:
        problem = _file_problem(request, session, exc)
        return _detail(request, session, row, form=form, error=problem, status=400)
    outcome = Importer(_service(request), session.actor).run(plan, dry_run=True)
    return _detail(request, session, row, form=form, checked=outcome)


@admin_form
async def run_import(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Start the import with the chosen mapping, as a background job."""
    row = _row_or_none(request, session, request.path_params["import_id"])
    if row is None:
        return _not_found(request, session)
    target = request.url_for("import_detail", import_id=row.id)
    if row.status != store.DRAFT:
        return RedirectResponse(target, 303)
    if (bad := _bad_choice(request, session, form)) is not None:
        return _detail(request, session, row, form=form, error=bad, status=400)
    try:
        headers = _plan(request, session, row, Options(row.entity)).table.headers
        options = _options(row, form, headers)
        plan = _plan(request, session, row, options)
    except (BadFile, BadImport) as exc:
        problem = _file_problem(request, session, exc)
        return _detail(request, session, row, form=form, error=problem, status=400)
    with database(request).write() as conn:
        if store.configure(conn, row.id, options.stored(), len(plan.table.rows)):
            jobs.enqueue(
                conn,
                IMPORT_JOB,
                {"import": row.id},
                key=f"import:{row.id}",
                actor_id=session.actor.id,
                request_id=row.request_id,
            )
    return RedirectResponse(target, 303)


@admin_view
async def rejected_rows(request: Request, session: sessions.Session) -> Response:
    """The rejected rows as CSV: the file's columns plus ``reason``."""
    row = _row_or_none(request, session, request.path_params["import_id"])
    if row is None:
        return _not_found(request, session)
    with database(request).read() as conn:
        rejects = store.rejects(conn, row.id)
    try:
        headers = _plan(request, session, row, Options.from_stored(row.entity, row.options))
        names = headers.table.headers
    except (BadFile, BadImport):
        names = []
    text = rejected_csv(names, rejects)
    stem = row.file_name.rsplit(".", 1)[0] or "import"
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in stem)
    named = f'attachment; filename="{plain[:60] or "import"}.rejected.csv"; '
    named += f"filename*=UTF-8''{quote(stem[:60] + '.rejected.csv')}"
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": named,
            "Cache-Control": "no-store",
        },
    )


@admin_form
async def undo_import(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Undo an import: delete what it created, restore what it updated (or say why not)."""
    row = _row_or_none(request, session, request.path_params["import_id"])
    if row is None:
        return _not_found(request, session)
    _ = gettext_for(request, session.locale)
    if row.status != store.DONE:
        return message(request, session, _("Only a finished import can be undone."), 409)
    try:
        undo(_service(request), session.actor, row.id)
    except XrmError:
        text = _("This import cannot be undone: some of its records were changed or deleted since.")
        return message(request, session, text, 409)
    return RedirectResponse(request.url_for("import_detail", import_id=row.id), 303)


__all__ = [
    "check_import",
    "import_detail",
    "import_page",
    "may_import",
    "rejected_rows",
    "run_import",
    "undo_import",
    "upload",
]
