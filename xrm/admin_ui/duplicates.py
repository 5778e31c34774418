"""The duplicates screens: `/admin/duplicates` (what a scan found) and the merge of two records.

`/admin/duplicates` lists, per type with duplicate rules, the pairs the last
scan stored (``xrm.entities.duplicate_scan``), best first, a page at a time,
and offers to scan again. `/admin/records/{entity}/merge?keep=&remove=` shows
the two records side by side, one radio group per field that differs (the
kept record's value chosen by default), and posts the merge to the record
service (``RecordSession.merge``), which moves references and links and keeps
both histories. Everything goes through the record service as the signed-in
user; a pair whose records they may not both read is not shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui import record_fields as rf
from xrm.admin_ui.auth import admin_form, admin_view, page
from xrm.admin_ui.messages import Shown, explain
from xrm.admin_ui.pages import gettext_for, language
from xrm.admin_ui.record_views import names_of
from xrm.admin_ui.records import base_of, in_session, readable_type, refused_page
from xrm.entities.duplicate_scan import pairs, scan
from xrm.entities.records import RecordSession
from xrm.errors import Forbidden, NotFound, XrmError
from xrm.platform import sessions
from xrm.schemas.model import EntityType

HOME = "/admin/duplicates"


@dataclass(frozen=True, slots=True)
class PairRow:
    """One pair as the list shows it: both names, the rule's label, the score in percent."""

    score: int
    rule: str
    first: tuple[str, str]  # (href, name)
    second: tuple[str, str]
    merge: str | None  # the merge page, when the user may merge


def rule_labels(et: EntityType, lang: str) -> dict[str, str]:
    return {r.name: rf.in_language(r.label, lang, r.name) for r in et.duplicates}


def _types_with_rules(records: RecordSession, lang: str) -> list[tuple[str, str]]:
    """(name, label) of the types with duplicate rules the user may read, by label."""
    found = [
        (et.name, rf.type_label(et, lang))
        for et in records.catalog.types.values()
        if et.duplicates and not et.system and records.permissions.scope(et.name, "read") != "none"
    ]
    return sorted(found, key=lambda t: t[1])


def _may_merge(records: RecordSession, entity: str) -> bool:
    scopes = (
        records.permissions.scope(entity, "update"),
        records.permissions.scope(entity, "delete"),
    )
    return "none" not in scopes


@admin_view
async def duplicates_page(request: Request, session: sessions.Session) -> Response:
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)
    wanted = request.query_params.get("entity")
    after = request.query_params.get("after") or None
    size = request.app.state.settings.page_size

    def load(records: RecordSession) -> dict[str, Any]:
        types = _types_with_rules(records, lang)
        entity = wanted or (types[0][0] if types else None)
        out: dict[str, Any] = {"types": types, "entity": entity, "rows": [], "more": None}
        if entity is None:
            return out
        et = readable_type(records, entity)
        if not et.duplicates:
            raise NotFound(f"{entity} has no duplicate rules")
        found = pairs(records, entity, size, after)
        labels = rule_labels(et, lang)
        merging = _may_merge(records, entity)
        base = base_of(entity)
        out["rows"] = [
            PairRow(
                round(p.score * 100),
                labels.get(p.rule, p.rule),
                (f"{base}/{p.first_id}", p.first_name or _("(no name)")),
                (f"{base}/{p.second_id}", p.second_name or _("(no name)")),
                f"{base}/merge?" + urlencode({"keep": p.first_id, "remove": p.second_id})
                if merging
                else None,
            )
            for p in found.pairs
        ]
        out["total"] = found.total_count
        out["type_label"] = rf.type_label(et, lang)
        out["scanned"] = max((p.found_at for p in found.pairs if p.found_at), default=None)
        if found.has_next_page:
            cursor = found.cursor(len(found.pairs) - 1)
            out["more"] = f"{HOME}?" + urlencode({"entity": entity, "after": cursor})
        return out

    try:
        shown = await in_session(request, session, load, write=False)
    except (NotFound, Forbidden) as exc:
        return refused_page(request, session, exc)
    except XrmError as exc:  # a cursor that is not one of this list
        return page(request, session, "duplicates.html", _empty(explain(exc, _)), 400)
    if shown.get("scanned") is not None:
        shown["scanned"] = rf.when(shown["scanned"]) + " UTC"
    found = request.query_params.get("found", "")
    shown["found"] = int(found) if found.isdigit() else None
    return page(request, session, "duplicates.html", shown)


def _empty(errors: list[Shown]) -> dict[str, Any]:
    return {"types": [], "entity": None, "rows": [], "more": None, "errors": errors}


