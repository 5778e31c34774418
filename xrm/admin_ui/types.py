"""The entity type designer: ``/admin/types``, ``/admin/types/new``, ``/admin/types/{name}``.

A business admin defines a type as a form (``type_form``) and sees, before
anything changes, what the change will do to the records already stored
(``type_plan``): the registry's dry run, in words, with the records that
block it linked. "Apply" posts the same form again with the version it was
loaded at and the definition the plan was made for; a change made by someone
else meanwhile is a conflict that is explained, never overwritten. The JSON
definition is a second view of the same form (a textarea named
``definition``): posting it refills the form, and its faults are shown at
their JSON path and line. Only users with the ``define_types`` right reach
these pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui import type_form as tf
from xrm.admin_ui import type_messages
from xrm.admin_ui import type_plan as tp
from xrm.admin_ui.auth import admin_form, admin_view, forbidden, may, message, page
from xrm.admin_ui.json_lines import path_lines, pretty
from xrm.admin_ui.messages import Shown, explain
from xrm.admin_ui.pages import gettext_for, language
from xrm.admin_ui.record_fields import in_language, type_label
from xrm.admin_ui.record_views import names_of
from xrm.admin_ui.records import in_session
from xrm.entities.records import RecordSession
from xrm.entities.registry import ENTITY_TYPE, Registry, definition_kind
from xrm.errors import Conflict, FaultsError, XrmError
from xrm.platform import sessions
from xrm.schemas.model import EntityType
from xrm.schemas.plan import Plan

Gettext = Callable[[str], str]
RIGHT = "define_types"
CHANNEL = "admin"


def registry_of(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def types_base() -> str:
    return "/admin/types"


@dataclass(slots=True)
class Screen:
    """Everything the designer page shows besides the form's own values."""

    state: tf.FormState
    original: EntityType | None
    version: int
    errors: dict[str, str] = field(default_factory=dict)
    general: list[Shown] = field(default_factory=list)
    json_text: str = ""
    json_errors: list[Shown] = field(default_factory=list)
    plan: list[tp.PlanLine] | None = None
    planned: str = ""
    conflict: bool = False
    status: int = 200


# --- the list ----------------------------------------------------------------------------------


@admin_view
async def types_page(request: Request, session: sessions.Session) -> Response:
    if not may(request, session, RIGHT):
        return forbidden(request, session)
    lang = language(request, session.locale)
    catalog = registry_of(request).current()
    listed = []
    for name in sorted(catalog.types):
        et = catalog.types[name]
        if et.system:
            continue
        links = [r for r in catalog.relationships.values() if name in (r.from_entity, r.to_entity)]
        listed.append(
            {
                "name": name,
                "label": type_label(et, lang),
                "fields": len(et.properties),
                "retired": len(et.retired),
                "relationships": len(links),
                "version": et.version,
            }
        )
    return page(request, session, "types.html", {"types": listed})


# --- the designer ------------------------------------------------------------------------------


@admin_view
async def new_type_page(request: Request, session: sessions.Session) -> Response:
    if not may(request, session, RIGHT):
        return forbidden(request, session)
    state = tf.FormState(dict.fromkeys(tf.HEAD_KEYS, ""), [tf.blank_row()])
    return await _show(request, session, Screen(state, None, 0))


@admin_view
async def type_page(request: Request, session: sessions.Session) -> Response:
    if not may(request, session, RIGHT):
        return forbidden(request, session)
    et = _stored(request, request.path_params["name"])
    if et is None:
        _ = gettext_for(request, session.locale)
        return message(request, session, _("It does not exist (any more)."), 404)
    screen = Screen(tf.state_of(dict(et.definition)), et, et.version)
    return await _show(request, session, screen)


def _stored(request: Request, name: str) -> EntityType | None:
    et = registry_of(request).current().types.get(name)
    return None if et is None or et.system else et


def _version(form: FormData) -> int:
    raw = str(form.get("version") or "0")
    return int(raw) if raw.isdigit() and len(raw) < 10 else 0


