"""Changes to a record that undo others: delete one, delete the ticked ones, restore a version;
and its many-to-many links: link (with attributes), change a link's attributes, unlink.

Kept apart from the form's saving (``records.py``), as Frappe keeps ``delete_doc``: each asks
for a confirmation or the version the user saw, and goes through the record service's own
``delete`` (with the type's ``onDelete`` rules) or ``restore`` (a new, audited version).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui.auth import admin_form, message
from xrm.admin_ui.messages import Shown, explain, say
from xrm.admin_ui.pages import gettext_for
from xrm.admin_ui.record_links import LinkState, posted_attributes, resolve_other
from xrm.admin_ui.records import (
    base_of,
    in_session,
    readable_type,
    record_form,
    refused_page,
    rule_or_explain,
)
from xrm.entities.records import RecordSession
from xrm.errors import Conflict, FaultsError, Forbidden, NotFound, Restricted, XrmError
from xrm.platform import sessions


@admin_form
async def delete_record(request: Request, session: sessions.Session, form: FormData) -> Response:
    entity, record_id = request.path_params["entity"], request.path_params["record_id"]
    _ = gettext_for(request, session.locale)
    if form.get("confirm") != "1":
        said = _("Tick the box to confirm that the record should be deleted.")
        return await record_form(
            request, session, entity, record_id, errors=[Shown("", said)], status=400
        )

    def delete(records: RecordSession) -> None:
        readable_type(records, entity)
        records.delete(entity, record_id)

    try:
        await in_session(request, session, delete, write=True)
    except Restricted as exc:
        said = _(
            "This record cannot be deleted: other records still refer to it. "
            "Change or delete them first."
        )
        del exc
        return await record_form(
            request, session, entity, record_id, errors=[Shown("", said)], status=409
        )
    except (NotFound, Forbidden) as exc:
        return refused_page(request, session, exc)
    except XrmError as exc:
        shown = rule_or_explain(exc, _)
        return await record_form(request, session, entity, record_id, errors=shown, status=400)
    return RedirectResponse(f"{base_of(entity)}?deleted=1", status_code=303)


@admin_form
async def delete_records(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Delete the records ticked in a list, all or none (one transaction)."""
    entity = request.path_params["entity"]
    _ = gettext_for(request, session.locale)
    ids = [str(i) for i in form.getlist("ids") if str(i)]
    back = str(form.get("back") or "")
    if not back.startswith(base_of(entity)):
        back = base_of(entity)

    def refused(text: str, status: int) -> Response:
        return message(request, session, text, status)

    if not ids:
        return refused(_("Tick the records to delete first."), 400)
    if form.get("confirm") != "1":
        return refused(_("Tick the box to confirm that the records should be deleted."), 400)

    def delete(records: RecordSession) -> None:
        readable_type(records, entity)
        for record_id in ids:
            records.delete(entity, record_id)

    try:
        await in_session(request, session, delete, write=True)
    except Restricted:
        said = _(
            "Nothing was deleted: other records still refer to some of the ticked ones. "
            "Change or delete those first."
        )
        return refused(said, 409)
    except (NotFound, Forbidden) as exc:
        if isinstance(exc, NotFound):
            return refused(_("Nothing was deleted: a ticked record no longer exists."), 404)
        return refused_page(request, session, exc)
    separator = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{separator}deleted={len(ids)}", status_code=303)


