"""Parse raw JSON definitions into checked, frozen objects, listing every fault by JSON path.

Two passes: the meta-schemas in ``meta/`` refuse unknown keywords and wrong
shapes; then the rules JSON Schema cannot express (names, reserved words,
keyword/kind combinations, references between types) are checked here.
Nothing is touched before a definition passes both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from xrm.errors import DefinitionError, Fault
from xrm.schemas.graphql_names import clashes
from xrm.schemas.model import (
    DuplicateRule,
    EntityType,
    InverseField,
    LinkField,
    MatchField,
    Property,
    Reference,
    Relationship,
)
from xrm.schemas.naming import (
    MAX_SQL_IDENTIFIER,
    RESERVED_PROPERTIES,
    RESERVED_TYPES,
    SYSTEM_REFERENCE_COLUMNS,
    constraint_name,
    entity_table,
    name_problem,
    relationship_table,
)
from xrm.schemas.plugin_formats import plugin_of
from xrm.schemas.validate import compile_property

SYSTEM_ENTITY_TYPES = frozenset({"user"})
FORMAT_KINDS = {
    "email": "email",
    "uri": "uri",
    "date": "date",
    "date-time": "datetime",
    "phone": "phone",
    "uuid": "uuid",
    "decimal": "decimal",
}
BUILTIN_FORMATS = (*FORMAT_KINDS, "int64")
_STRING_ONLY = ("minLength", "maxLength", "pattern")
_NUMBER_ONLY = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_ARRAY_ONLY = ("items", "minItems", "maxItems", "uniqueItems")


@cache
def _validator(name: str) -> Draft202012Validator:
    meta = resources.files("xrm.schemas") / "meta"
    documents = {
        p.name: json.loads(p.read_text("utf-8")) for p in meta.iterdir() if p.name.endswith(".json")
    }
    registry: Registry = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in documents.values()
    )
    return Draft202012Validator(documents[name], registry=registry)


def _path(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts)


def meta_faults(name: str, definition: Any) -> list[Fault]:
    """Faults of ``definition`` against the meta-schema ``name``, each at its JSON path."""
    faults = []
    for error in sorted(_validator(name).iter_errors(definition), key=lambda e: list(e.path)):
        path = _path(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = error.schema.get("properties", {})
            for key in error.instance:
                if key not in allowed:
                    faults.append(
                        Fault(_path([*error.absolute_path, key]), f"unknown keyword {key!r}")
                    )
            continue
        faults.append(Fault(path, error.message))
    return faults


def _touches(faults: Iterable[Fault], path: str) -> bool:
    """Whether a meta-schema fault lies at, inside or above ``path`` (so its shape is unknown)."""
    return any(
        f.field == path
        or f.field.startswith(path + ".")
        or path.startswith(f.field + ".")
        or not f.field
        for f in faults
    )


def _skeleton(definition: Any, *blocks: str) -> bool:
    """Whether ``definition`` is sound enough, despite meta faults, to check its names too."""
    if not isinstance(definition, dict):
        return False
    if any(not isinstance(definition.get(block), dict) for block in blocks):
        return False
    properties = definition.get("properties", {})
    required = definition.get("required", [])
    return (
        isinstance(properties, dict)
        and isinstance(required, list)
        and all(isinstance(n, str) for n in required)
    )


def kind_of(schema: Mapping[str, Any]) -> str:
    """The storage kind of a (meta-schema valid) property schema."""
    if "x-xrm-ref" in schema:
        return "ref"
    t = schema["type"]
    fmt = schema.get("format")
    if t == "string":
        if fmt in FORMAT_KINDS:
            return FORMAT_KINDS[fmt]
        return "enum" if "enum" in schema else "string"
    if t == "integer":
        return "int64" if fmt == "int64" else "integer"
    return str(t)


def _property_faults(
    path: str, name: str, schema: Mapping[str, Any], *, refs_allowed: bool
) -> list[Fault]:
    faults: list[Fault] = []
    here = f"{path}.{name}"
    problem = name_problem(name)
    if problem:
        faults.append(Fault(here, f"bad property name: {problem}"))
    elif name in RESERVED_PROPERTIES:
        faults.append(Fault(here, f"{name!r} is a reserved property name"))
    elif name in SYSTEM_REFERENCE_COLUMNS:
        faults.append(Fault(here, f"{name!r} is reserved for the system reference 'owner'"))
    t = schema.get("type")
    fmt = schema.get("format")
    if fmt is not None and fmt not in BUILTIN_FORMATS and plugin_of(fmt) is None:
        faults.append(
            Fault(
                f"{here}.format",
                f"unknown format {fmt!r}: use one of {', '.join(BUILTIN_FORMATS)}, "
                "or a plugin's format spelled <plugin>.<format>",
            )
        )
    elif fmt is not None:
        ok = (t == "string" and fmt != "int64") or (t == "integer" and fmt == "int64")
        if not ok:
            faults.append(Fault(f"{here}.format", f"format {fmt!r} does not apply to type {t!r}"))
    if "enum" in schema and (t != "string" or fmt is not None):
        faults.append(Fault(f"{here}.enum", "enum applies to plain strings only"))
    for key in _STRING_ONLY:
        if key in schema and t != "string":
            faults.append(Fault(f"{here}.{key}", f"{key} applies to strings only"))
    for key in _NUMBER_ONLY:
        if key in schema and t not in ("integer", "number") and fmt != "decimal":
            faults.append(Fault(f"{here}.{key}", f"{key} applies to numbers only"))
    for key in _ARRAY_ONLY:
        if key in schema and t != "array":
            faults.append(Fault(f"{here}.{key}", f"{key} applies to arrays only"))
    if t == "array" and "items" not in schema:
        faults.append(Fault(f"{here}.items", 'an array needs items: {"type": "string"}'))
    for where, owner in ((here, schema), (f"{here}.items", schema.get("items"))):
        pattern = owner.get("pattern") if isinstance(owner, Mapping) else None
        if isinstance(pattern, str) and (problem := pattern_problem(pattern)):
            faults.append(Fault(f"{where}.pattern", problem))
    if "x-xrm-autonumber" in schema and (t != "string" or fmt is not None or "enum" in schema):
        faults.append(Fault(f"{here}.x-xrm-autonumber", "autonumber applies to plain strings only"))
    if "x-xrm-enumLabels" in schema:
        items = schema.get("items")
        values = schema.get("enum") or (items.get("enum") if isinstance(items, Mapping) else None)
        labelled = schema["x-xrm-enumLabels"]
        if not values:
            faults.append(Fault(f"{here}.x-xrm-enumLabels", "enum labels need an enum"))
        elif isinstance(labelled, Mapping):
            for value in sorted(set(labelled) - set(values)):
                faults.append(
                    Fault(f"{here}.x-xrm-enumLabels.{value}", f"{value!r} is not an enum value")
                )
    if "x-xrm-ref" in schema:
        if not refs_allowed:
            faults.append(
                Fault(f"{here}.x-xrm-ref", "relationship attributes cannot be references")
            )
        elif t != "string" or fmt not in (None, "uuid") or "enum" in schema:
            faults.append(Fault(f"{here}.type", 'a reference is declared as {"type": "string"}'))
        ref = schema["x-xrm-ref"]
        inverse = ref.get("inverse")
        if inverse is not None and (problem := name_problem(inverse)):
            faults.append(Fault(f"{here}.x-xrm-ref.inverse", f"bad inverse name: {problem}"))
    for key in ("minLength", "minimum", "minItems"):
        upper = {"minLength": "maxLength", "minimum": "maximum", "minItems": "maxItems"}[key]
        if key in schema and upper in schema and schema[key] > schema[upper]:
            faults.append(Fault(f"{here}.{key}", f"{key} is greater than {upper}"))
    return faults


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be compiled, or None.

    Besides a syntax error (``re.error``), Python's compiler overflows on a
    repetition past its limit (``a{99999999999}``: OverflowError) and on
    groups nested past the stack (RecursionError).
    """
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"not a valid regular expression: {exc}"
    except OverflowError:
        return "not a valid regular expression: a repetition count is too large"
    except RecursionError:
        return "not a valid regular expression: it nests too deeply"
    return None


