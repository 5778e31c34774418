"""What the record screens make of a definition: labels, columns, inputs and shown values.

A business admin never sees a property name, an enum value or a record id
where a label exists: type and field labels come from ``x-xrm.label`` and
``x-xrm-label``, enum values from ``x-xrm-enumLabels``, references from the
referenced record's display field, all in the page's language (English when
a label lacks it). Forms get one input per kind (CONTRACT §3) named after the
property, and what a form posts is turned back into values for the record
service, which alone decides what is valid.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

import phonenumbers
from babel import Locale
from babel.numbers import NumberPattern, parse_pattern
from starlette.datastructures import FormData

from xrm.platform.access import Hidden
from xrm.schemas.model import EntityType, Property

Gettext = Callable[[str], str]

TEXT_KINDS = frozenset({"string", "email", "uri", "phone"})  # searched by ``?q=``
COLUMN_KINDS_SKIPPED = frozenset({"array", "object"})
MAX_COLUMNS = 5  # the display field and four more: what fits a laptop screen
_INPUT_TYPES = {"email": "email", "uri": "url", "phone": "tel", "uuid": "text", "string": "text"}


def in_language(labels: Mapping[str, str] | None, lang: str, fallback: str) -> str:
    """A label in ``lang``, else in English, else any, else ``fallback``."""
    if not labels:
        return fallback
    return labels.get(lang) or labels.get("en") or next(iter(labels.values()), "") or fallback


def type_label(et: EntityType, lang: str) -> str:
    return in_language(et.label, lang, et.title)


def field_label(prop: Property, lang: str) -> str:
    return in_language(prop.label, lang, prop.name)


def enum_label(prop: Property, value: Any, lang: str) -> str:
    return in_language(prop.enum_labels.get(str(value)), lang, str(value))


def enum_values(prop: Property) -> tuple[str, ...]:
    """The allowed values of an enum, or of a list of enum strings."""
    if prop.enum is not None:
        return prop.enum
    items = prop.schema.get("items")
    return tuple(items.get("enum") or ()) if isinstance(items, Mapping) else ()


def display_field(et: EntityType, hidden: frozenset[str] = frozenset()) -> str | None:
    """The field that names a record: ``x-xrm.display``, else the first text field."""
    if et.display and et.display not in hidden:
        return et.display
    for prop in et.properties.values():
        if prop.kind in TEXT_KINDS and prop.ref is None and prop.name not in hidden:
            return prop.name
    return None


def columns(et: EntityType, hidden: frozenset[str]) -> list[Property]:
    """The list's columns: the display field, then the next scalar one-line fields."""
    shown: list[Property] = []
    first = display_field(et, hidden)
    if first is not None:
        shown.append(et.properties[first])
    for prop in et.properties.values():
        if len(shown) >= MAX_COLUMNS:
            break
        if (
            prop.name in hidden
            or prop.name == first
            or prop.kind in COLUMN_KINDS_SKIPPED
            or prop.schema.get("x-xrm-multiline")
        ):
            continue
        shown.append(prop)
    return shown


def sortable(prop: Property) -> bool:
    return prop.kind not in COLUMN_KINDS_SKIPPED


# --- shown values --------------------------------------------------------------------------------


def when(value: Any) -> str:
    """A date-time as the pages show it: in UTC, to the minute."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def shown_value(
    prop: Property,
    value: Any,
    lang: str,
    _: Gettext,
    names: Mapping[str, str] | None = None,
) -> str:
    """A stored value in words: labels for enums, names for references, yes/no, UTC times.

    ``names`` maps referenced ids to their records' names (read for the whole page at once).
    """
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, Hidden):
        return _("hidden")
    if prop.ref is not None:
        return (names or {}).get(str(value)) or _("(not visible to you)")
    if prop.kind == "boolean":
        return _("Yes") if value else _("No")
    if prop.kind == "enum":
        return enum_label(prop, value, lang)
    if prop.kind == "datetime":
        return when(value) + " UTC"
    if prop.kind == "date":
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if prop.kind == "array" and isinstance(value, Sequence) and not isinstance(value, str):
        if enum_values(prop):
            return ", ".join(enum_label(prop, v, lang) for v in value)
        return ", ".join(str(v) for v in value)
    if prop.kind == "object":
        if isinstance(value, Mapping):
            return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
        return _plain(value)
    if prop.kind in ("integer", "int64", "number", "decimal"):
        return number_text(value, lang)
    if prop.kind == "phone":
        return phone_text(str(value))
    return str(value)


def number_text(value: Any, lang: str) -> str:
    """A number with the language's digit grouping, keeping a decimal's written places."""
    try:
        if isinstance(value, Decimal) or (isinstance(value, str) and value):
            exact = Decimal(str(value))
            places = max(-int(exact.as_tuple().exponent), 0)
            return _number_pattern(places).apply(exact, _locale(lang))
        if isinstance(value, float):
            return _number_pattern(None).apply(value, _locale(lang), decimal_quantization=False)
        return _number_pattern(0).apply(value, _locale(lang))
    except (ArithmeticError, ValueError, TypeError):
        return str(value)


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


@cache
def _number_pattern(places: int | None) -> NumberPattern:
    """``#,##0`` with ``places`` decimals (None: as many as the number has), parsed once."""
    if places is None:
        return parse_pattern("#,##0.###")
    return parse_pattern("#,##0" + ("." + "0" * places if places else ""))