@admin_form
async def restore_record(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Bring a record back to an earlier version: a new, audited update (the record service's
    ``restore``), refused like a save when someone changed the record meanwhile."""
    entity, record_id = request.path_params["entity"], request.path_params["record_id"]
    _ = gettext_for(request, session.locale)
    try:
        wanted = int(str(form.get("restore") or ""))
        current = int(str(form.get("version") or ""))
    except ValueError:
        return message(request, session, _("It does not exist (any more)."), 404)

    def restore(records: RecordSession) -> None:
        readable_type(records, entity)
        records.restore(entity, record_id, wanted, expected_version=current)

    try:
        await in_session(request, session, restore, write=True)
    except Conflict:
        said = _("Someone else changed this record meanwhile; look at its history again.")
        return await record_form(
            request, session, entity, record_id, errors=[Shown("", said)], status=409
        )
    except NotFound as exc:
        return refused_page(request, session, exc)
    except Forbidden as exc:
        if exc.extensions.get("fields"):  # the old version differs in fields this user may not set
            said = _("You may not restore this version: it differs in fields you may not change.")
            return await record_form(
                request, session, entity, record_id, errors=[Shown("", said)], status=403
            )
        return refused_page(request, session, exc)
    except XrmError as exc:  # an old version that today's rules refuse
        shown = explain(exc, _, lambda name: name)
        return await record_form(request, session, entity, record_id, errors=shown, status=400)
    return RedirectResponse(f"{base_of(entity)}/{record_id}?restored={wanted}", status_code=303)


# --- many-to-many links ------------------------------------------------------------------------


def _link_field(records: RecordSession, entity: str, key: str) -> tuple[Any, Any]:
    """The relationship behind the to-many field ``key`` of ``entity`` and its other type."""
    readable_type(records, entity)
    link = records.catalog.links.get(entity, {}).get(key)
    if link is None:
        raise NotFound(f"{entity} has no relationship field {key}")
    return link, records.catalog.relationships[link.relationship]


@admin_form
async def link_record(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Link a record through a many-to-many field, or change a link's attributes (``editing``)."""
    entity, record_id = request.path_params["entity"], request.path_params["record_id"]
    _ = gettext_for(request, session.locale)
    key = str(form.get("field") or "")
    editing = str(form.get("editing") or "")
    state = LinkState(key, editing=editing, other=str(form.get("other") or ""))

    def link(records: RecordSession) -> None:
        found, rel = _link_field(records, entity, key)
        values, state.typed = posted_attributes(rel, form)
        other_id, problem = resolve_other(
            records, records.catalog.entity(found.other), editing or state.other, _
        )
        if other_id is None:
            state.errors["other"] = problem
            raise _Refused
        from_id, to_id = (record_id, other_id) if found.outgoing else (other_id, record_id)
        records.link(rel.name, from_id, to_id, values)

    try:
        await in_session(request, session, link, write=True)
    except _Refused:
        return await _link_refused(request, session, entity, record_id, state, _)
    except (NotFound, Forbidden) as exc:
        return refused_page(request, session, exc)
    except XrmError as exc:
        faults = exc.faults if isinstance(exc, FaultsError) else []
        for fault in faults:
            name = fault.field.split(".")[1] if fault.field.startswith("attributes.") else "other"
            said = say(fault.message, _) or _("This is not accepted: %(detail)s") % {
                "detail": fault.message
            }
            state.errors[name] = f"{state.errors[name]} {said}" if name in state.errors else said
        if not faults:
            state.said = " ".join(s.text for s in rule_or_explain(exc, _))
        return await _link_refused(request, session, entity, record_id, state, _)
    return RedirectResponse(
        f"{base_of(entity)}/{record_id}?linked=saved#rel-{quote(key)}", status_code=303
    )


@admin_form
async def unlink_record(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Remove a many-to-many link, after the box confirming it is ticked."""
    entity, record_id = request.path_params["entity"], request.path_params["record_id"]
    _ = gettext_for(request, session.locale)
    key = str(form.get("field") or "")
    other = str(form.get("other") or "")
    if form.get("confirm") != "1":
        state = LinkState(key, editing=other, said=_("Tick the box to confirm the unlinking."))
        return await _link_refused(request, session, entity, record_id, state, _)

    def unlink(records: RecordSession) -> None:
        found, rel = _link_field(records, entity, key)
        from_id, to_id = (record_id, other) if found.outgoing else (other, record_id)
        records.unlink(rel.name, from_id, to_id)

    try:
        await in_session(request, session, unlink, write=True)
    except (NotFound, Forbidden) as exc:
        return refused_page(request, session, exc)
    except XrmError as exc:
        state = LinkState(
            key, editing=other, said=" ".join(s.text for s in rule_or_explain(exc, _))
        )
        return await _link_refused(request, session, entity, record_id, state, _)
    return RedirectResponse(
        f"{base_of(entity)}/{record_id}?linked=removed#rel-{quote(key)}", status_code=303
    )


class _Refused(Exception):
    """The record to link was not found by its name: nothing is written."""


async def _link_refused(
    request: Request,
    session: sessions.Session,
    entity: str,
    record_id: str,
    state: LinkState,
    _: Any,
) -> Response:
    count = len(state.errors)
    said = state.said or _("Please correct the fields marked below (%(n)s).") % {"n": count}
    return await record_form(
        request,
        session,
        entity,
        record_id,
        errors=[Shown("", said)],
        status=400,
        link_state=state,
    )