def _default_problem(prop: Property) -> str | None:
    """Why ``prop``'s default is not a value the property accepts, or None when it is."""
    if prop.default is None:
        return "null is not a default; leave default out for none"
    try:
        compile_property(prop)(prop.default)
    except ValueError as exc:
        return f"the default is not a valid value: {exc}"
    return None


def parse_properties(
    path: str,
    raw: Mapping[str, Any],
    required: Iterable[str],
    *,
    refs_allowed: bool,
    meta_faults: Iterable[Fault] = (),
) -> tuple[dict[str, Property], list[Fault]]:
    """Properties of a type or relationship (also used to revive stored retired ones).

    Properties the meta-schema already refused (``meta_faults``) are skipped.
    """
    faults: list[Fault] = []
    required = list(required)
    required_set = set(required)
    meta_faults = list(meta_faults)
    props: dict[str, Property] = {}
    for name, schema in raw.items():
        if meta_faults and _touches(meta_faults, f"{path}.{name}"):
            continue
        own = _property_faults(path, name, schema, refs_allowed=refs_allowed)
        faults.extend(own)
        if own:
            continue
        ref = None
        if "x-xrm-ref" in schema:
            r = schema["x-xrm-ref"]
            ref = Reference(r["entity"], r.get("inverse"), r.get("onDelete", "restrict"))
        prop = Property(name, kind_of(schema), schema, name in required_set, ref)
        if prop.has_default and (problem := _default_problem(prop)):
            faults.append(Fault(f"{path}.{name}.default", problem))
        props[name] = prop
    for index, name in enumerate(required):
        if name not in raw:
            faults.append(Fault(f"required.{index}", f"{name!r} is required but not a property"))
    columns: dict[str, str] = {}
    for prop in props.values():
        if prop.ref is not None and prop.column in raw:
            faults.append(
                Fault(
                    f"{path}.{prop.column}",
                    f"{prop.column!r} is reserved for reference {prop.name!r}",
                )
            )
        if prop.ref is not None and prop.ref.on_delete == "set_null" and prop.required:
            faults.append(
                Fault(
                    f"{path}.{prop.name}.x-xrm-ref.onDelete", "set_null needs an optional reference"
                )
            )
        columns[prop.column] = prop.name
    return props, faults


