"""A definition change's plan in words a business admin reads, in the page's language.

The registry's plan (``xrm.schemas.plan``) names steps for developers
(``convert_column``, ``retire_column``); the type designer shows the same
steps as sentences ("Converts 'Amount' from text to number: 118 values
convert, 3 records block this"), each blocked step with the records that
block it, linked by their names. Pure: the caller hands in the counts and
the record names it read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from xrm.admin_ui.record_fields import in_language
from xrm.schemas.model import Property
from xrm.schemas.plan import Plan, Step
from xrm.schemas.plugin_formats import PluginFormats, plugin_of

Gettext = Callable[[str], str]

# Steps that read or rewrite the records already stored (the others only add or relabel).
TOUCHING = frozenset(
    {
        "convert_column",
        "check_rows",
        "retire_column",
        "restore_column",
        "purge_column",
        "add_unique",
        "relink",
    }
)


@dataclass(frozen=True, slots=True)
class Blocker:
    """A record that stops a step: where it lives and what it is called."""

    href: str
    name: str


@dataclass(slots=True)
class PlanLine:
    """One step as the page says it, with why it is blocked and by which records."""

    text: str
    action: str
    touches: bool
    problems: list[str] = field(default_factory=list)
    records: list[Blocker] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return bool(self.problems)


def kind_words(_: Gettext) -> dict[str, str]:
    """Each kind of field in words (also the designer's list of kinds)."""
    return {
        "text": _("Text"),
        "multiline": _("Multi-line text"),
        "email": _("E-mail address"),
        "phone": _("Phone number"),
        "uri": _("Web address"),
        "uuid": _("Identifier (UUID)"),
        "integer": _("Whole number"),
        "int64": _("Large whole number"),
        "number": _("Number"),
        "decimal": _("Decimal (exact)"),
        "date": _("Date"),
        "datetime": _("Date and time"),
        "boolean": _("Yes/no"),
        "enum": _("Choice from a list"),
        "list": _("List of texts"),
        "reference": _("Reference to a record"),
        "autonumber": _("Auto-number"),
        "object": _("Free JSON"),
    }


def plugin_kind_words(
    formats: PluginFormats, in_use: Iterable[str], lang: str, _: Gettext
) -> dict[str, str]:
    """The enabled plugins' formats as kinds of field, by their label and plugin; a format a
    field uses whose plugin is off stays in the list (said so), so saving keeps it."""
    words = {
        f.name: _("%(label)s (plugin %(plugin)s)")
        % {"label": in_language(f.label, lang, f.name), "plugin": f.plugin}
        for f in sorted(formats, key=lambda f: f.name)
    }
    for kind in in_use:
        plugin = plugin_of(kind)
        if plugin is not None and kind not in words:
            words[kind] = _("%(format)s (plugin %(plugin)s is switched off)") % {
                "format": kind,
                "plugin": plugin,
            }
    return words


_MODEL_KINDS = {"string": "text", "array": "list", "ref": "reference"}


def _kind(prop: Property | None, _: Gettext) -> str:
    if prop is None:
        return "?"
    kind = _MODEL_KINDS.get(prop.kind, prop.kind)
    if prop.autonumber:
        kind = "autonumber"
    elif prop.schema.get("x-xrm-multiline") is True and kind == "text":
        kind = "multiline"
    return kind_words(_).get(kind, kind)


def _label(prop: Property | None, lang: str) -> str:
    if prop is None:
        return "?"
    return in_language(prop.label, lang, prop.name)


def _problem(rule: str, count: int, _: Gettext) -> str:
    n = {"n": count}
    if rule == "required":
        return _("Records that hold no value, though the field would be required: %(n)s.") % n
    if rule in ("type", "format", "items"):
        return _("Stored values that do not convert: %(n)s.") % n
    if rule == "unique":
        return _("Records that would share a value that must be unique: %(n)s.") % n
    if rule == "ref":
        return _("Values that point at no record: %(n)s.") % n
    return _("Stored values that break the new rule (%(rule)s): %(n)s.") % {**n, "rule": rule}


def _sentence(plan: Plan, step: Step, lang: str, _: Gettext, filled: int | None) -> str:
    field_name = _label(step.prop or step.old, lang)
    said = {"field": field_name}
    group = ", ".join(step.group)
    if step.action == "create_table":
        if step.relationship:
            rel = plan.relationships.get(step.target)
            labels = rel.definition.get("label") if rel is not None else None
            named = in_language(labels if isinstance(labels, Mapping) else None, lang, step.target)
            return _("Creates the relationship '%(name)s'.") % {"name": named}
        et = plan.types.get(step.target)
        named = in_language(et.label, lang, step.target) if et is not None else step.target
        return _("Creates the type '%(name)s'.") % {"name": named}
    if step.action == "add_column":
        text = _("Adds the field '%(field)s' (%(kind)s).") % {**said, "kind": _kind(step.prop, _)}
        if step.prop is not None and step.prop.has_default and not step.prop.autonumber:
            text += " " + _("The records already stored get its default value.")
        return text
    if step.action == "restore_column":
        return _("Restores '%(field)s' with its data.") % said
    if step.action == "retire_column":
        return _("Retires '%(field)s' (its data is kept and can be restored).") % said
    if step.action == "purge_column":
        return _("Deletes '%(field)s' and its data.") % said
    if step.action == "convert_column":
        text = _("Converts '%(field)s' from %(old)s to %(new)s.") % {
            **said,
            "old": _kind(step.old, _),
            "new": _kind(step.prop, _),
        }
        if filled is not None:
            text += " " + _("Stored values to convert: %(n)s.") % {"n": filled}
        return text
    if step.action == "check_rows":
        text = _("Checks the stored values of '%(field)s' against its new rules.") % said
        if filled is not None:
            text += " " + _("Stored values to check: %(n)s.") % {"n": filled}
        return text
    if step.action == "add_unique":
        return _("Makes %(fields)s unique.") % {"fields": group}
    if step.action == "drop_unique":
        return _("%(fields)s no longer need to be unique.") % {"fields": group}
    if step.action == "add_index":
        return _("Speeds up sorting and filtering by %(fields)s.") % {"fields": group}
    if step.action == "drop_index":
        return _("Removes the index on %(fields)s.") % {"fields": group}
    if step.action == "relink":
        return _("Links other types: the links stored so far are deleted.")
    return _("Updates labels and settings; no stored data changes.")


def plan_lines(
    plan: Plan,
    lang: str,
    _: Gettext,
    *,
    filled: Mapping[int, int] | None = None,
    names: Mapping[str, str] | None = None,
    entity: str = "",
) -> list[PlanLine]:
    """Every step of ``plan`` in words; ``filled`` counts stored values per step index,
    ``names`` names blocking records by id (linked under ``/admin/records/{entity}``)."""
    lines = []
    counts = filled or {}
    known = names or {}
    for index, step in enumerate(plan.steps):
        touches = step.action in TOUCHING or (
            step.action == "add_column" and step.prop is not None and step.prop.has_default
        )
        line = PlanLine(_sentence(plan, step, lang, _, counts.get(index)), step.action, touches)
        for fault in plan.refusals.get(index, ()):
            if fault.count:
                line.problems.append(_problem(fault.rule, fault.count, _))
            else:
                line.problems.append(_("This step cannot be made as defined."))
        if not step.relationship:
            for record_id in plan.blocking_records(index):
                line.records.append(
                    Blocker(
                        f"/admin/records/{entity or step.target}/{record_id}",
                        known.get(record_id) or _("(no name)"),
                    )
                )
        lines.append(line)
    return lines


def touches_data(lines: list[PlanLine]) -> bool:
    """Whether applying would read or change stored records (then the plan is shown first)."""
    return any(line.touches or line.blocked for line in lines)
