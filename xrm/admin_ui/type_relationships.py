"""Many-to-many relationships from a type's page: ``/admin/types/{name}/relationships/...``.

``/new`` adds one: it links the type to another (or to itself) with a list on
each side, optionally with attributes of its own (CONTRACT §3), defined
through the registry exactly as ``defineRelationship`` does.
``/{relationship}`` edits one the type takes part in: its labels in English
and Korean and its attributes (add one; remove one, which retires it with its
values; bring a retired one back with them). Its name, its ends and the
names of its lists cannot change there (a relink would delete every link).
Both forms are the type designer's: the same rows of fields (``type_form``)
for the attributes, the same plan before anything is applied, the same
refusals by input; an edit carries the version it was loaded at, so a change
made meanwhile is a conflict that is explained, never overwritten. Removing
one is ``relationship_removal``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui import type_form as tf
from xrm.admin_ui import type_plan as tp
from xrm.admin_ui.auth import admin_form, admin_view, forbidden, may, message, page
from xrm.admin_ui.messages import Shown, explain, shown
from xrm.admin_ui.pages import gettext_for, language
from xrm.admin_ui.record_fields import in_language, type_label
from xrm.admin_ui.types import CHANNEL, RIGHT, Screen, rearrange, registry_of, restore_row
from xrm.admin_ui.workflows import workflow_title
from xrm.entities import workflow_store
from xrm.entities.records import RecordService
from xrm.entities.registry import RELATIONSHIP
from xrm.errors import Conflict, FaultsError, XrmError
from xrm.platform import sessions
from xrm.schemas.model import EntityType, Relationship
from xrm.schemas.plan import Plan

Gettext = Callable[[str], str]
_DIGITS = re.compile(r"[0-9]{1,9}")
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


def _attributes(state: tf.FormState, _: Gettext) -> tuple[dict[str, Any], dict[str, str]]:
    """The attributes the form's rows describe (``properties``, ``required``), and their
    problems by input: no references or auto-numbers on a link."""
    rows = tf.FormState({"name": "attributes", "plural": "attributes"}, state.rows)
    built, errors = tf.definition_of(rows, _)
    errors = {k: v for k, v in errors.items() if k not in tf.HEAD_KEYS}
    for index, row in enumerate(state.rows):
        if row.get("kind") in ("reference", "autonumber"):
            errors[tf.row_input(index, "kind")] = _("Choose a kind from the list.")
    return built, errors


def relationship_of(
    entity: str, state: tf.FormState, _: Gettext
) -> tuple[dict[str, Any], dict[str, str]]:
    """The relationship the form describes (from ``entity``), and its problems by input."""
    head = state.head
    built, errors = _attributes(state, _)
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


def edited(
    rel: Relationship, state: tf.FormState, _: Gettext
) -> tuple[dict[str, Any], dict[str, str]]:
    """``rel``'s stored definition with the form's labels and attributes, and the form's
    problems by input. Everything the form has no input for (its ends, the labels of its
    lists, a label in a third language, its description) is kept as stored."""
    built, errors = _attributes(state, _)
    definition = copy.deepcopy(dict(rel.definition))
    stored = definition.get("label")
    labels = dict(stored) if isinstance(stored, Mapping) else {}
    for lang in tf.LANGS:
        typed = state.head.get(f"label_{lang}", "").strip()
        if typed:
            labels[lang] = typed
        else:
            labels.pop(lang, None)
    definition.pop("label", None)
    if labels:
        definition["label"] = labels
    definition.pop("properties", None)
    definition.pop("required", None)
    if built["properties"]:
        definition["properties"] = built["properties"]
    if built.get("required"):
        definition["required"] = built["required"]
    return definition, errors


def state_of(rel: Relationship) -> tf.FormState:
    """The edit form's values for a stored relationship."""
    attributes = {"type": "object", "properties": dict(rel.definition.get("properties") or {})}
    if rel.definition.get("required"):
        attributes["required"] = list(rel.definition["required"])
    state = tf.state_of(attributes)
    labels = rel.definition.get("label")
    head = {
        "relationship": rel.name,
        "other": "",
        "from_field": rel.from_field,
        "to_field": rel.to_field,
        "label_en": "",
        "label_ko": "",
    }
    if isinstance(labels, Mapping):
        for lang in tf.LANGS:
            if isinstance(labels.get(lang), str):
                head[f"label_{lang}"] = labels[lang]
    return tf.FormState(head, state.rows)


