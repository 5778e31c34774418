"""The list's filters: ``?field.op=value`` parameters read into the record service's filter.

One function, ``read_filters``, reads every filter parameter of a list's
address, so the address stays bookmarkable and the parsing lives in one
place. A filter parameter has a dot in its name:

- ``<field>.<op>`` on the type's own fields: ``amount.min``/``amount.max``
  (numbers, inclusive), ``signed_on.from``/``signed_on.to`` (dates and
  date-times, inclusive), ``title.contains`` (text, ignoring ASCII case);
- ``<reference>.<field>`` (equal) or ``<reference>.<field>.<op>`` on a field
  of the referenced record: ``customer.tier=gold`` lists the contracts whose
  customer is gold.

Values are checked here, with messages in the page's language naming the
filter, and become the record service's own filter (``{"customer": {"tier":
{"eq": "gold"}}}``), which alone decides what matches; no SQL is written here.
A filter that does not hold is not applied and its problem is shown beside it.
Equality on an enum or a reference (``?status.eq=open``, ``?customer.id=<id>``, and the older
``?status=open``) stays where ``record_views`` reads them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xrm.admin_ui.record_fields import (
    TEXT_KINDS,
    display_field,
    enum_label,
    enum_values,
    field_label,
    number_text,
)
from xrm.entities.records import RecordSession
from xrm.schemas import formats
from xrm.schemas.model import NUMERIC_KINDS, EntityType, Property

Gettext = Callable[[str], str]

RANGE_OPS = {"min": "gte", "max": "lte", "from": "gte", "to": "lte"}
MAX_TEXT = 200  # a longer "contains" is not a search anyone types
DATE_KINDS = frozenset({"date", "datetime"})
EQUAL_KINDS = frozenset({"enum", "boolean"})


def ops_of(prop: Property) -> tuple[str, ...]:
    """The filter operations a field takes ("" is equality)."""
    if prop.kind in NUMERIC_KINDS:
        return ("min", "max")
    if prop.kind in DATE_KINDS:
        return ("from", "to")
    if prop.kind in EQUAL_KINDS:
        return ("",)
    if prop.kind in TEXT_KINDS and prop.ref is None:
        return ("contains",)
    return ()


@dataclass(slots=True)
class Active:
    """One filter in force, in words: a chip the user can remove."""

    param: str
    value: str
    text: str
    remove_href: str = ""


@dataclass(slots=True)
class FilterInput:
    """One input of the filter form, named after its parameter."""

    param: str
    label: str  # the operation's words ("at least"); the field's label is the legend
    widget: str  # "text", "number", "date", "datetime-local" or "select"
    value: str
    options: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""


@dataclass(slots=True)
class FilterGroup:
    """The inputs of one field (a range has two), under the field's label."""

    legend: str
    inputs: list[FilterInput]


@dataclass(slots=True)
class Filters:
    where: list[dict[str, Any]]  # parts of the record service's filter, all of which hold
    active: list[Active]
    groups: list[FilterGroup]
    errors: list[str]  # problems of parameters that have no input in the form
    kept: list[tuple[str, str]]  # the filters in force, for links and other forms
    refused: list[tuple[str, str]] = field(default_factory=list)  # given but not in force

    @property
    def open(self) -> bool:
        """Whether the disclosure starts open: only when a filter was refused, so its problem
        is seen; the filters in force are chips outside it (on a phone, the list comes first)."""
        return bool(self.errors or self.problems)

    @property
    def problems(self) -> list[tuple[FilterGroup, FilterInput]]:
        """The inputs whose filter was refused, to be named at the top of the opened disclosure
        (on a phone the input itself may be screens below)."""
        return [(g, i) for g in self.groups for i in g.inputs if i.error]

    @property
    def unseen(self) -> list[tuple[str, str]]:
        """The filters in force that the form has no input for, kept as hidden inputs."""
        shown = {i.param for g in self.groups for i in g.inputs}
        return [(param, value) for param, value in self.kept if param not in shown]


def _fields(session: RecordSession, et: EntityType) -> list[Property]:
    hidden = session.hidden(et.name)
    return [p for p in et.properties.values() if p.name not in hidden and ops_of(p)]


