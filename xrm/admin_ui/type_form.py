"""The type designer's form, both ways: an entity-type definition <-> the fields of an HTML form.

A business admin edits a type as a form (name, labels in English and Korean,
one row per field with its kind and options), never as JSON; the JSON view is
a second view of the same definition. This module is the one translation
between the two, pure (no I/O): ``state_of`` turns a definition into the
form's values, ``definition_of`` turns posted values back into a definition
with every problem named by the input it is about.

Whatever a definition says that the form has no input for (a multi-field
unique set, indexes, a label in a third language, an array's item rules, a
value that would not survive an input box) travels in a hidden ``keep`` field
as JSON, at the type's level and per field, so editing through the form never
drops what someone wrote in the JSON view. A definition the form expresses
comes back exactly: the property test in tests/admin_ui checks that.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xrm.schemas.plugin_formats import plugin_of

Gettext = Callable[[str], str]

# Every kind a field can be given in the designer, in the order of its list (CONTRACT §3).
KINDS = (
    "text",
    "multiline",
    "email",
    "phone",
    "uri",
    "uuid",
    "integer",
    "int64",
    "number",
    "decimal",
    "date",
    "datetime",
    "boolean",
    "enum",
    "list",
    "reference",
    "autonumber",
    "object",
)
_BASE: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "multiline": {"type": "string", "x-xrm-multiline": True},
    "email": {"type": "string", "format": "email"},
    "phone": {"type": "string", "format": "phone"},
    "uri": {"type": "string", "format": "uri"},
    "uuid": {"type": "string", "format": "uuid"},
    "integer": {"type": "integer"},
    "int64": {"type": "integer", "format": "int64"},
    "number": {"type": "number"},
    "decimal": {"type": "string", "format": "decimal"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "boolean": {"type": "boolean"},
    "enum": {"type": "string"},
    "list": {"type": "array", "items": {"type": "string"}},
    "reference": {"type": "string"},
    "autonumber": {"type": "string"},
    "object": {"type": "object"},
}
_FORMAT_KINDS = {
    "email": "email",
    "phone": "phone",
    "uri": "uri",
    "uuid": "uuid",
    "decimal": "decimal",
    "date": "date",
    "date-time": "datetime",
}


def is_plugin_kind(kind: str) -> bool:
    """Whether ``kind`` is a plugin's format (``sample.voucher``): a text field it checks."""
    return plugin_of(kind) is not None


def _base(kind: str) -> dict[str, Any]:
    """The keywords that make a field of ``kind`` (a plugin's format is a string with it)."""
    return _BASE.get(kind, {"type": "string", "format": kind})


NUMBER_KINDS = frozenset({"integer", "int64", "number", "decimal"})
LENGTH_KINDS = frozenset({"text", "multiline", "email", "phone", "uri"})
PATTERN_KINDS = frozenset({"text", "multiline"})
TEXT_DEFAULT_KINDS = frozenset(
    {"text", "email", "phone", "uri", "uuid", "decimal", "date", "datetime", "enum"}
)
ON_DELETE = ("restrict", "cascade", "set_null")
LANGS = ("en", "ko")
# The inputs of one field row, posted as ``f<index>_<key>``.
ROW_KEYS = (
    "name",
    "kind",
    "label_en",
    "label_ko",
    "required",
    "unique",
    "min",
    "max",
    "min_length",
    "max_length",
    "pattern",
    "default",
    "enum",
    "ref_entity",
    "ref_on_delete",
    "ref_inverse",
    "autonumber",
    "keep",
)
CHECKBOXES = frozenset({"required", "unique"})
HEAD_KEYS = ("name", "plural", "label_en", "label_ko", "display", "description", "keep")
MAX_ROWS = 300
_ROW_INPUT = re.compile(r"^f([0-9]{1,4})_name$")
_INTEGER = re.compile(r"^-?(?:0|[1-9][0-9]*)$")


@dataclass(slots=True)
class FormState:
    """The designer form's values as posted: the type's own inputs and one dict per field row."""

    head: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, str]] = field(default_factory=list)

    def inputs(self) -> dict[str, str]:
        """The form as a browser posts it: ``name=value`` pairs, unticked boxes left out."""
        posted = {k: v for k, v in self.head.items()}
        for index, row in enumerate(self.rows):
            for key, value in row.items():
                if key in CHECKBOXES and not value:
                    continue
                posted[row_input(index, key)] = value
        return posted