@lru_cache(maxsize=8192)
def phone_text(value: str) -> str:
    """A stored E.164 number (``+8223123456``) as people write it (``+82 2-312-3456``).

    Parsing a number costs about as much as rendering a row, so each is
    parsed once per process (a page shows the same numbers again and again).
    """
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def record_name(
    et: EntityType, record: Mapping[str, Any], _: Gettext, hidden: frozenset[str] = frozenset()
) -> str:
    """What a record is called: its display field's value, else ``(no name)``."""
    name = display_field(et, hidden)
    value = record.get(name) if name else None
    if value is None or value == "" or isinstance(value, Hidden):
        return _("(no name)")
    return str(value)


# --- form inputs ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Input:
    """One input of a record form, with everything its template needs."""

    name: str
    label: str
    widget: str  # text, textarea, number, date, datetime, checkbox, select, choices, lines, json
    input_type: str = "text"
    required: bool = False
    read_only: bool = False
    step: str | None = None
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    hint: str = ""
    value: Any = ""  # what the input shows: a string, a bool, or a list of strings
    shown: str = ""  # the value in words, for read-only fields
    error: str = ""
    search: bool = False  # a reference typed by name (too many records for a select)
    picker: str = ""  # where names are looked up as they are typed (the referenced list)


def widget_of(prop: Property) -> tuple[str, str, str | None]:
    """The widget, HTML input type and step for a property's kind."""
    kind = prop.kind
    if prop.ref is not None:
        return "select", "text", None
    if kind == "enum":
        return "select", "text", None
    if kind == "boolean":
        return "checkbox", "checkbox", None
    if kind in ("integer", "int64"):
        return "number", "number", "1"
    if kind == "number":
        return "number", "number", "any"
    if kind == "decimal":
        return "number", "text", None  # text with inputmode=decimal: no rounding by the browser
    if kind == "date":
        return "date", "date", None
    if kind == "datetime":
        return "datetime", "datetime-local", None
    if kind == "array":
        return ("choices" if enum_values(prop) else "lines"), "text", None
    if kind == "object":
        return "json", "text", None
    if prop.schema.get("x-xrm-multiline"):
        return "textarea", "text", None
    return "text", _INPUT_TYPES.get(kind, "text"), None


def input_value(prop: Property, value: Any) -> Any:
    """A stored value as its input shows it."""
    if value is None or isinstance(value, Hidden):
        return [] if prop.kind == "array" else ("" if prop.kind != "boolean" else False)
    if prop.kind == "boolean":
        return bool(value)
    if prop.kind == "datetime":
        moment = value
        if isinstance(moment, str):
            moment = dt.datetime.fromisoformat(moment)
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M")
    if prop.kind == "date":
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if prop.kind == "array":
        return [str(v) for v in value]
    if prop.kind == "object":
        return json.dumps(value, ensure_ascii=False, indent=2)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def posted_value(prop: Property, form: FormData) -> Any:
    """What the form posted for ``prop``, as a value for the record service.

    An empty input is ``None`` (on create the default applies; on update it
    clears the field). A value that does not parse is passed on as typed, so
    the record service names the field and the problem.
    """
    name = prop.name
    widget, _type, _step = widget_of(prop)
    if widget == "checkbox":
        return form.get(name) == "1"
    if widget == "choices":
        chosen = [str(v) for v in form.getlist(name) if str(v)]
        return chosen or None
    raw = str(form.get(name) or "")
    if widget == "lines":
        lines = [line.strip() for line in raw.splitlines() if line.strip()]
        return lines or None
    text = raw.strip()
    if text == "":
        return None
    if widget == "json":
        try:
            return json.loads(text)
        except ValueError:
            return text
    if prop.kind == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    if prop.kind == "number":
        try:
            return float(text)
        except ValueError:
            return text
    if prop.kind == "datetime" and len(text) == 16:
        return text + ":00+00:00"  # datetime-local has no zone: the form says it is UTC
    if widget == "textarea":
        return raw.replace("\r\n", "\n").strip()
    return text


def typed_back(prop: Property, raw: Any) -> Any:
    """What the user typed, for the form shown again after a refusal."""
    if prop.kind == "boolean":
        return bool(raw)
    if prop.kind == "array":
        return [str(v) for v in raw] if isinstance(raw, list) else []
    if raw is None:
        return ""
    if prop.kind == "datetime" and isinstance(raw, str) and raw.endswith(":00+00:00"):
        return raw[: -len(":00+00:00")]
    if prop.kind == "object" and not isinstance(raw, str):
        return json.dumps(raw, ensure_ascii=False, indent=2)
    return str(raw)