@admin_form
async def save_type(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Every button of the designer: rows added, moved, removed; the plan; apply; the JSON."""
    if not may(request, session, RIGHT):
        return forbidden(request, session)
    _ = gettext_for(request, session.locale)
    name = request.path_params.get("name")
    original = _stored(request, name) if name else None
    if name and original is None:
        return message(request, session, _("It does not exist (any more)."), 404)
    version = _version(form)
    action = str(form.get("action") or "")
    state = tf.state_from(form)
    screen = Screen(state, original, version)
    if rearrange(state, action):
        return await _show(request, session, screen)
    if action.startswith("restore:") and original is not None:
        _restore_row(state, original, action.removeprefix("restore:"))
        action = "plan"
    scripted = not action and "definition" in form
    if action == "json" or scripted:
        definition = _from_json(str(form.get("definition") or ""), screen, _)
        if definition is None:
            screen.status = 400
            return await _show(request, session, screen)
        screen.state = state = tf.state_of(definition)
    else:
        definition, screen.errors = tf.definition_of(state, _)
        if screen.errors:
            screen.status = 400
            return await _show(request, session, screen)
    if definition_kind(definition) != ENTITY_TYPE:
        field_name = _("Definition (JSON)")
        said = _(
            "An entity type is a JSON object with an x-xrm block; relationships are added "
            "on the type's page."
        )
        screen.json_errors = [Shown(field_name, said)]
        screen.status = 400
        return await _show(request, session, screen)
    meta = definition.get("x-xrm")
    new_name = meta.get("name") if isinstance(meta, Mapping) else None
    expected: int | None = version if original is not None and new_name == original.name else 0
    if scripted and "version" not in form:
        expected = None  # a script that sent no version asks for no optimistic lock
    canonical = json.dumps(definition, sort_keys=True, ensure_ascii=False)
    confirmed = action == "apply" and str(form.get("planned") or "") == canonical
    plan = await _run(request, session, screen, definition, expected, dry_run=not confirmed)
    if plan is None:
        return await _show(request, session, screen)
    lines = await _words(request, session, plan, definition)
    if confirmed or (scripted and not tp.touches_data(lines) and not plan.blocked):
        if not confirmed:
            applied = await _run(request, session, screen, definition, expected, dry_run=False)
            if applied is None:
                return await _show(request, session, screen)
        target = new_name if isinstance(new_name, str) else ""
        return RedirectResponse(f"{types_base()}/{target}?applied=1", status_code=303)
    screen.plan = lines
    screen.planned = canonical
    if action == "apply":
        screen.general = [
            Shown(
                "",
                _(
                    "The form changed since the plan was shown: here is the "
                    "plan for what it says now."
                ),
            )
        ]
    return await _show(request, session, screen)


def rearrange(state: tf.FormState, action: str) -> bool:
    """Rows added, moved or removed (no JavaScript needed: each is a submit button)."""
    if action == "add_field":
        state.rows.append(tf.blank_row())
        return True
    verb, _sep, where = action.partition(":")
    if verb not in ("up", "down", "remove") or not where.isdigit():
        return False
    index = int(where)
    if index >= len(state.rows):
        return True
    if verb == "remove":
        del state.rows[index]
    else:
        other = index - 1 if verb == "up" else index + 1
        if 0 <= other < len(state.rows):
            state.rows[index], state.rows[other] = state.rows[other], state.rows[index]
    return True


def _restore_row(state: tf.FormState, original: EntityType, name: str) -> None:
    """A retired field back in the form, as it was defined when it was retired."""
    prop = original.retired.get(name)
    if prop is None or any(r.get("name") == name for r in state.rows):
        return
    restored = tf.state_of({"type": "object", "properties": {name: dict(prop.schema)}})
    row = restored.rows[0]
    row["required"] = "1" if prop.required else ""
    state.rows.append(row)


def _from_json(text: str, screen: Screen, _: Gettext) -> dict[str, Any] | None:
    """The posted JSON definition, or None with the fault placed at its line and column."""
    screen.json_text = text
    field_name = _("Definition (JSON)")
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as exc:
        where = _("line %(line)s, column %(column)s") % {"line": exc.lineno, "column": exc.colno}
        screen.json_errors = [Shown(field_name, f"{_('not valid JSON')} ({where})")]
        return None
    except (RecursionError, ValueError):
        screen.json_errors = [Shown(field_name, _("not valid JSON"))]
        return None
    if not isinstance(definition, dict):
        screen.json_errors = [Shown(field_name, _("An entity type is a JSON object."))]
        return None
    return definition


async def _run(
    request: Request,
    session: sessions.Session,
    screen: Screen,
    definition: dict[str, Any],
    expected: int | None,
    *,
    dry_run: bool,
) -> Plan | None:
    """The registry's plan (applied unless ``dry_run``), or None with the refusal on ``screen``."""
    _ = gettext_for(request, session.locale)

    def apply() -> Plan:
        return registry_of(request).apply(
            [definition],
            actor=session.actor,
            channel=CHANNEL,
            dry_run=dry_run,
            expected_version=expected,
            kinds={ENTITY_TYPE},
        )

    try:
        return await run_in_threadpool(apply)
    except Conflict:
        screen.conflict = True
        screen.status = 409
    except FaultsError as exc:
        _place(exc, screen, definition, _)
        screen.status = 400
    except XrmError as exc:
        screen.general = explain(exc, _)
        screen.status = 400
    return None


def _place(exc: FaultsError, screen: Screen, definition: Any, _: Gettext) -> None:
    """Each fault next to its input when the form has one, and by JSON path and line always."""
    text = pretty(definition)
    lines = path_lines(definition)
    if not exc.faults:
        screen.general.extend(explain(exc, _))
    for fault in exc.faults:
        said = type_messages.shown(fault, _)
        where = tf.input_for(fault.field, screen.state)
        if where is not None:
            screen.errors.setdefault(where, said.text)
        elif fault.field:
            screen.general.append(said)
        else:
            screen.general.append(Shown("", said.text, said.translated))
        line = lines.get(fault.field)
        place = fault.field or "/"
        if line is not None:
            place = _("%(path)s (line %(line)s)") % {"path": place, "line": line}
        screen.json_errors.append(Shown(place, said.text, said.translated))
    screen.json_text = text


async def _words(
    request: Request, session: sessions.Session, plan: Plan, definition: Mapping[str, Any]
) -> list[tp.PlanLine]:
    """The plan in words, with how many stored values each conversion meets and who blocks it."""
    _ = gettext_for(request, session.locale)
    lang = language(request, session.locale)
    registry = registry_of(request)
    catalog = registry.current()
    filled: dict[int, int] = {}
    for index, step in enumerate(plan.steps):
        if step.action in ("convert_column", "check_rows") and not step.relationship:
            et = catalog.types.get(step.target)
            prop = step.old or step.prop
            if et is not None and prop is not None:
                table, column = et.table_name, prop.column
                filled[index] = await run_in_threadpool(registry.stored_values, table, column)
    wanted: dict[str, set[str]] = {}
    for index, step in enumerate(plan.steps):
        ids = plan.blocking_records(index)
        if ids and not step.relationship:
            wanted.setdefault(step.target, set()).update(ids)

    def read(records: RecordSession) -> dict[str, str]:
        return names_of(records, wanted, _)

    names = await in_session(request, session, read, write=False) if wanted else {}
    return tp.plan_lines(plan, lang, _, filled=filled, names=names)


async def _show(request: Request, session: sessions.Session, screen: Screen) -> Response:
    """The designer page: the form, the plan when there is one, the JSON, relationships."""
    _ = gettext_for(request, session.locale)
    lang = language(request, session.locale)
    catalog = registry_of(request).current()
    original = screen.original
    if not screen.json_text:
        definition, _errors = tf.definition_of(screen.state, _)
        screen.json_text = pretty(definition)
    targets = [
        (n, type_label(et, lang)) for n, et in sorted(catalog.types.items()) if not et.system
    ]
    retired = []
    relationships = []
    if original is not None:
        retired = [
            {"name": n, "label": in_language(p.label, lang, n)}
            for n, p in sorted(original.retired.items())
        ]
        for rel in sorted(catalog.relationships.values(), key=lambda r: r.name):
            if original.name not in (rel.from_entity, rel.to_entity):
                continue
            other = rel.to_entity if rel.from_entity == original.name else rel.from_entity
            other_et = catalog.types.get(other)
            label = rel.definition.get("label")
            relationships.append(
                {
                    "name": rel.name,
                    "label": in_language(
                        label if isinstance(label, Mapping) else None, lang, rel.name
                    ),
                    "other": type_label(other_et, lang) if other_et else other,
                    "attributes": [
                        in_language(p.label, lang, n) for n, p in rel.properties.items()
                    ],
                }
            )
    context = {
        "screen": screen,
        "head": screen.state.head,
        "rows": screen.state.rows,
        "kinds": {
            **tp.kind_words(_),
            **tp.plugin_kind_words(
                registry_of(request).formats, (r["kind"] for r in screen.state.rows), lang, _
            ),
        },
        "on_delete": [
            ("", _("Refuse while referenced")),
            ("restrict", _("Refuse while referenced")),
            ("cascade", _("Delete the referencing records too")),
            ("set_null", _("Clear the reference")),
        ],
        "targets": targets,
        "original": original,
        "title": type_label(original, lang) if original else _("New type"),
        "action": f"{types_base()}/{original.name}" if original else f"{types_base()}/new",
        "retired": retired,
        "relationships": relationships,
        "applied": request.query_params.get("applied") == "1" and screen.plan is None,
        "records_href": f"/admin/records/{original.name}" if original else "",
    }
    return page(request, session, "type.html", context, screen.status)