def _targets(session: RecordSession, et: EntityType) -> list[tuple[Property, EntityType]]:
    """The references whose records the user may read, with the referenced type."""
    hidden = session.hidden(et.name)
    out = []
    for prop in et.references:
        assert prop.ref is not None
        target = session.catalog.types.get(prop.ref.entity)
        if (
            prop.name in hidden
            or target is None
            or target.system
            or session.permissions.scope(target.name, "read") == "none"
        ):
            continue
        out.append((prop, target))
    return out


def _op_words(op: str, _: Gettext) -> str:
    return {
        "min": _("at least"),
        "max": _("at most"),
        "from": _("from"),
        "to": _("until"),
        "contains": _("contains"),
        "": _("is"),
    }[op]


def _chip(op: str, _: Gettext) -> str:
    """A filter in force in words: the order of its parts is the language's."""
    return {
        "min": _("%(field)s: at least %(value)s"),
        "max": _("%(field)s: at most %(value)s"),
        "from": _("%(field)s: from %(value)s"),
        "to": _("%(field)s: until %(value)s"),
        "contains": _("%(field)s: contains %(value)s"),
        "": _("%(field)s: %(value)s"),
    }[op]


def _value(prop: Property, op: str, raw: str, lang: str, _: Gettext) -> tuple[Any, str]:
    """The filter value for the record service and its words, or ValueError with the problem
    in the page's language."""
    if formats.NUL in raw:
        raise ValueError(_("This holds a character that cannot be searched for."))
    kind = prop.kind
    if op == "contains":
        if len(raw) > MAX_TEXT:
            raise ValueError(_("Enter at most %(n)s characters.") % {"n": MAX_TEXT})
        return raw, f"“{raw}”"
    if kind in ("integer", "int64"):
        try:
            number = formats.integer(raw, 64 if kind == "int64" else 32)
        except ValueError:
            raise ValueError(_("Enter a whole number.")) from None
        return number, number_text(number, lang)
    if kind == "number":
        try:
            real = formats.number(raw)
        except ValueError:
            raise ValueError(_("Enter a number.")) from None
        if len(raw) > 40:
            raise ValueError(_("Enter a number."))
        return real, number_text(real, lang)
    if kind == "decimal":
        try:
            exact = formats.decimal(raw)
        except ValueError:
            raise ValueError(_("Enter a number of at most 28 digits.")) from None
        return str(exact), number_text(exact, lang)
    if kind == "date":
        try:
            day = dt.date.fromisoformat(raw) if len(raw) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise ValueError(_("Enter a date like 2026-01-31."))
        return day.isoformat(), day.isoformat()
    if kind == "datetime":
        try:
            moment = dt.datetime.fromisoformat(raw) if 16 <= len(raw) <= 19 else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is not None:
            raise ValueError(_("Enter a date and time like 2026-01-31T09:30 (UTC)."))
        moment = moment.replace(tzinfo=dt.UTC)
        return moment.isoformat(), moment.strftime("%Y-%m-%d %H:%M") + " UTC"
    if kind == "boolean":
        if raw not in ("1", "0"):
            raise ValueError(_("Choose yes or no."))
        return raw == "1", _("Yes") if raw == "1" else _("No")
    if kind == "enum":
        if raw not in enum_values(prop):
            raise ValueError(_("Choose one of the listed values."))
        return raw, enum_label(prop, raw, lang)
    raise ValueError(_("This field cannot be filtered."))


def _input(prop: Property, op: str, param: str, lang: str, _: Gettext) -> FilterInput:
    if prop.kind in EQUAL_KINDS:
        options = (
            [("1", _("Yes")), ("0", _("No"))]
            if prop.kind == "boolean"
            else [(v, enum_label(prop, v, lang)) for v in enum_values(prop)]
        )
        return FilterInput(param, _op_words(op, _), "select", "", options)
    widget = {"date": "date", "datetime": "datetime-local"}.get(prop.kind, "text")
    if prop.kind in NUMERIC_KINDS:
        widget = "number"
    return FilterInput(param, _op_words(op, _), widget, "")