def type_of(request: Request) -> EntityType | None:
    et = registry_of(request).current().types.get(request.path_params["name"])
    return None if et is None or et.system else et


@admin_view
async def new_relationship_page(request: Request, session: sessions.Session) -> Response:
    if not may(request, session, RIGHT):
        return forbidden(request, session)
    et = type_of(request)
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
    et = type_of(request)
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
    if await plan_or_apply(request, session, screen, definition, form, 0):
        return RedirectResponse(f"/admin/types/{et.name}?applied=1", status_code=303)
    if screen.conflict:  # defined by someone else meanwhile, or long ago
        screen.conflict = False
        said = _("A relationship with this name exists already: choose another name.")
        screen.errors["relationship"] = said
    return _show(request, session, screen)


async def plan_or_apply(
    request: Request,
    session: sessions.Session,
    screen: Screen,
    definition: dict[str, Any],
    form: FormData,
    expected_version: int,
) -> bool:
    """Apply ``definition`` when "Apply" was pressed for the plan shown of this very
    definition (True); else put its plan, or why it is refused, on ``screen`` (False)."""
    _ = gettext_for(request, session.locale)
    canonical = json.dumps(definition, sort_keys=True, ensure_ascii=False)
    action = str(form.get("action") or "")
    confirmed = action == "apply" and str(form.get("planned") or "") == canonical

    def run() -> Plan:
        return registry_of(request).apply(
            [definition],
            actor=session.actor,
            channel=CHANNEL,
            dry_run=not confirmed,
            expected_version=expected_version,
            kinds={RELATIONSHIP},
        )

    try:
        plan = await run_in_threadpool(run)
    except Conflict:
        screen.conflict = True
        screen.status = 409
        return False
    except FaultsError as exc:
        _place(exc, screen, _)
        screen.status = 400
        return False
    except XrmError as exc:
        screen.general = explain(exc, _)
        screen.status = 400
        return False
    if confirmed:
        return True
    screen.plan = tp.plan_lines(plan, language(request, session.locale), _)
    screen.planned = canonical
    return False


def stored_relationship(request: Request, et: EntityType) -> Relationship | None:
    """The relationship of the address, if ``et`` (the page's type) is one of its ends."""
    rel = registry_of(request).current().relationships.get(request.path_params["relationship"])
    if rel is None or et.name not in (rel.from_entity, rel.to_entity):
        return None
    return rel


def link_count(request: Request, rel: Relationship) -> int:
    """How many links ``rel`` holds (what removing it would delete)."""
    service: RecordService = request.app.state.records
    table = service.registry.current().link_tables[rel.name]
    with service.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def posted_number(form: FormData, key: str = "version") -> int | None:
    """A posted count or version: ASCII digits only (``"²".isdigit()`` holds, ``int`` refuses
    it), else None."""
    raw = str(form.get(key) or "")
    return int(raw) if _DIGITS.fullmatch(raw) else None


def opened(
    request: Request, session: sessions.Session
) -> tuple[EntityType, Relationship] | Response:
    """The page's type and relationship, or the page saying why not (403, 404)."""
    if not may(request, session, RIGHT):
        return forbidden(request, session)
    et = type_of(request)
    rel = stored_relationship(request, et) if et is not None else None
    if et is None or rel is None:
        _ = gettext_for(request, session.locale)
        return message(request, session, _("It does not exist (any more)."), 404)
    return et, rel