@admin_form
async def scan_now(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Scan one type again (it may take seconds on a large table) and show what it found."""
    entity = str(form.get("entity") or "")

    def work(records: RecordSession) -> int:
        et = readable_type(records, entity)
        if not et.duplicates:
            raise NotFound(f"{entity} has no duplicate rules")
        return scan(records, entity)

    try:
        found = await in_session(request, session, work, write=True)
    except (NotFound, Forbidden) as exc:
        return refused_page(request, session, exc)
    target = f"{HOME}?" + urlencode({"entity": entity, "found": found})
    return RedirectResponse(target, status_code=303)


# --- merging two records -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    """One field of the merge form: both values in words, and which one is picked."""

    name: str
    label: str
    kept: str
    removed: str
    differs: bool
    picked: str  # keep | remove


def _choices(
    records: RecordSession,
    et: EntityType,
    kept: Mapping[str, Any],
    gone: Mapping[str, Any],
    picks: Mapping[str, str],
    lang: str,
    _: rf.Gettext,
) -> list[Choice]:
    hidden = records.permissions.hidden(et.name)
    read_only = records.permissions.read_only(et.name)
    wanted: dict[str, set[str]] = {}
    for prop in et.references:
        assert prop.ref is not None
        ids = {str(r[prop.name]) for r in (kept, gone) if r.get(prop.name)}
        wanted.setdefault(prop.ref.entity, set()).update(ids)
    names = names_of(records, wanted, _)
    out = []
    for prop in et.properties.values():
        if prop.name in hidden or prop.name in read_only or prop.autonumber:
            continue
        mine, theirs = kept.get(prop.name), gone.get(prop.name)
        out.append(
            Choice(
                prop.name,
                rf.field_label(prop, lang),
                rf.shown_value(prop, mine, lang, _, names),
                rf.shown_value(prop, theirs, lang, _, names),
                mine != theirs,
                "remove" if picks.get(prop.name) == "remove" and mine != theirs else "keep",
            )
        )
    return out


async def _merge_form(
    request: Request,
    session: sessions.Session,
    entity: str,
    keep: str,
    remove: str,
    picks: Mapping[str, str],
    errors: list[Shown] | None = None,
    status: int = 200,
) -> Response:
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)

    def load(records: RecordSession) -> dict[str, Any]:
        et = readable_type(records, entity)
        kept, gone = records.get(entity, keep), records.get(entity, remove)
        if kept is None or gone is None or kept["id"] == gone["id"]:
            raise NotFound(f"no pair of {entity} records {keep}, {remove}")
        hidden = records.permissions.hidden(entity)
        base = base_of(entity)
        return {
            "entity": entity,
            "type_label": rf.type_label(et, lang),
            "base": base,
            "keep": kept["id"],
            "remove": gone["id"],
            "kept_name": rf.record_name(et, kept, _, hidden),
            "removed_name": rf.record_name(et, gone, _, hidden),
            "choices": _choices(records, et, kept, gone, picks, lang, _),
            "swap": f"{base}/merge?" + urlencode({"keep": gone["id"], "remove": kept["id"]}),
            "may_merge": _may_merge(records, entity),
            "errors": errors or [],
        }

    try:
        shown = await in_session(request, session, load, write=False)
    except (NotFound, Forbidden) as exc:
        return refused_page(request, session, exc)
    return page(request, session, "merge.html", shown, status)


@admin_view
async def merge_page(request: Request, session: sessions.Session) -> Response:
    query = request.query_params
    return await _merge_form(
        request,
        session,
        request.path_params["entity"],
        query.get("keep", ""),
        query.get("remove", ""),
        {},
    )


@admin_form
async def merge_records(request: Request, session: sessions.Session, form: FormData) -> Response:
    entity = request.path_params["entity"]
    keep, remove = str(form.get("keep") or ""), str(form.get("remove") or "")
    picks = {
        str(k)[len("pick.") :]: str(v) for k, v in form.multi_items() if str(k).startswith("pick.")
    }
    _ = gettext_for(request, session.locale)
    if form.get("confirm") != "1":
        said = _("Tick the box to confirm that the second record should be merged and deleted.")
        return await _merge_form(
            request, session, entity, keep, remove, picks, [Shown("", said)], 400
        )

    def merge(records: RecordSession) -> None:
        et = readable_type(records, entity)
        gone = records.get(entity, remove)
        if gone is None:
            raise NotFound(f"no {entity} with id {remove}")
        values = {
            name: gone.get(name)
            for name, pick in picks.items()
            if pick == "remove" and name in et.properties
        }
        records.merge(entity, keep, remove, values)

    try:
        await in_session(request, session, merge, write=True)
    except (NotFound, Forbidden) as exc:
        return refused_page(request, session, exc)
    except XrmError as exc:
        return await _merge_form(
            request, session, entity, keep, remove, picks, explain(exc, _), 400
        )
    return RedirectResponse(f"{base_of(entity)}/{keep}?saved=1", status_code=303)
