"""Compile an entity type into a fast validator that normalises and checks record values.

Records are checked on every write path (API, admin forms, import, scripts),
often thousands at a time, so each property is compiled once into a small
chain of closures instead of walking the JSON Schema per value. The
meta-schema only admits keywords handled here, so nothing is silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from xrm.errors import Fault
from xrm.schemas import formats
from xrm.schemas.model import FormatUnavailable, PluginFormat, Property

Normaliser = Callable[[Any], Any]


def _plugin(fmt: PluginFormat) -> Normaliser:
    """Text first (trimmed, no NUL), then the plugin's own spelling of it."""
    own = fmt.normalise

    def normalise(value: Any) -> str:
        return own(formats.text(value))

    return normalise


def _base(prop: Property, phone_region: str) -> Normaliser:
    kind = prop.kind
    if prop.plugin_format is not None:
        return _plugin(prop.plugin_format)
    if kind in ("string", "enum"):
        return formats.text
    if kind == "email":
        return formats.email
    if kind == "phone":
        return lambda v: formats.phone(v, phone_region)
    if kind == "uri":
        return formats.uri
    if kind in ("uuid", "ref"):
        return formats.uuid_text
    if kind == "date":
        return formats.date
    if kind == "datetime":
        return formats.datetime
    if kind == "decimal":
        return formats.decimal
    if kind == "integer":
        return formats.integer
    if kind == "int64":
        return lambda v: formats.integer(v, 64)
    if kind == "number":
        return formats.number
    if kind == "boolean":
        return formats.boolean
    if kind == "array":
        return _array(prop.schema.get("items", {}))
    if kind == "object":
        return _object
    raise AssertionError(f"unknown kind {kind}")


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    formats.json_data(value)
    return value


def _array(items: Mapping[str, Any]) -> Normaliser:
    item = _chain(formats.text, items)

    def normalise(value: Any) -> list[str]:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ValueError("expected a list of strings")
        out = []
        for index, element in enumerate(value):
            try:
                out.append(item(element))
            except ValueError as exc:
                raise ValueError(f"item {index}: {exc}") from None
        return out

    return normalise


def _chain(base: Normaliser, schema: Mapping[str, Any]) -> Normaliser:
    """Wrap ``base`` with the constraint keywords of ``schema``."""
    checks: list[Callable[[Any], None]] = []
    if "enum" in schema:
        allowed = tuple(schema["enum"])
        shown = ", ".join(allowed)

        def enum(v: Any) -> None:
            if v not in allowed:
                raise ValueError(f"{v!r} is not one of: {shown}")

        checks.append(enum)
    if "minLength" in schema:
        low = schema["minLength"]

        def min_length(v: Any) -> None:
            if len(v) < low:
                raise ValueError(f"must be at least {low} characters long")

        checks.append(min_length)
    if "maxLength" in schema:
        high = schema["maxLength"]

        def max_length(v: Any) -> None:
            if len(v) > high:
                raise ValueError(f"must be at most {high} characters long (is {len(v)})")

        checks.append(max_length)
    if "pattern" in schema:
        pattern = re.compile(schema["pattern"])
        source = schema["pattern"]

        def match(v: Any) -> None:
            if not pattern.search(v):
                raise ValueError(f"{v!r} does not match the pattern {source}")

        checks.append(match)
    for key, test, words in (
        ("minimum", lambda v, b: v >= b, "at least"),
        ("maximum", lambda v, b: v <= b, "at most"),
        ("exclusiveMinimum", lambda v, b: v > b, "greater than"),
        ("exclusiveMaximum", lambda v, b: v < b, "less than"),
    ):
        if key in schema:
            checks.append(_bound(schema[key], test, words))
    if "minItems" in schema:
        low_items = schema["minItems"]

        def min_items(v: Any) -> None:
            if len(v) < low_items:
                raise ValueError(f"needs at least {low_items} items")

        checks.append(min_items)
    if "maxItems" in schema:
        high_items = schema["maxItems"]

        def max_items(v: Any) -> None:
            if len(v) > high_items:
                raise ValueError(f"takes at most {high_items} items")

        checks.append(max_items)
    if schema.get("uniqueItems"):

        def unique_items(v: Any) -> None:
            if len(set(v)) != len(v):
                raise ValueError("items must be unique")

        checks.append(unique_items)
    if not checks:
        return base

    def normalise(value: Any) -> Any:
        result = base(value)
        for check in checks:
            check(result)
        return result

    return normalise