def parse_entity_type(definition: Any, *, version: int = 1) -> EntityType:
    """Check one entity-type definition alone (references: :func:`check_catalog`)."""
    meta = meta_faults("entity-type.json", definition)
    if meta and not _skeleton(definition, "x-xrm", "properties"):
        raise DefinitionError(meta)
    faults = list(meta)
    xrm = definition["x-xrm"]
    for key in ("name", "plural"):
        if _touches(meta, f"x-xrm.{key}"):
            continue
        if problem := name_problem(xrm[key]):
            faults.append(Fault(f"x-xrm.{key}", problem))
    if not faults:
        if xrm["name"] == xrm["plural"]:
            faults.append(Fault("x-xrm.plural", "plural must differ from name"))
        for key in ("name", "plural"):
            if xrm[key] in RESERVED_TYPES:
                faults.append(Fault(f"x-xrm.{key}", f"{xrm[key]!r} is a reserved type name"))
    props, prop_faults = parse_properties(
        "properties",
        definition["properties"],
        definition.get("required", []),
        refs_allowed=True,
        meta_faults=meta,
    )
    faults.extend(prop_faults)
    display = xrm.get("display")
    if (
        display is not None
        and not _touches(meta, "x-xrm.display")
        and display not in definition["properties"]
    ):
        faults.append(Fault("x-xrm.display", f"display names {display!r}, which is not a property"))
    unique: list[tuple[str, ...]] = []
    groups = [] if _touches(meta, "x-xrm.unique") else xrm.get("unique", [])
    for i, group in enumerate(groups):
        for j, name in enumerate(group):
            if name not in definition["properties"]:
                faults.append(Fault(f"x-xrm.unique.{i}.{j}", f"{name!r} is not a property"))
            elif props.get(name) is not None and props[name].storage == "json":
                faults.append(Fault(f"x-xrm.unique.{i}.{j}", f"{name!r} is an array or object"))
        unique.append(tuple(group))
    indexes: list[tuple[str, ...]] = []
    groups = [] if _touches(meta, "x-xrm.indexes") else xrm.get("indexes", [])
    for i, group in enumerate(groups):
        for j, name in enumerate(group):
            if name not in definition["properties"]:
                faults.append(Fault(f"x-xrm.indexes.{i}.{j}", f"{name!r} is not a property"))
            elif props.get(name) is not None and props[name].storage == "json":
                faults.append(Fault(f"x-xrm.indexes.{i}.{j}", f"{name!r} is an array or object"))
        if tuple(group) in indexes:
            faults.append(Fault(f"x-xrm.indexes.{i}", "the same index is listed twice"))
        indexes.append(tuple(group))
    rules: list[DuplicateRule] = []
    if not _touches(meta, "x-xrm.duplicates"):
        rules, rule_faults = _duplicate_rules(xrm.get("duplicates", []), props)
        faults.extend(rule_faults)
    for rule in rules:  # the blocking field is looked up on every write: give it an index
        if not any(g[0] == rule.blocking for g in (*unique, *indexes)):
            indexes.append((rule.blocking,))
    # Lists and pickers are ordered by the display field (then the id) unless told otherwise:
    # indexed, a page of 50 from 100k records reads 50 rows instead of sorting them all.
    shown = props.get(display) if display is not None else None
    if (
        shown is not None
        and shown.storage != "json"
        and not any(g[0] == display for g in (*unique, *indexes))
    ):
        indexes.append((display,))
    if faults:
        raise DefinitionError(faults)
    return EntityType(
        name=xrm["name"],
        plural=xrm["plural"],
        definition=definition,
        properties=props,
        unique=tuple(unique),
        indexes=tuple(indexes),
        display=display,
        version=version,
        duplicates=tuple(rules),
    )