def row_input(index: int, key: str) -> str:
    """The name of a field row's input (``f2_kind``): errors are placed by it too."""
    return f"f{index}_{key}"


def blank_row() -> dict[str, str]:
    """A new field row: a one-line text, nothing else chosen."""
    row = dict.fromkeys(ROW_KEYS, "")
    row["kind"] = "text"
    return row


# --- definition -> form ------------------------------------------------------------------------


def _line(value: Any) -> bool:
    """Whether ``value`` is text a one-line input gives back exactly (inputs are trimmed)."""
    return (
        isinstance(value, str)
        and value == value.strip()
        and "\n" not in value
        and "\r" not in value
        and "\x00" not in value
    )


def _number_text(value: Any) -> str | None:
    """A JSON number as typed in a box, or None when typing it back would not give it exactly."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    text = str(value) if isinstance(value, int) else repr(value)
    back = _read_number(text)
    return text if back is not None and type(back) is type(value) and back == value else None


def _read_number(text: str) -> int | float | None:
    if _INTEGER.match(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) and not text.lower().startswith(("nan", "inf")) else None


def kind_of(schema: Mapping[str, Any]) -> str:
    """The designer's kind for a property schema (unknown shapes read as free JSON)."""
    t = schema.get("type")
    fmt = schema.get("format")
    if "x-xrm-ref" in schema:
        return "reference"
    if t == "string":
        if "x-xrm-autonumber" in schema:
            return "autonumber"
        if "enum" in schema:
            return "enum"
        if isinstance(fmt, str) and fmt in _FORMAT_KINDS:
            return _FORMAT_KINDS[fmt]
        if isinstance(fmt, str) and is_plugin_kind(fmt):
            return fmt
        if schema.get("x-xrm-multiline") is True:
            return "multiline"
        return "text"
    if t == "integer":
        return "int64" if fmt == "int64" else "integer"
    if t in ("number", "boolean", "object"):
        return str(t)
    if t == "array":
        return "list"
    return "object"


def _labels_in(labels: Any, target: dict[str, str], keep: dict[str, Any], key: str) -> None:
    """English and Korean labels into ``target``; any other language (or shape) into ``keep``."""
    if not isinstance(labels, Mapping) or not all(_line(v) and v for v in labels.values()):
        keep[key] = labels
        return
    rest = {k: v for k, v in labels.items() if k not in LANGS}
    for lang in LANGS:
        if lang in labels:
            target[f"label_{lang}"] = labels[lang]
    if rest or not any(lang in labels for lang in LANGS):
        keep[key] = rest if any(lang in labels for lang in LANGS) else labels