def _bound(limit: Any, test: Callable[[Any, Any], bool], words: str) -> Callable[[Any], None]:
    exact = Decimal(str(limit))

    def check(v: Any) -> None:
        if not test(Decimal(str(v)) if isinstance(v, (Decimal, float)) else v, exact):
            raise ValueError(f"must be {words} {limit}")

    return check


def compile_property(prop: Property, phone_region: str = "KR") -> Normaliser:
    """The function that turns one raw input value of ``prop`` into its stored value."""
    schema = prop.schema
    if prop.kind == "array":
        schema = {k: v for k, v in schema.items() if k in ("minItems", "maxItems", "uniqueItems")}
    return _chain(_base(prop, phone_region), schema)


class RecordValidator:
    """Normalises and checks the values of one entity type, reporting every fault at once."""

    def __init__(self, properties: Mapping[str, Property], phone_region: str = "KR") -> None:
        self.properties = dict(properties)
        self._normalise = {
            name: compile_property(p, phone_region) for name, p in properties.items()
        }
        self._defaults: list[tuple[str, Any]] = []
        for name, prop in properties.items():
            if prop.has_default:
                self._defaults.append((name, self._normalise[name](prop.default)))
        self._required = [n for n, p in properties.items() if p.required and not p.autonumber]
        self._blank_is_null = frozenset(n for n, p in properties.items() if p.storage != "json")

    def normalise(self, name: str, value: Any) -> Any:
        """One value, for filters and imports; raises ValueError."""
        return self._normalise[name](value)

    def _values(
        self,
        values: Mapping[str, Any],
        faults: list[Fault],
        prefix: str,
        stored: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        normalisers = self._normalise
        blank = self._blank_is_null
        for name, value in values.items():
            fn = normalisers.get(name)
            if fn is None:
                faults.append(Fault(prefix + name, "unknown field"))
                continue
            if value is None or (isinstance(value, str) and not value.strip() and name in blank):
                # Blank text (an empty form input or CSV cell) is the same as leaving it out.
                clean[name] = None
                continue
            try:
                clean[name] = fn(value)
            except FormatUnavailable as exc:
                # The plugin is gone: what the field holds may be sent back (a form resends
                # every field), anything new is refused.
                kept = stored.get(name) if stored is not None else None
                if kept is not None and isinstance(value, str) and value.strip() == kept:
                    clean[name] = kept
                else:
                    faults.append(Fault(prefix + name, str(exc)))
            except ValueError as exc:
                faults.append(Fault(prefix + name, str(exc)))
        return clean

    def for_create(
        self, values: Mapping[str, Any], prefix: str = ""
    ) -> tuple[dict[str, Any], list[Fault]]:
        """Values for a new record: defaults fill what is missing or null; required must be set."""
        faults: list[Fault] = []
        clean = self._values(values, faults, prefix)
        for name, default in self._defaults:
            if clean.get(name) is None:
                clean[name] = default
        for name in self._required:
            if clean.get(name) is None and not any(f.field == prefix + name for f in faults):
                faults.append(Fault(prefix + name, "is required"))
        return clean, faults

    def for_patch(
        self,
        patch: Mapping[str, Any],
        prefix: str = "",
        stored: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], list[Fault]]:
        """Values for a partial update: null clears a property, which a required one refuses.

        ``stored`` (the record as it is) lets a field whose format's plugin is gone take
        back the value it holds."""
        faults: list[Fault] = []
        clean = self._values(patch, faults, prefix, stored)
        for name, value in clean.items():
            if value is None and self.properties[name].required:
                faults.append(Fault(prefix + name, "is required and cannot be cleared"))
        return clean, faults