_FUZZY_KINDS = frozenset({"string", "email", "phone", "uri"})


def _duplicate_rules(
    raw: list[dict[str, Any]], props: Mapping[str, Property]
) -> tuple[list[DuplicateRule], list[Fault]]:
    """``x-xrm.duplicates`` (shape already checked by the meta-schema) as rules, with a fault
    naming the path of every field that is not a property, is stored as JSON, is fuzzy
    without being text, or repeats."""
    rules: list[DuplicateRule] = []
    faults: list[Fault] = []
    names: set[str] = set()
    for i, rule in enumerate(raw):
        here = f"x-xrm.duplicates.{i}"
        if rule["name"] in names:
            faults.append(Fault(f"{here}.name", f"another rule is named {rule['name']!r}"))
        names.add(rule["name"])
        seen: set[str] = set()
        match: list[MatchField] = []
        for j, item in enumerate(rule["match"]):
            at, name = f"{here}.match.{j}", item["field"]
            prop = props.get(name)
            if prop is None:
                faults.append(Fault(f"{at}.field", f"{name!r} is not a property"))
            elif prop.storage == "json":
                faults.append(Fault(f"{at}.field", f"{name!r} is an array or object"))
            elif "fuzzy" in item and prop.kind not in _FUZZY_KINDS:
                faults.append(
                    Fault(f"{at}.fuzzy", f"{name!r} is not text; only text compares fuzzily")
                )
            if name in seen:
                faults.append(Fault(f"{at}.field", f"{name!r} is matched twice in this rule"))
            seen.add(name)
            if "prefix" in item and "fuzzy" not in item:
                faults.append(Fault(f"{at}.prefix", "a prefix only narrows a fuzzy match"))
            match.append(MatchField(name, item.get("fuzzy"), item.get("prefix")))
        rules.append(
            DuplicateRule(rule["name"], tuple(match), rule["action"], rule.get("label") or {})
        )
    return rules, faults


def parse_relationship(definition: Any, *, version: int = 1) -> Relationship:
    """Check one many-to-many relationship definition on its own."""
    meta = meta_faults("relationship.json", definition)
    if meta and not _skeleton(definition):
        raise DefinitionError(meta)
    faults = list(meta)
    for key in ("relationship", "from", "to", "fromField", "toField"):
        if _touches(meta, key):
            continue
        if problem := name_problem(definition[key]):
            faults.append(Fault(key, problem))
    name = definition["relationship"]
    if not faults and len(relationship_table(name)) > MAX_SQL_IDENTIFIER:
        faults.append(Fault("relationship", "too long once prefixed"))
    if (
        not meta
        and definition["from"] == definition["to"]
        and definition["fromField"] == definition["toField"]
    ):
        faults.append(Fault("toField", "a relationship of a type to itself needs two field names"))
    props, prop_faults = parse_properties(
        "properties",
        definition.get("properties", {}),
        definition.get("required", []),
        refs_allowed=False,
        meta_faults=meta,
    )
    faults.extend(prop_faults)
    for prop in props:
        if prop in ("from_id", "to_id"):
            faults.append(Fault(f"properties.{prop}", f"{prop!r} is reserved in relationships"))
    if faults:
        raise DefinitionError(faults)
    return Relationship(
        name=name,
        from_entity=definition["from"],
        to_entity=definition["to"],
        from_field=definition["fromField"],
        to_field=definition["toField"],
        definition=definition,
        properties=props,
        version=version,
    )


def inverse_fields(types: Mapping[str, EntityType]) -> dict[str, dict[str, InverseField]]:
    """For each type, the to-many fields other types' references give it."""
    out: dict[str, dict[str, InverseField]] = {name: {} for name in types}
    for et in types.values():
        for prop in et.references:
            assert prop.ref is not None
            if prop.ref.inverse and prop.ref.entity in out:
                out[prop.ref.entity][prop.ref.inverse] = InverseField(
                    prop.ref.inverse, et.name, prop.name
                )
    return out