@admin_view
async def relationship_page(request: Request, session: sessions.Session) -> Response:
    """``GET .../relationships/{relationship}``: the edit form, and the removal below it."""
    found = opened(request, session)
    if isinstance(found, Response):
        return found
    et, rel = found
    return await show_edit(request, session, Screen(state_of(rel), et, rel.version), rel)


@admin_form
async def save_edited_relationship(
    request: Request, session: sessions.Session, form: FormData
) -> Response:
    """Attributes added, moved, removed, restored; the plan; apply at the loaded version."""
    found = opened(request, session)
    if isinstance(found, Response):
        return found
    et, rel = found
    _ = gettext_for(request, session.locale)
    action = str(form.get("action") or "")
    state = tf.state_from(form)
    fixed = state_of(rel).head  # the name, ends and list names cannot change here
    state.head = {**fixed, **{k: str(form.get(k) or "") for k in ("label_en", "label_ko")}}
    screen = Screen(state, et, posted_number(form) or 0)
    if rearrange(state, action):
        return await show_edit(request, session, screen, rel)
    if action.startswith("restore:"):
        restore_row(state, rel.retired, action.removeprefix("restore:"))
        action = "plan"
    definition, screen.errors = edited(rel, state, _)
    if screen.errors:
        screen.status = 400
        return await show_edit(request, session, screen, rel)
    if await plan_or_apply(request, session, screen, definition, form, screen.version):
        return RedirectResponse(f"/admin/types/{et.name}?applied=1", status_code=303)
    return await show_edit(request, session, screen, rel)


async def show_edit(
    request: Request,
    session: sessions.Session,
    screen: Screen,
    rel: Relationship,
    removal: Mapping[str, Any] | None = None,
) -> Response:
    """The edit page: the form, its plan, the retired attributes, the removal form."""
    lang = language(request, session.locale)
    catalog = registry_of(request).current()
    et = screen.original
    assert et is not None
    other_name = rel.to_entity if rel.from_entity == et.name else rel.from_entity
    other = catalog.types.get(other_name)
    links = await run_in_threadpool(link_count, request, rel)
    users = workflow_store.users_of(
        rel.name, catalog.workflows, catalog.types, catalog.relationships
    )
    labels = rel.definition.get("label")
    extra = {
        "relationship": rel,
        "relationship_title": in_language(
            labels if isinstance(labels, Mapping) else None, lang, rel.name
        ),
        "other_title": _title(other, other_name, lang),
        "from_title": _title(catalog.types.get(rel.from_entity), rel.from_entity, lang),
        "to_title": _title(catalog.types.get(rel.to_entity), rel.to_entity, lang),
        "retired": [
            {"name": n, "label": in_language(p.label, lang, n)}
            for n, p in sorted(rel.retired.items())
        ],
        "links": links,
        "users": [
            {"name": name, "title": workflow_title(catalog.workflows[name].definition, name, lang)}
            for name in users
        ],
        "removal": removal or {},
        "action": f"/admin/types/{et.name}/relationships/{rel.name}",
    }
    return _show(request, session, screen, extra)


def _title(et: EntityType | None, name: str, lang: str) -> str:
    return type_label(et, lang) if et is not None else name


def _place(exc: FaultsError, screen: Screen, _: Gettext) -> None:
    for fault in exc.faults:
        said = shown(fault, _)
        first = fault.field.split(".")[0]
        where = _HEAD_PATHS.get(first) or tf.input_for(fault.field, screen.state)
        if where is not None:
            screen.errors.setdefault(where, said.text)
        else:
            screen.general.append(Shown(fault.field, said.text, said.translated))


def _show(
    request: Request,
    session: sessions.Session,
    screen: Screen,
    extra: Mapping[str, Any] | None = None,
) -> Response:
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
        "relationship": None,
        **(extra or {}),
    }
    return page(request, session, "relationship.html", context, screen.status)