def read_filters(
    session: RecordSession,
    et: EntityType,
    params: Any,
    lang: str,
    _: Gettext,
    skip: frozenset[str] = frozenset(),
) -> Filters:
    """Every ``?a.b=`` filter of a list's address: the record service's filter parts, the
    chips in words, the form's inputs with what was typed and each problem beside its input.
    ``skip``: parameters read elsewhere (``status.eq``, ``customer.id``: ``record_views``)."""
    groups: dict[str, FilterGroup] = {}
    inputs: dict[str, tuple[Property, str, FilterInput, str]] = {}  # param -> prop, op, input, of
    for prop in _fields(session, et):
        if prop.kind in EQUAL_KINDS:
            continue  # chosen beside the search box (``?status=open``)
        group = groups.setdefault(prop.name, FilterGroup(field_label(prop, lang), []))
        for op in ops_of(prop):
            param = f"{prop.name}.{op}"
            group.inputs.append(_input(prop, op, param, lang, _))
            inputs[param] = (prop, op, group.inputs[-1], "")
    for ref, target in _targets(session, et):
        shown = display_field(target, session.hidden(target.name))
        for prop in _fields(session, target):
            if prop.kind not in EQUAL_KINDS and prop.name != shown:
                continue
            legend = _("%(field)s of %(reference)s") % {
                "field": field_label(prop, lang),
                "reference": field_label(ref, lang),
            }
            group = groups.setdefault(f"{ref.name}.{prop.name}", FilterGroup(legend, []))
            for op in ops_of(prop):
                param = f"{ref.name}.{prop.name}" + (f".{op}" if op else "")
                group.inputs.append(_input(prop, op, param, lang, _))
                inputs[param] = (prop, op, group.inputs[-1], ref.name)

    where: list[dict[str, Any]] = []
    active: list[Active] = []
    errors: list[str] = []
    kept: list[tuple[str, str]] = []
    refused: list[tuple[str, str]] = []
    given: dict[str, list[str]] = {}
    items = params.multi_items() if hasattr(params, "multi_items") else list(params.items())
    for key, value in items:
        if "." in key and key not in skip:
            given.setdefault(key, []).append(value)
    for param, values in given.items():
        values = [v for v in values if v != ""]
        if not values:
            continue  # an empty input of the form: no filter
        known = inputs.get(param) or _other(session, et, param)
        shown_param = param if len(param) <= 60 else param[:57] + "..."
        if known is None:
            errors.append(_("There is no filter %(name)s.") % {"name": shown_param})
            refused.extend((param, v) for v in values)
            continue
        prop, op, item, of = known
        raw = values[-1]
        if item is not None:
            item.value = raw if len(raw) <= 500 else raw[:500]
        try:
            if len(set(values)) > 1:
                raise ValueError(_("This filter is given more than once."))
            value, words = _value(prop, op, raw, lang, _)
        except ValueError as exc:
            refused.extend((param, v) for v in values)
            if item is not None:
                item.error = str(exc)
            else:
                errors.append(f"{_filter_name(prop, of, et, lang, _)}: {exc}")
            continue
        comparison = {"contains": "contains", "": "eq"}.get(op) or RANGE_OPS[op]
        part: dict[str, Any] = {prop.name: {comparison: value}}
        if of:
            part = {of: part}
        where.append(part)
        name = _filter_name(prop, of, et, lang, _)
        text = _chip(op, _) % {"field": name, "value": words}
        active.append(Active(param, raw, text))
        kept.append((param, raw))
    return Filters(where, active, list(groups.values()), errors, kept, refused)


def _filter_name(prop: Property, of: str, et: EntityType, lang: str, _: Gettext) -> str:
    if not of:
        return field_label(prop, lang)
    return _("%(field)s of %(reference)s") % {
        "field": field_label(prop, lang),
        "reference": field_label(et.properties[of], lang),
    }


def _other(
    session: RecordSession, et: EntityType, param: str
) -> tuple[Property, str, FilterInput | None, str] | None:
    """A filter the form has no input for (a related text or range field): still allowed."""
    parts = param.split(".")
    own = {p.name: p for p in _fields(session, et)}
    if len(parts) == 2 and parts[0] in own and parts[1] in ops_of(own[parts[0]]):
        return own[parts[0]], parts[1], None, ""
    targets = {ref.name: target for ref, target in _targets(session, et)}
    if len(parts) in (2, 3) and parts[0] in targets:
        target = targets[parts[0]]
        fields = {p.name: p for p in _fields(session, target)}
        prop = fields.get(parts[1])
        op = parts[2] if len(parts) == 3 else ""
        if prop is not None and op in ops_of(prop):
            return prop, op, None, parts[0]
    return None