def link_fields(
    types: Mapping[str, EntityType], relationships: Mapping[str, Relationship]
) -> dict[str, dict[str, LinkField]]:
    """For each type, the fields its many-to-many relationships give it."""
    out: dict[str, dict[str, LinkField]] = {name: {} for name in types}
    for rel in relationships.values():
        if rel.from_entity in out:
            out[rel.from_entity][rel.from_field] = LinkField(
                rel.from_field, rel.name, rel.to_entity, True
            )
        if rel.to_entity in out:
            out[rel.to_entity][rel.to_field] = LinkField(
                rel.to_field, rel.name, rel.from_entity, False
            )
    return out


def check_catalog(
    types: Mapping[str, EntityType],
    relationships: Mapping[str, Relationship],
    *,
    focus: Iterable[str] = (),
) -> None:
    """Check rules spanning types: targets exist, names never collide, required refs never cycle.

    Names never collide in the definitions' own spelling nor in the GraphQL
    names generated from them (``xrm.schemas.graphql_names``), nor with the
    API's own names.

    ``focus`` names the definitions being changed; their faults are reported with
    their own JSON paths (prefixed by the definition's name when several are checked).
    """
    faults: list[Fault] = []
    focus = set(focus)

    def prefix(name: str) -> str:
        return "" if len(focus) <= 1 else f"{name}."

    names: dict[str, str] = {}
    # Types being changed come last, so a collision is reported on the one that caused it.
    for et in sorted(types.values(), key=lambda et: et.name in focus):
        for key in (et.name, et.plural):
            owner = names.get(key)
            if owner is not None and owner != et.name:
                where = "x-xrm.name" if key == et.name else "x-xrm.plural"
                faults.append(
                    Fault(prefix(et.name) + where, f"{key!r} is already used by type {owner!r}")
                )
            names[key] = et.name
    for et in types.values():
        for prop in et.references:
            assert prop.ref is not None
            here = f"{prefix(et.name)}properties.{prop.name}.x-xrm-ref"
            target = prop.ref.entity
            if target not in types and target not in SYSTEM_ENTITY_TYPES:
                faults.append(Fault(f"{here}.entity", f"no entity type named {target!r}"))
            if target in SYSTEM_ENTITY_TYPES and prop.ref.inverse:
                faults.append(
                    Fault(f"{here}.inverse", f"the system type {target!r} has no inverse fields")
                )
    for rel in relationships.values():
        for key, target in (("from", rel.from_entity), ("to", rel.to_entity)):
            if target not in types:
                faults.append(Fault(f"{prefix(rel.name)}{key}", f"no entity type named {target!r}"))
    faults.extend(_required_cycles(types, prefix, focus))
    # Generated GraphQL names: against the API's own and each other's (``graphql_names``);
    # a place already faulted above (a name used twice) is not faulted twice.
    faulted = {f.field for f in faults}
    for clash in clashes(types, relationships, focus):
        field = prefix(clash.owner) + clash.path
        if field not in faulted:
            faults.append(Fault(field, clash.message))
            faulted.add(field)
    for et in types.values():
        for group in et.unique:
            if len(constraint_name("uq", entity_table(et.name), *group)) > 200:
                faults.append(
                    Fault(f"{prefix(et.name)}x-xrm.unique", "too many columns in one unique set")
                )
        for group in et.indexes:
            if len(constraint_name("ix", entity_table(et.name), *group, "id")) > 200:
                faults.append(
                    Fault(f"{prefix(et.name)}x-xrm.indexes", "too many columns in one index")
                )
    if faults:
        raise DefinitionError(faults)


def _required_cycles(types: Mapping[str, EntityType], prefix: Any, focus: set[str]) -> list[Fault]:
    """A cycle of required references (A needs B needs A) could never get its first record.

    The fault sits on a reference of a definition being changed (``focus``) when
    the cycle has one, so its path points into the definition that caused it.
    """
    graph = {
        et.name: [(p.name, p.ref.entity) for p in et.references if p.required and p.ref is not None]
        for et in types.values()
    }
    faults: list[Fault] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[tuple[str, str]]) -> None:
        state[node] = 1
        for prop, target in graph.get(node, []):
            if state.get(target) == 1:
                edges = [*trail, (node, prop)]
                cycle = edges[next(i for i, (n, _) in enumerate(edges) if n == target) :]
                chain = " -> ".join(f"{n}.{p}" for n, p in cycle)
                at_node, at_prop = next(((n, p) for n, p in cycle if n in focus), (node, prop))
                faults.append(
                    Fault(
                        f"{prefix(at_node)}properties.{at_prop}",
                        f"required references form a cycle: {chain}",
                    )
                )
            elif state.get(target) is None and target in graph:
                visit(target, [*trail, (node, prop)])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
    return faults