def _enum_text(schema: Mapping[str, Any]) -> str | None:
    """Enum values with their labels, one per line (``value | English | 한국어``), or None."""
    values = schema.get("enum")
    labels = schema.get("x-xrm-enumLabels", {})
    if not isinstance(values, list) or not values or not isinstance(labels, Mapping):
        return None
    if "x-xrm-enumLabels" in schema and not labels:
        return None
    if not all(isinstance(v, str) and v and _line(v) and "|" not in v for v in values):
        return None
    if len(set(values)) != len(values) or not set(labels) <= set(values):
        return None
    lines = []
    for value in values:
        said = labels.get(value, {})
        if not isinstance(said, Mapping) or (value in labels and not said):
            return None
        if not set(said) <= set(LANGS):
            return None
        if not all(_line(t) and t and "|" not in t for t in said.values()):
            return None
        parts = [value, said.get("en", ""), said.get("ko", "")]
        while len(parts) > 1 and not parts[-1]:
            parts.pop()
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def _row_of(name: str, schema: Any, required: bool, unique: bool) -> dict[str, str]:
    row = blank_row()
    row["name"] = name
    row["required"] = "1" if required else ""
    row["unique"] = "1" if unique else ""
    if not isinstance(schema, Mapping):
        row["kind"] = "object"
        row["keep"] = json.dumps({"of": "object", "raw": schema}, ensure_ascii=False)
        return row
    kind = kind_of(schema)
    row["kind"] = kind
    keep: dict[str, Any] = dict(schema)
    for key, value in _base(kind).items():
        if key in keep and keep[key] == value and type(keep[key]) is type(value):
            del keep[key]
    if "x-xrm-label" in keep:
        _labels_in(keep.pop("x-xrm-label"), row, keep, "x-xrm-label")
    if kind in NUMBER_KINDS:
        for key, box in (("minimum", "min"), ("maximum", "max")):
            text = _number_text(keep.get(key))
            if text is not None:
                row[box] = text
                del keep[key]
    if kind in LENGTH_KINDS:
        for key, box in (("minLength", "min_length"), ("maxLength", "max_length")):
            value = keep.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                row[box] = str(value)
                del keep[key]
    if kind in PATTERN_KINDS and _line(keep.get("pattern")) and keep.get("pattern"):
        row["pattern"] = keep.pop("pattern")
    if "default" in keep:
        _default_in(kind, keep, row)
    if kind == "enum":
        text = _enum_text(keep)
        if text is not None:
            row["enum"] = text
            keep.pop("enum", None)
            keep.pop("x-xrm-enumLabels", None)
    if kind == "reference":
        _reference_in(keep, row)
    if kind == "autonumber" and _line(keep.get("x-xrm-autonumber")) and keep["x-xrm-autonumber"]:
        row["autonumber"] = keep.pop("x-xrm-autonumber")
    # The kind the kept keywords were written for: all of them come back while it stays.
    row["keep"] = json.dumps({"of": kind, "keep": keep}, ensure_ascii=False) if keep else ""
    return row


def _default_in(kind: str, keep: dict[str, Any], row: dict[str, str]) -> None:
    value = keep["default"]
    if kind in TEXT_DEFAULT_KINDS or kind in ("text", "multiline") or is_plugin_kind(kind):
        if _line(value) and value:
            row["default"] = value
            del keep["default"]
    elif kind in ("integer", "int64"):
        if isinstance(value, int) and not isinstance(value, bool):
            row["default"] = str(value)
            del keep["default"]
    elif kind == "number":
        text = _number_text(value)
        if text is not None:
            row["default"] = text
            del keep["default"]
    elif kind == "boolean" and isinstance(value, bool):
        row["default"] = "true" if value else "false"
        del keep["default"]


def _reference_in(keep: dict[str, Any], row: dict[str, str]) -> None:
    ref = keep.get("x-xrm-ref")
    if not isinstance(ref, Mapping) or not _line(ref.get("entity")) or not ref.get("entity"):
        return
    rest = dict(ref)
    row["ref_entity"] = rest.pop("entity")
    if rest.get("onDelete") in ON_DELETE:
        row["ref_on_delete"] = rest.pop("onDelete")
    if _line(rest.get("inverse")) and rest.get("inverse"):
        row["ref_inverse"] = rest.pop("inverse")
    if rest:
        keep["x-xrm-ref"] = rest
    else:
        del keep["x-xrm-ref"]


def state_of(definition: Mapping[str, Any]) -> FormState:
    """The form's values for ``definition`` (anything it cannot show goes into ``keep``)."""
    keep: dict[str, Any] = dict(definition)
    head = dict.fromkeys(HEAD_KEYS, "")
    if keep.get("type") == "object":
        del keep["type"]
    meta = keep.pop("x-xrm", None)
    meta_keep: dict[str, Any] = {}
    if isinstance(meta, Mapping):
        meta_keep = dict(meta)
        for key in ("name", "plural", "display"):
            if _line(meta_keep.get(key)) and meta_keep.get(key):
                head[key] = meta_keep.pop(key)
        if "label" in meta_keep:
            _labels_in(meta_keep.pop("label"), head, meta_keep, "label")
    elif meta is not None:
        keep["x-xrm"] = meta
    description = keep.get("description")
    if isinstance(description, str) and description and "\r" not in description:
        head["description"] = keep.pop("description")
    properties = keep.pop("properties", {})
    if not isinstance(properties, Mapping):
        keep["properties"] = properties
        properties = {}
    names = [n for n in properties if isinstance(n, str)]
    # Required and unique fields are ticked boxes: given back in the fields' order.
    required = keep.get("required")
    required_set: set[str] = set()
    if isinstance(required, list) and required and all(n in names for n in required):
        required_set = set(required)
        del keep["required"]
    unique = meta_keep.get("unique")
    unique_set: set[str] = set()
    if isinstance(unique, list) and unique and all(isinstance(g, list) for g in unique):
        singles = [g[0] for g in unique if len(g) == 1 and isinstance(g[0], str)]
        multis = [g for g in unique if len(g) != 1]
        if all(n in names for n in singles) and len(singles) + len(multis) == len(unique):
            unique_set = set(singles)
            if multis:
                meta_keep["unique"] = multis
            else:
                del meta_keep["unique"]
    if meta_keep:
        keep["x-xrm"] = meta_keep
    rows = [_row_of(n, properties[n], n in required_set, n in unique_set) for n in names]
    head["keep"] = json.dumps(keep, ensure_ascii=False) if keep else ""
    return FormState(head, rows)


