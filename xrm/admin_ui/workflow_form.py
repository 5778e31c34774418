"""The workflow builder's form, both ways: posted inputs -> a workflow definition -> inputs.

A business admin builds a workflow by choosing from lists and filling inputs,
never by writing JSON. This module is the one place that knows how the
form's inputs spell a definition (CONTRACT §5): it turns what was posted
into the definition the registry checks, naming the input of every problem
it can see itself (a value line without ``=``, an order that is no number),
and turns a stored definition back into the form's values, so editing a
workflow round-trips. What the definition means is checked by the registry
alone (``parse_workflow``, ``check_workflow``); its faults come back here to
find the input they are about (:func:`input_of`).

Inputs are named after their JSON path: ``when``, ``cron``,
``actions.2.code``, ``actions.2.message.ko``. Action blocks whose type is
left empty are dropped (the blank "add an action" block, or one the admin
cleared to remove it), so a fault at ``actions.1`` of the definition is mapped
back to the block it came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xrm.schemas.model import EntityType
from xrm.schemas.workflows import BUILTIN_ACTIONS, DEFAULT_STAGE, STAGES, TRIGGERS

Gettext = Callable[[str], str]


def _same(text: str) -> str:
    """No translation (tests, and callers that translate later)."""
    return text


# Keys a stored definition may have that the form does not show; an edit keeps them.
KEPT_KEYS = ("description", "label", "limits")
MAX_ACTIONS = 50
LONG_TEXT = 2000  # a plugin setting allowed more characters than this gets a multi-line box
TEXT_KINDS = frozenset(
    {"string", "email", "uri", "phone", "uuid", "enum", "date", "datetime", "ref"}
)
_ACTION_INPUT = re.compile(r"^actions\.(\d{1,3})\.")
_LINE_FAULT = re.compile(r"^line (\d+), column (\d+): ")


@dataclass
class ActionInputs:
    """One action block of the form, as text inputs (every type's inputs, one type chosen)."""

    type: str = ""
    values: str = ""
    entity: str = ""
    target: str = ""
    relationship: str = ""
    other_id: str = ""
    message_en: str = ""
    message_ko: str = ""
    code: str = ""
    # A plugin action's settings (``actions.N.settings.<key>``), as typed.
    settings: dict[str, str] = field(default_factory=dict)


@dataclass
class FormValues:
    """What the form's inputs hold: the text a user typed or a stored definition gave."""

    name: str = ""
    title: str = ""
    entity: str = ""
    on: list[str] = field(default_factory=list)
    stage: str = DEFAULT_STAGE
    fields: str = ""
    relationship: str = ""
    cron: str = ""
    timezone: str = ""
    when: str = ""
    order: str = ""
    enabled: bool = False
    actions: list[ActionInputs] = field(default_factory=list)
    # With the plugin trigger: ``<plugin>.<source>:<event>`` (one choice in the form).
    plugin_event: str = ""


@dataclass
class Built:
    """A definition built from a form, or the problems (by input name) that stopped it."""

    definition: dict[str, Any]
    errors: dict[str, str]
    # The form's action block of each action in the definition (blank blocks are skipped).
    blocks: list[int]


# --- posted form -> values -----------------------------------------------------------------


def _one(posted: Mapping[str, Sequence[str]], name: str) -> str:
    got = posted.get(name) or ()
    return str(got[0]) if got else ""


def values_from_post(posted: Mapping[str, Sequence[str]]) -> FormValues:
    """The form's values from a posted multi-dict (``name -> [values]``), typed text kept."""
    indices = sorted({int(m.group(1)) for key in posted if (m := _ACTION_INPUT.match(key))})[
        : MAX_ACTIONS + 1
    ]
    actions = []
    for i in indices:
        p = f"actions.{i}."
        actions.append(
            ActionInputs(
                type=_one(posted, p + "type").strip(),
                values=_one(posted, p + "values"),
                entity=_one(posted, p + "entity").strip(),
                target=_one(posted, p + "target").strip(),
                relationship=_one(posted, p + "relationship").strip(),
                other_id=_one(posted, p + "otherId").strip(),
                message_en=_one(posted, p + "message.en"),
                message_ko=_one(posted, p + "message.ko"),
                code=_one(posted, p + "code"),
                settings={  # the first filled one: two plugins may share a setting's name
                    key[len(p + "settings.") :]: next(
                        (str(v) for v in posted[key] if str(v).strip()), ""
                    )
                    for key in posted
                    if key.startswith(p + "settings.") and len(key) <= len(p) + 109
                },
            )
        )
    return FormValues(
        name=_one(posted, "name").strip(),
        title=_one(posted, "title").strip(),
        entity=_one(posted, "entity").strip(),
        on=[str(v) for v in posted.get("on") or () if v],
        stage=_one(posted, "stage").strip() or DEFAULT_STAGE,
        fields=_one(posted, "fields"),
        relationship=_one(posted, "relationship").strip(),
        cron=_one(posted, "cron").strip(),
        timezone=_one(posted, "timezone").strip(),
        when=_one(posted, "when"),
        order=_one(posted, "order").strip(),
        enabled=_one(posted, "enabled") in ("1", "on", "true"),
        actions=actions,
        plugin_event=_one(posted, "plugin_event").strip(),
    )


def plugin_event_value(source: str, event: str) -> str:
    """The form's one choice for a plugin trigger's source and event."""
    return f"{source}:{event}"


# --- values -> definition ------------------------------------------------------------------


def _typed(text: str, kind: str | None) -> Any:
    """A value typed as text, as the field's kind wants it (text stays text)."""
    if text == "":
        return None
    if kind in TEXT_KINDS or kind is None:
        if text.startswith('"'):  # a quoted string: how a value with line breaks is written
            try:
                decoded = json.loads(text)
            except ValueError:
                return text
            return decoded if isinstance(decoded, str) else text
        return text
    if kind == "boolean":
        low = text.lower()
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
        return text  # the registry or the write names the field
    try:
        return json.loads(text)
    except ValueError:
        return text


def _values(
    text: str, et: EntityType | None, where: str, errors: dict[str, str], _: Gettext
) -> dict[str, Any]:
    """``field = value`` lines as a values object; a bad line is an error at ``where``."""
    values: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, raw = line.partition("=")
        name = name.strip()
        if not sep or not name:
            errors.setdefault(
                where, _("Line %(n)s: write one “field = value” per line.") % {"n": number}
            )
            continue
        prop = et.properties.get(name) if et is not None else None
        values[name] = _typed(raw.strip(), prop.kind if prop is not None else None)
    return values


def _message(en: str, ko: str) -> str | dict[str, str]:
    en, ko = en.strip(), ko.strip()
    if ko and en:
        return {"en": en, "ko": ko}
    if ko:
        return {"ko": ko}
    return en


def build(
    form: FormValues,
    types: Mapping[str, EntityType],
    kept: Mapping[str, Any] | None = None,
    _: Gettext = _same,
    plugins: Mapping[str, Mapping[str, Any]] | None = None,
) -> Built:
    """The definition the form spells (with ``kept`` keys of a stored one carried over).

    Only what the form itself can tell is an error here; everything else is
    left for the registry's checks, which name the same paths.
    """
    errors: dict[str, str] = {}
    definition: dict[str, Any] = {"name": form.name}
    if form.title:
        definition["title"] = form.title
    definition["entity"] = form.entity
    definition["on"] = [t for t in TRIGGERS if t in form.on]
    unknown = [t for t in form.on if t not in TRIGGERS]
    if unknown:
        errors["on"] = _("Choose triggers from the list.")
    elif not definition["on"]:
        errors["on"] = _("Choose at least one trigger.")
    if form.stage not in STAGES:
        errors["stage"] = _("Choose a stage from the list.")
    definition["stage"] = form.stage
    fields = [f for f in re.split(r"[\s,]+", form.fields) if f]
    if fields:
        definition["fields"] = list(dict.fromkeys(fields))
    for key in ("relationship", "cron", "timezone"):
        value = getattr(form, key)
        if value:
            definition[key] = value
    if form.plugin_event:  # like cron: the registry says when it goes without its trigger
        source, sep, event = form.plugin_event.rpartition(":")
        if not sep or not source or not event:
            errors["plugin_event"] = _("Choose the plugin event that starts this workflow.")
        else:
            definition["source"], definition["event"] = source, event
    if form.when.strip():
        definition["when"] = form.when
    if form.order:
        try:
            definition["order"] = int(form.order)
        except ValueError:
            errors["order"] = _("The order is a whole number, like 0 or 10.")
    definition["enabled"] = form.enabled
    et = types.get(form.entity)
    actions: list[dict[str, Any]] = []
    blocks: list[int] = []
    for index, block in enumerate(form.actions):
        if not block.type:
            continue
        where = f"actions.{index}"
        action = _action(block, where, et, types, errors, _, plugins or {})
        if action is not None:
            blocks.append(index)
            actions.append(action)
    if not actions:
        errors.setdefault("actions", _("Add at least one action."))
    elif len(actions) > MAX_ACTIONS:
        errors.setdefault(
            "actions", _("A workflow has at most %(n)s actions.") % {"n": MAX_ACTIONS}
        )
    definition["actions"] = actions
    for key in KEPT_KEYS:
        if kept is not None and key in kept:
            definition[key] = kept[key]
    return Built(definition, errors, blocks)


def _action(
    block: ActionInputs,
    where: str,
    et: EntityType | None,
    types: Mapping[str, EntityType],
    errors: dict[str, str],
    _: Gettext,
    plugins: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any] | None:
    kind = block.type
    if kind in plugins:
        return {"type": kind, **_settings(block.settings, plugins[kind])}
    if kind not in BUILTIN_ACTIONS:
        errors[f"{where}.type"] = _("Choose an action from the list.")
        return None
    action: dict[str, Any] = {"type": kind}
    if kind == "set":
        action["values"] = _values(block.values, et, f"{where}.values", errors, _)
    elif kind == "create":
        action["entity"] = block.entity
        action["values"] = _values(
            block.values, types.get(block.entity), f"{where}.values", errors, _
        )
    elif kind == "update":
        target_type = et
        if block.target:
            action["target"] = block.target
            ref = et.properties.get(block.target) if et is not None else None
            target_type = types.get(ref.ref.entity) if ref is not None and ref.ref else None
        action["values"] = _values(block.values, target_type, f"{where}.values", errors, _)
    elif kind in ("link", "unlink"):
        action["relationship"] = block.relationship
        action["otherId"] = block.other_id
    elif kind == "reject":
        action["message"] = _message(block.message_en, block.message_ko)
        if not action["message"]:
            errors[f"{where}.message"] = _("Write the message the user will read.")
    else:
        action["code"] = block.code
        if not block.code.strip():
            errors[f"{where}.code"] = _("Write the script's code.")
    return action


def _settings(typed: Mapping[str, str], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A plugin action's settings from its inputs, typed as its JSON Schema says; the
    schema's own check (when saving) names what is wrong."""
    properties = schema.get("properties") or {}
    settings: dict[str, Any] = {}
    for key in properties:
        text = typed.get(key, "")
        if text.strip() == "":
            continue
        kind = (properties[key] or {}).get("type")
        settings[key] = text if kind == "string" else _typed(text.strip(), kind)
    return settings


@dataclass(frozen=True)
class Setting:
    """One input of a plugin action's settings, drawn from its JSON Schema."""

    key: str
    title: str
    description: str
    required: bool
    long: bool  # a text longer than a line (an e-mail body): a multi-line box


def setting_inputs(schema: Mapping[str, Any]) -> list[Setting]:
    """The inputs a plugin action's form shows, one per property of its settings schema."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    return [
        Setting(
            key,
            str(spec.get("title") or key),
            str(spec.get("description") or ""),
            key in required,
            spec.get("type") == "string" and int(spec.get("maxLength") or 0) > LONG_TEXT,
        )
        for key, spec in properties.items()
        if isinstance(spec, Mapping)
    ]


# --- definition -> values ------------------------------------------------------------------


def _text(value: Any) -> str:
    """A value as one line of ``field = value`` text (the inverse of :func:`_typed`).

    Text that would not survive a line of its own (line breaks, surrounding spaces, a
    leading quote, nothing at all) is written as a quoted JSON string.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        plain = value and value == value.strip() and not value.startswith('"')
        if plain and len(value.splitlines()) == 1:
            return value
        quoted = json.dumps(value, ensure_ascii=False)
        for breaking in ("\x85", "\u2028", "\u2029"):
            quoted = quoted.replace(breaking, f"\\u{ord(breaking):04x}")
        return quoted
    return json.dumps(value, ensure_ascii=False)


def _lines(values: Mapping[str, Any]) -> str:
    return "\n".join(f"{name} = {_text(value)}" for name, value in values.items())


def values_from_definition(definition: Mapping[str, Any]) -> FormValues:
    """The form's values for a stored definition (what :func:`build` turns back into it)."""
    actions = []
    for raw in definition.get("actions", ()):
        message = raw.get("message")
        en, ko = (
            (message.get("en", ""), message.get("ko", ""))
            if isinstance(message, Mapping)
            else (message or "", "")
        )
        actions.append(
            ActionInputs(
                type=str(raw.get("type", "")),
                values=_lines(raw.get("values") or {}),
                entity=raw.get("entity", ""),
                target=raw.get("target", ""),
                relationship=raw.get("relationship", ""),
                other_id=raw.get("otherId", ""),
                message_en=en,
                message_ko=ko,
                code=raw.get("code", ""),
                settings=(
                    {}
                    if raw.get("type") in BUILTIN_ACTIONS
                    else {
                        k: v if isinstance(v, str) else _text(v)
                        for k, v in raw.items()
                        if k != "type"
                    }
                ),
            )
        )
    order = definition.get("order")
    return FormValues(
        name=definition.get("name", ""),
        title=definition.get("title", ""),
        entity=definition.get("entity", ""),
        on=list(definition.get("on", ())),
        stage=definition.get("stage", DEFAULT_STAGE),
        fields=", ".join(definition.get("fields", ())),
        relationship=definition.get("relationship", ""),
        cron=definition.get("cron", ""),
        timezone=definition.get("timezone", ""),
        when=definition.get("when", ""),
        order=str(order) if order is not None else "",
        enabled=bool(definition.get("enabled", True)),
        actions=actions,
        plugin_event=(
            plugin_event_value(definition["source"], definition["event"])
            if definition.get("source") and definition.get("event")
            else ""
        ),
    )


# --- faults -> inputs ----------------------------------------------------------------------

_TOP_INPUTS = frozenset(
    {"name", "title", "entity", "on", "stage", "fields", "relationship", "cron", "timezone"}
    | {"when", "order", "enabled", "plugin_event"}
)
# Definition keys whose faults belong to an input of another name.
_INPUT_OF_KEY = {"source": "plugin_event", "event": "plugin_event"}
_ACTION_INPUTS = frozenset(
    {"type", "values", "entity", "target", "relationship", "otherId", "message", "code"}
)


def input_of(path: str, blocks: Sequence[int]) -> str:
    """The form input a fault's JSON path is about ("" when none: shown above the form).

    ``actions.1.values.region`` of the definition is ``actions.<block>.values`` of the
    form; ``fields.0`` is ``fields``; ``limits.cpuSeconds`` (not in the form) is "".
    """
    parts = path.split(".")
    head = parts[0]
    if head == "actions":
        if len(parts) < 2 or not parts[1].isdigit():
            return "actions"
        index = int(parts[1])
        block = blocks[index] if index < len(blocks) else index
        sub = parts[2] if len(parts) > 2 else "type"
        if sub in _ACTION_INPUTS:
            return f"actions.{block}.{sub}"
        return f"actions.{block}.settings.{sub}"  # a plugin action's setting
    head = _INPUT_OF_KEY.get(head, head)
    return head if head in _TOP_INPUTS else ""


def known_inputs(form: FormValues, plugins: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Every input the form shows for ``form`` (an error elsewhere goes above the form)."""
    names = {*_TOP_INPUTS, "actions"}
    for index, block in enumerate(form.actions):
        names.update(f"actions.{index}.{key}" for key in _ACTION_INPUTS)
        for kind, schema in plugins.items():
            if block.type == kind:
                names.update(
                    f"actions.{index}.settings.{one.key}" for one in setting_inputs(schema)
                )
    return names


def code_lines(message: str) -> tuple[int, int, str] | None:
    """(line, column, what) of a compile fault ("line 3, column 5: ..."), else None."""
    found = _LINE_FAULT.match(message)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2)), message[found.end() :]
