"""Frozen, checked definitions: what every other layer reads instead of raw JSON.

A definition is parsed once (``xrm.schemas.parse``) into these objects; tables,
validators, queries and the API are compiled from them. They carry the raw
definition too, so exporting gives back exactly what an admin wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xrm.schemas.naming import entity_table, relationship_table

# Kinds: the storage-relevant shape of a property, derived from type + format.
STRING_KINDS = frozenset({"string", "email", "uri", "phone", "uuid", "enum"})
NUMERIC_KINDS = frozenset({"integer", "int64", "number", "decimal"})
TEMPORAL_KINDS = frozenset({"date", "datetime"})

# Each kind is stored in one storage class; a change inside one class needs no DDL.
STORAGE = {
    "string": "text",
    "email": "text",
    "uri": "text",
    "phone": "text",
    "uuid": "text",
    "enum": "text",
    "date": "date",
    "datetime": "datetime",
    "decimal": "decimal",
    "integer": "integer",
    "int64": "bigint",
    "number": "float",
    "boolean": "boolean",
    "array": "json",
    "object": "json",
    "ref": "ref",
}


class FormatUnavailable(ValueError):
    """A new value for a field whose format's plugin is disabled or not installed."""


@dataclass(frozen=True, slots=True)
class PluginFormat:
    """A string format a plugin adds, spelled ``<plugin>.<format>`` in definitions.

    ``normalise`` takes trimmed text and gives its stored spelling, or raises
    ``ValueError`` with words a user may read (the plugin manager wraps the
    plugin's own functions so that nothing else escapes). ``label`` is what the
    type designer shows, by language.
    """

    name: str
    plugin: str
    normalise: Callable[[str], str]
    label: Mapping[str, str] = field(default_factory=dict)
    available: bool = True
    # The plugin's refusal texts in other languages: {text: {lang: text}}.
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reference:
    """A many-to-one link: this property holds the id of a record of ``entity``."""

    entity: str
    inverse: str | None
    on_delete: str  # restrict | cascade | set_null


@dataclass(frozen=True, slots=True)
class Property:
    """One field of an entity type or of a relationship's attributes."""

    name: str
    kind: str
    schema: Mapping[str, Any]
    required: bool = False
    ref: Reference | None = None
    # A plugin's format (``"format": "<plugin>.<format>"``), bound by the registry: a pure
    # parse knows only the spelling, not which plugins this process has.
    plugin_format: PluginFormat | None = field(default=None, compare=False)

    @property
    def column(self) -> str:
        """The SQL column: a reference ``partner`` is stored as ``partner_id``."""
        return f"{self.name}_id" if self.ref is not None else self.name

    @property
    def storage(self) -> str:
        return STORAGE[self.kind]

    @property
    def enum(self) -> tuple[str, ...] | None:
        values = self.schema.get("enum")
        return tuple(values) if values is not None else None

    @property
    def has_default(self) -> bool:
        return "default" in self.schema

    @property
    def default(self) -> Any:
        return self.schema.get("default")

    @property
    def autonumber(self) -> str | None:
        return self.schema.get("x-xrm-autonumber")

    @property
    def label(self) -> Mapping[str, str]:
        return self.schema.get("x-xrm-label") or {"en": self.schema.get("title") or self.name}

    @property
    def enum_labels(self) -> Mapping[str, Mapping[str, str]]:
        """Each enum value's label by language (``x-xrm-enumLabels``); values without one are
        shown as they are."""
        return self.schema.get("x-xrm-enumLabels") or {}


# What a fuzzy-only duplicate rule blocks on when it names no prefix: the first two
# characters (a Korean surname and the next syllable; two letters of a Latin name).
DEFAULT_PREFIX = 2


@dataclass(frozen=True, slots=True)
class MatchField:
    """One field a duplicate rule compares: exactly, or fuzzily at or above ``fuzzy`` (0-1)."""

    field: str
    fuzzy: float | None = None
    prefix: int | None = None  # characters that must agree before a fuzzy comparison


@dataclass(frozen=True, slots=True)
class DuplicateRule:
    """A duplicate detection rule of ``x-xrm.duplicates``: ``block`` refuses, ``warn`` reports."""

    name: str
    match: tuple[MatchField, ...]
    action: str  # block | warn
    label: Mapping[str, str] = field(default_factory=dict)
    # Derived from ``match`` once, not on every use: a check reads them for every row.
    exact: tuple[str, ...] = field(init=False, compare=False)
    fuzzy: tuple[MatchField, ...] = field(init=False, compare=False)
    # The field whose index narrows the candidates: the first exact one, else the first
    # fuzzy one (by its prefix), so a check never reads the whole table.
    blocking: str = field(init=False, compare=False)
    # Characters of the blocking field that must agree when the rule has no exact field.
    prefix: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        exact = tuple(m.field for m in self.match if m.fuzzy is None)
        fuzzy = tuple(m for m in self.match if m.fuzzy is not None)
        object.__setattr__(self, "exact", exact)
        object.__setattr__(self, "fuzzy", fuzzy)
        first = fuzzy[0] if fuzzy else MatchField("")  # a rule with no field is refused
        object.__setattr__(self, "blocking", exact[0] if exact else first.field)
        object.__setattr__(self, "prefix", 0 if exact else first.prefix or DEFAULT_PREFIX)


@dataclass(frozen=True, slots=True)
class EntityType:
    """A checked entity type; ``properties`` are the live ones, ``retired`` keep their data."""

    name: str
    plural: str
    definition: Mapping[str, Any]
    properties: Mapping[str, Property]
    retired: Mapping[str, Property] = field(default_factory=dict)
    unique: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()  # for filtering and ordering; the id is appended
    display: str | None = None
    version: int = 1
    system: bool = False
    duplicates: tuple[DuplicateRule, ...] = ()

    @property
    def table_name(self) -> str:
        return entity_table(self.name)

    @property
    def title(self) -> str:
        return str(self.definition.get("title") or self.label.get("en") or self.name)

    @property
    def description(self) -> str | None:
        return self.definition.get("description")

    @property
    def label(self) -> Mapping[str, str]:
        xrm = self.definition.get("x-xrm", {})
        return xrm.get("label") or {"en": self.definition.get("title") or self.name}

    @property
    def references(self) -> tuple[Property, ...]:
        return tuple(p for p in self.properties.values() if p.ref is not None)

    def property(self, name: str) -> Property | None:
        return self.properties.get(name)


@dataclass(frozen=True, slots=True)
class Relationship:
    """A many-to-many link table between ``from_entity`` and ``to_entity``."""

    name: str
    from_entity: str
    to_entity: str
    from_field: str
    to_field: str
    definition: Mapping[str, Any]
    properties: Mapping[str, Property] = field(default_factory=dict)
    version: int = 1
    retired: Mapping[str, Property] = field(default_factory=dict)

    @property
    def table_name(self) -> str:
        return relationship_table(self.name)


@dataclass(frozen=True, slots=True)
class InverseField:
    """The to-many side of a reference, seen from the referenced type."""

    name: str  # field name on the referenced type, e.g. ``contacts`` on customer
    entity: str  # the type holding the reference, e.g. ``contact``
    property: str  # the reference property, e.g. ``customer``


@dataclass(frozen=True, slots=True)
class LinkField:
    """One side of a many-to-many relationship, seen from one of its types."""

    name: str  # field name on this type
    relationship: str
    other: str  # entity type on the other side
    outgoing: bool  # True when this type is the relationship's ``from``