# --- form -> definition ------------------------------------------------------------------------


def state_from(form: Mapping[str, Any]) -> FormState:
    """The form's values from what was posted (a multidict or a plain mapping)."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.replace("\r\n", "\n") if isinstance(value, str) else ""

    head = {key: text(key) for key in HEAD_KEYS}
    indexes = sorted(
        {int(m.group(1)) for key in form if isinstance(key, str) and (m := _ROW_INPUT.match(key))}
    )[:MAX_ROWS]
    rows = [{key: text(row_input(i, key)) for key in ROW_KEYS} for i in indexes]
    return FormState(head, rows)


class _Errors:
    """Problems found in the posted form, each by the name of its input."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def add(self, where: str, text: str) -> None:
        self.found.setdefault(where, text)


def _kept(raw: str, where: str, errors: _Errors, _: Gettext) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        errors.add(where, _("This form was changed outside the page. Reload it and try again."))
        return {}
    return value


def _labels_out(row: Mapping[str, str], kept: Any) -> Any:
    typed = {lang: row.get(f"label_{lang}", "").strip() for lang in LANGS}
    typed = {k: v for k, v in typed.items() if v}
    if isinstance(kept, Mapping):
        merged = {**kept, **typed}
        return merged or None
    if typed:
        return typed
    return kept


def _enum_out(text: str, where: str, errors: _Errors, _: Gettext) -> tuple[list[str], dict]:
    values: list[str] = []
    labels: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) > 3 or not parts[0]:
            errors.add(where, _("Write one value per line: value | English label | Korean label"))
            continue
        value = parts[0]
        if value in values:
            errors.add(where, _("The value %(value)s is listed twice.") % {"value": value})
            continue
        values.append(value)
        said = {lang: t for lang, t in zip(LANGS, parts[1:], strict=False) if t}
        if said:
            labels[value] = said
    return values, labels


def _row_schema(
    index: int, row: Mapping[str, str], errors: _Errors, _: Gettext
) -> dict[str, Any] | None:
    def at(key: str) -> str:
        return row_input(index, key)

    kind = row.get("kind", "")
    if kind not in KINDS and not is_plugin_kind(kind):
        errors.add(at("kind"), _("Choose a kind from the list."))
        return None
    kept = _kept(row.get("keep", ""), at("name"), errors, _)
    same_kind = kept.get("of") == kind
    if same_kind and "raw" in kept:  # a property that was not even a JSON object
        return {"raw": kept["raw"]}
    keep = kept.get("keep", {})
    if not isinstance(keep, dict):
        keep = {}
    schema: dict[str, Any] = dict(_base(kind))
    schema.update(
        {
            k: v
            for k, v in keep.items()
            if k not in ("x-xrm-label", "x-xrm-ref") and (same_kind or _applies(k, kind))
        }
    )
    labels = _labels_out(row, keep.get("x-xrm-label"))
    if labels is not None:
        schema["x-xrm-label"] = labels
    if kind in NUMBER_KINDS:
        for box, key in (("min", "minimum"), ("max", "maximum")):
            typed = row.get(box, "").strip()
            if typed:
                number = _read_number(typed)
                if number is None:
                    errors.add(at(box), _("Enter a number."))
                else:
                    schema[key] = number
    if kind in LENGTH_KINDS:
        for box, key in (("min_length", "minLength"), ("max_length", "maxLength")):
            typed = row.get(box, "").strip()
            if typed:
                if not _INTEGER.match(typed) or int(typed) < 0 or len(typed) > 9:
                    errors.add(at(box), _("Enter a whole number, 0 or more."))
                else:
                    schema[key] = int(typed)
    if kind in PATTERN_KINDS and row.get("pattern", "").strip():
        schema["pattern"] = row["pattern"].strip()
    _default_out(kind, row.get("default", "").strip(), schema, at("default"), errors, _)
    if kind == "enum":
        typed = row.get("enum", "")
        if typed.strip():
            values, enum_labels = _enum_out(typed, at("enum"), errors, _)
            schema["enum"] = values
            schema.pop("x-xrm-enumLabels", None)
            if enum_labels:
                schema["x-xrm-enumLabels"] = enum_labels
        elif "enum" not in schema:
            errors.add(at("enum"), _("Enter at least one value."))
    if kind == "reference":
        _reference_out(row, keep.get("x-xrm-ref"), schema, index, errors, _)
    if kind == "autonumber":
        typed = row.get("autonumber", "").strip()
        if typed:
            schema["x-xrm-autonumber"] = typed
        elif "x-xrm-autonumber" not in schema:
            errors.add(at("autonumber"), _("Enter the numbering pattern, for example GRV-{seq:6}."))
    return schema


