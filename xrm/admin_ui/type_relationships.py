"""Adding a many-to-many relationship from a type's page: ``/admin/types/{name}/relationships/new``.

A relationship links the type to another (or to itself) with a list on each
side, optionally with attributes of its own (CONTRACT §3), defined through
the registry exactly as ``defineRelationship`` does. The form is the type
designer's: the same rows of fields (``type_form``) for the attributes, the
same plan before anything is applied, the same refusals by input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui import type_form as tf
from xrm.admin_ui import type_plan as tp
from xrm.admin_ui.auth import admin_form, admin_view, forbidden, may, message, page
from xrm.admin_ui.messages import Shown, explain, shown
from xrm.admin_ui.pages import gettext_for, language
from xrm.admin_ui.record_fields import type_label
from xrm.admin_ui.types import CHANNEL, RIGHT, Screen, rearrange, registry_of
from xrm.entities.registry import RELATIONSHIP
from xrm.errors import Conflict, FaultsError, XrmError
from xrm.platform import sessions
from xrm.schemas.model import EntityType
from xrm.schemas.plan import Plan

Gettext = Callable[[str], str]
HEAD_KEYS = ("relationship", "other", "from_field", "to_field", "label_en", "label_ko")
# Where the registry's faults about a relationship's own keys are shown.
_HEAD_PATHS = {
    "relationship": "relationship",
    "to": "other",
    "from": "other",
    "fromField": "from_field",
    "toField": "to_field",
    "label": "label_en",
}
ATTRIBUTE_KINDS = tuple(k for k in tf.KINDS if k not in ("reference", "autonumber"))


def relationship_of(
    entity: str, state: tf.FormState, _: Gettext
) -> tuple[dict[str, Any], dict[str, str]]:
    """The relationship the form describes (from ``entity``), and its problems by input."""
    head = state.head
    rows = tf.FormState({"name": "attributes", "plural": "attributes"}, state.rows)
    built, errors = tf.definition_of(rows, _)
    errors = {k: v for k, v in errors.items() if k not in tf.HEAD_KEYS}
    for index, row in enumerate(state.rows):
        if row.get("kind") in ("reference", "autonumber"):
            errors[tf.row_input(index, "kind")] = _("Choose a kind from the list.")
    values = {key: head.get(key, "").strip() for key in HEAD_KEYS}
    for key in ("relationship", "other", "from_field", "to_field"):
        if not values[key]:
            errors.setdefault(key, _("This is required."))
    definition: dict[str, Any] = {
        "relationship": values["relationship"],
        "from": entity,
        "to": values["other"],
        "fromField": values["from_field"],
        "toField": values["to_field"],
    }
    labels = {lang: values[f"label_{lang}"] for lang in tf.LANGS if values[f"label_{lang}"]}
    if labels:
        definition["label"] = labels
    if built["properties"]:
        definition["properties"] = built["properties"]
    if built.get("required"):
        definition["required"] = built["required"]
    return definition, errors


def _type(request: Request) -> EntityType | None:
    et = registry_of(request).current().types.get(request.path_params["name"])
    return None if et is None or et.system else et


@admin_view
async def new_relationship_page(request: Request, session: sessions.Session) -> Response:
    if not may(request, session, RIGHT):
        return forbidden(request, session)
    et = _type(request)
    if et is None:
        _ = gettext_for(request, session.locale)
        return message(request, session, _("It does not exist (any more)."), 404)
    state = tf.FormState(dict.fromkeys(HEAD_KEYS, ""), [])
    return _show(request, session, Screen(state, et, 0))


@admin_form
async def save_relationship(
    request: Request, session: sessions.Session, form: FormData
) -> Response:
    """Attributes added, moved, removed; the plan; apply (a new relationship: version 0)."""
    if not may(request, session, RIGHT):
        return forbidden(request, session)
    _ = gettext_for(request, session.locale)
    et = _type(request)
    if et is None:
        return message(request, session, _("It does not exist (any more)."), 404)
    action = str(form.get("action") or "")
    state = tf.state_from(form)
    state.head = {key: str(form.get(key) or "") for key in HEAD_KEYS}
    screen = Screen(state, et, 0)
    if rearrange(state, action):
        return _show(request, session, screen)
    definition, screen.errors = relationship_of(et.name, state, _)
    if screen.errors:
        screen.status = 400
        return _show(request, session, screen)
    canonical = json.dumps(definition, sort_keys=True, ensure_ascii=False)
    confirmed = action == "apply" and str(form.get("planned") or "") == canonical

    def run() -> Plan:
        return registry_of(request).apply(
            [definition],
            actor=session.actor,
            channel=CHANNEL,
            dry_run=not confirmed,
            expected_version=0,
            kinds={RELATIONSHIP},
        )

    try:
        plan = await run_in_threadpool(run)
    except Conflict:
        said = _("A relationship with this name exists already: choose another name.")
        screen.errors["relationship"] = said
        screen.status = 409
        return _show(request, session, screen)
    except FaultsError as exc:
        _place(exc, screen, _)
        screen.status = 400
        return _show(request, session, screen)
    except XrmError as exc:
        screen.general = explain(exc, _)
        screen.status = 400
        return _show(request, session, screen)
    if confirmed:
        return RedirectResponse(f"/admin/types/{et.name}?applied=1", status_code=303)
    screen.plan = tp.plan_lines(plan, language(request, session.locale), _)
    screen.planned = canonical
    return _show(request, session, screen)


def _place(exc: FaultsError, screen: Screen, _: Gettext) -> None:
    for fault in exc.faults:
        said = shown(fault, _)
        first = fault.field.split(".")[0]
        where = _HEAD_PATHS.get(first) or tf.input_for(fault.field, screen.state)
        if where is not None:
            screen.errors.setdefault(where, said.text)
        else:
            screen.general.append(Shown(fault.field, said.text, said.translated))


def _show(request: Request, session: sessions.Session, screen: Screen) -> Response:
    _ = gettext_for(request, session.locale)
    lang = language(request, session.locale)
    catalog = registry_of(request).current()
    et = screen.original
    assert et is not None
    kinds = {k: v for k, v in tp.kind_words(_).items() if k in ATTRIBUTE_KINDS}
    context = {
        "screen": screen,
        "head": screen.state.head,
        "rows": screen.state.rows,
        "kinds": kinds,
        "attributes": True,
        "on_delete": [],
        "targets": [
            (n, type_label(t, lang)) for n, t in sorted(catalog.types.items()) if not t.system
        ],
        "type_name": et.name,
        "type_title": type_label(et, lang),
        "action": f"/admin/types/{et.name}/relationships/new",
    }
    return page(request, session, "relationship.html", context, screen.status)