_STRING_KEYS = frozenset({"minLength", "maxLength", "pattern"})
_NUMBER_KEYS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
_ARRAY_KEYS = frozenset({"items", "minItems", "maxItems", "uniqueItems"})


def _applies(key: str, kind: str) -> bool:
    """Whether a kept keyword still applies once a field is given ``kind`` (others are dropped,
    so turning a list into a text does not carry the list's rules along)."""
    if key == "type":
        return False
    if key in _ARRAY_KEYS:
        return kind == "list"
    if key in _NUMBER_KEYS:
        return kind in NUMBER_KINDS
    if key in _STRING_KEYS:
        return _base(kind).get("type") == "string" and kind != "reference"
    if key in ("enum", "x-xrm-enumLabels"):
        return kind in ("enum", "list")
    if key == "x-xrm-autonumber":
        return kind == "autonumber"
    if key == "x-xrm-multiline":
        return kind == "text"
    return key != "format"


def _default_out(
    kind: str, typed: str, schema: dict[str, Any], where: str, errors: _Errors, _: Gettext
) -> None:
    if not typed:
        return
    if kind in TEXT_DEFAULT_KINDS or kind in ("text", "multiline") or is_plugin_kind(kind):
        schema["default"] = typed
    elif kind in ("integer", "int64"):
        if _INTEGER.match(typed) and len(typed) < 20:
            schema["default"] = int(typed)
        else:
            errors.add(where, _("Enter a whole number."))
    elif kind == "number":
        number = _read_number(typed)
        if number is None:
            errors.add(where, _("Enter a number."))
        else:
            schema["default"] = number
    elif kind == "boolean":
        if typed in ("true", "false"):
            schema["default"] = typed == "true"
        else:
            errors.add(where, _("Choose yes or no."))
    else:
        errors.add(where, _("This kind of field has no default here."))


def _reference_out(
    row: Mapping[str, str],
    kept: Any,
    schema: dict[str, Any],
    index: int,
    errors: _Errors,
    _: Gettext,
) -> None:
    entity = row.get("ref_entity", "").strip()
    if not entity:
        if kept is not None:
            schema["x-xrm-ref"] = kept
        else:
            errors.add(row_input(index, "ref_entity"), _("Choose the type it refers to."))
        return
    ref: dict[str, Any] = dict(kept) if isinstance(kept, Mapping) else {}
    ref["entity"] = entity
    on_delete = row.get("ref_on_delete", "").strip()
    if on_delete:
        if on_delete in ON_DELETE:
            ref["onDelete"] = on_delete
        else:
            errors.add(row_input(index, "ref_on_delete"), _("Choose an option from the list."))
    inverse = row.get("ref_inverse", "").strip()
    if inverse:
        ref["inverse"] = inverse
    schema["x-xrm-ref"] = ref


def _blank(row: Mapping[str, str]) -> bool:
    """A row nobody filled in (e.g. added and left empty): skipped rather than refused."""
    return not any(v.strip() for k, v in row.items() if k not in ("kind", "keep"))


def _names_in(group: Any, properties: Mapping[str, Any]) -> bool:
    """Whether a unique set or index names only fields the form still has."""
    return isinstance(group, list) and all(isinstance(n, str) and n in properties for n in group)


def definition_of(state: FormState, _: Gettext) -> tuple[dict[str, Any], dict[str, str]]:
    """The definition the form describes, and every problem by input name (empty when none).

    Only the form's own problems are found here (a number that is not one, a
    kind not in the list); the rules of definitions themselves are checked
    by the registry, whose faults the page places with :func:`input_for`.
    """
    errors = _Errors()
    head = state.head
    keep = _kept(head.get("keep", ""), "name", errors, _)
    definition: dict[str, Any] = {"type": "object"}
    meta_keep = keep.pop("x-xrm", None)
    definition.update(keep)
    meta: dict[str, Any] = dict(meta_keep) if isinstance(meta_keep, Mapping) else {}
    for key in ("name", "plural", "display"):
        value = head.get(key, "").strip()
        if value:
            meta[key] = value
        elif key != "display":
            errors.add(key, _("This is required."))
    labels = _labels_out(head, meta.get("label"))
    if labels is not None:
        meta["label"] = labels
    description = head.get("description", "").strip()
    if description:
        definition["description"] = description
    properties: dict[str, Any] = {}
    required: list[str] = []
    singles: list[list[str]] = []
    for index, row in enumerate(state.rows):
        name = row.get("name", "").strip()
        if not name:
            if not _blank(row):
                errors.add(row_input(index, "name"), _("Give the field a name."))
            continue
        if name in properties:
            errors.add(row_input(index, "name"), _("Another field has this name."))
            continue
        schema = _row_schema(index, row, errors, _)
        if schema is None:
            continue
        properties[name] = schema["raw"] if list(schema) == ["raw"] else schema
        if row.get("required"):
            required.append(name)
        if row.get("unique"):
            singles.append([name])
    definition["properties"] = properties
    if required:
        definition["required"] = required
    kept_unique = meta.get("unique")
    groups: list[Any] = kept_unique if isinstance(kept_unique, list) else []
    unique = singles + [g for g in groups if _names_in(g, properties)]
    if unique:
        meta["unique"] = unique
    else:
        meta.pop("unique", None)
    if isinstance(meta.get("indexes"), list):
        meta["indexes"] = [g for g in meta["indexes"] if _names_in(g, properties)]
        if not meta["indexes"]:
            del meta["indexes"]
    definition["x-xrm"] = meta
    return definition, errors.found


# --- placing the registry's faults -------------------------------------------------------------

_PROPERTY_KEYS = {
    "minimum": "min",
    "exclusiveMinimum": "min",
    "maximum": "max",
    "exclusiveMaximum": "max",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
    "default": "default",
    "enum": "enum",
    "x-xrm-enumLabels": "enum",
    "x-xrm-ref": "ref_entity",
    "x-xrm-autonumber": "autonumber",
    "x-xrm-label": "label_en",
    "type": "kind",
    "format": "kind",
}
_HEAD_PATHS = {
    "x-xrm.name": "name",
    "x-xrm.plural": "plural",
    "x-xrm.display": "display",
    "x-xrm.label": "label_en",
    "description": "description",
}


def input_for(path: str, state: FormState) -> str | None:
    """The input a definition fault's JSON path is about (``properties.rating.maximum`` ->
    ``f2_max``), or None when the form has no input for it (the fault is shown above)."""
    for prefix, name in _HEAD_PATHS.items():
        if path == prefix or path.startswith(prefix + "."):
            return name
    parts = path.split(".")
    if len(parts) >= 2 and parts[0] in ("properties", "required"):
        wanted = parts[1]
        for index, row in enumerate(state.rows):
            if row.get("name", "").strip() == wanted:
                if parts[0] == "required":
                    return row_input(index, "required")
                if len(parts) >= 4 and parts[2] == "x-xrm-ref" and parts[3] == "inverse":
                    return row_input(index, "ref_inverse")
                key = _PROPERTY_KEYS.get(parts[2], "name") if len(parts) >= 3 else "name"
                return row_input(index, key)
    return None
