"""Generate the strawberry schema of one catalog version, in the shape of CONTRACT §4.

Types are made at runtime with ``strawberry.type``/``strawberry.input`` over
classes built with ``type()``. Types refer to each other through
``strawberry.lazy`` against one synthetic module per schema version, so
mutually referencing types (a customer's contacts, a contact's customer) and
recursive filters resolve without import cycles. Scalar fields have no
resolver of their own: the configured default resolver reads them from the
record dicts, which is what keeps large lists cheap.
"""

from __future__ import annotations

import enum
import itertools
import sys
import types
from collections.abc import Callable
from typing import Annotated, Any, Optional

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from xrm.api import resolvers
from xrm.api.names import SYSTEM_FIELDS
from xrm.api.scalars import (
    JSON,
    SCALAR_MAP,
    BigIntScalar,
    DateScalar,
    DateTimeScalar,
    DecimalScalar,
)
from xrm.entities.catalog_state import Catalog
from xrm.schemas.model import EntityType, Property
from xrm.schemas.naming import camel, pascal

_serial = itertools.count(1)


@strawberry.enum(description="Sort direction: nulls come last ascending, first descending.")
class SortDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


class XrmSchema(strawberry.Schema):
    """A strawberry schema that leaves error logging to the view (which adds request ids)."""

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        return None


def _read(obj: Any, name: str) -> Any:
    """The default resolver: record dicts by key, anything else by attribute."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


CONFIG = StrawberryConfig(default_resolver=_read, auto_camel_case=False, scalar_map=SCALAR_MAP)

# Value kind -> (GraphQL type, comparison input name).
SCALARS: dict[str, tuple[Any, str]] = {
    "string": (str, "StringComparison"),
    "email": (str, "StringComparison"),
    "uri": (str, "StringComparison"),
    "phone": (str, "StringComparison"),
    "enum": (str, "StringComparison"),
    "uuid": (str, "StringComparison"),
    "date": (DateScalar, "DateComparison"),
    "datetime": (DateTimeScalar, "DateTimeComparison"),
    "decimal": (DecimalScalar, "DecimalComparison"),
    "integer": (int, "IntComparison"),
    "int64": (BigIntScalar, "BigIntComparison"),
    "number": (float, "FloatComparison"),
    "boolean": (bool, "BooleanComparison"),
    "array": (list[str], "ListComparison"),
    "object": (JSON, "ListComparison"),
}
COMPARISON_OPS = {
    "text": (
        "eq",
        "ne",
        "in",
        "notIn",
        "lt",
        "lte",
        "gt",
        "gte",
        "between",
        "contains",
        "startsWith",
    ),
    "ordered": ("eq", "ne", "in", "notIn", "lt", "lte", "gt", "gte", "between"),
    "equal": ("eq", "ne", "in", "notIn"),
    "bool": ("eq", "ne"),
    "none": (),
}


class _Module:
    """The synthetic module holding one schema version's types, for lazy references."""

    def __init__(self, version: int) -> None:
        self.name = f"xrm_graphql_schema_{version}_{next(_serial)}"
        self.module = types.ModuleType(self.name)
        sys.modules[self.name] = self.module

    def ref(self, type_name: str) -> Any:
        return Annotated[type_name, strawberry.lazy(self.name)]

    def add(self, cls: Any) -> Any:
        setattr(self.module, cls.__name__, cls)
        return cls

    def release(self) -> None:
        sys.modules.pop(self.name, None)


def _class(
    module: _Module,
    name: str,
    fields: dict[str, tuple[Any, Any]],
    *,
    is_input: bool = False,
    description: str | None = None,
) -> Any:
    """A strawberry type ``name`` with ``{python name: (annotation, strawberry field)}``."""
    namespace: dict[str, Any] = {
        "__annotations__": {k: a for k, (a, _) in fields.items() if a is not None},
        "__module__": module.name,
    }
    namespace.update({k: f for k, (_, f) in fields.items()})
    cls = type(name, (), namespace)
    decorate = strawberry.input if is_input else strawberry.type
    return module.add(decorate(cls, description=description))


def _resolver(fn: Callable[..., Any], name: str, module: _Module) -> Callable[..., Any]:
    fn.__name__ = f"resolve_{name}"  # strawberry names fields after resolvers otherwise
    return fn


def _optional_input(
    graphql_name: str, annotation: Any, description: str | None = None
) -> tuple[Any, Any]:
    return (
        Optional[annotation],  # noqa: UP045 - strawberry needs typing.Optional at runtime
        strawberry.field(name=graphql_name, default=strawberry.UNSET, description=description),
    )


class SchemaBuilder:
    """Builds the whole schema of one catalog; one builder per schema version."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.module = _Module(catalog.version)
        self.m = self.module

    # --- shared types ------------------------------------------------------------------------

    def _shared(self) -> None:
        m = self.m
        for kind, (annotation, name) in SCALARS.items():
            if hasattr(m.module, name):
                continue
            if name == "ListComparison":
                ops: tuple[str, ...] = ()
            elif name == "StringComparison":
                ops = COMPARISON_OPS["text"]
            elif name == "BooleanComparison":
                ops = COMPARISON_OPS["bool"]
            else:
                ops = COMPARISON_OPS["ordered"]
            fields: dict[str, tuple[Any, Any]] = {}
            for op in ops:
                many = op in ("in", "notIn", "between")
                fields[f"{op}_"] = _optional_input(op, list[annotation] if many else annotation)
            fields["is_null"] = _optional_input("isNull", bool)
            _class(m, name, fields, is_input=True, description=f"Comparisons of a {kind} field.")
        _class(
            m,
            "IDComparison",
            {
                **{f"{op}_": _optional_input(op, strawberry.ID) for op in ("eq", "ne")},
                **{f"{op}_": _optional_input(op, list[strawberry.ID]) for op in ("in", "notIn")},
                "is_null": _optional_input("isNull", bool),
            },
            is_input=True,
            description="Comparisons of an id.",
        )
        _class(
            m,
            "PageInfo",
            {
                "hasNextPage": (bool, strawberry.field(name="hasNextPage")),
                "endCursor": (Optional[str], strawberry.field(name="endCursor")),  # noqa: UP045
            },
        )
        _class(
            m,
            "User",
            {
                "id": (strawberry.ID, strawberry.field(name="id")),
                "email": (str, strawberry.field(name="email")),
                "name": (Optional[str], strawberry.field(name="name")),  # noqa: UP045
            },
            description="A user of xrm (read-only here).",
        )
        _class(
            m,
            "AuditEntry",
            {
                "at": (DateTimeScalar, strawberry.field(name="at")),
                "actor": (Optional[str], strawberry.field(name="actor")),  # noqa: UP045
                "action": (str, strawberry.field(name="action")),
                "changes": (Optional[JSON], strawberry.field(name="changes")),  # noqa: UP045
            },
            description="One change of a record: who, when, what (old and new values).",
        )
        _class(
            m,
            "AggregateGroup",
            {
                "group": (Optional[JSON], strawberry.field(name="group")),  # noqa: UP045
                "count": (int, strawberry.field(name="count")),
                "sum": (Optional[JSON], strawberry.field(name="sum")),  # noqa: UP045
                "avg": (Optional[JSON], strawberry.field(name="avg")),  # noqa: UP045
                "min": (Optional[JSON], strawberry.field(name="min")),  # noqa: UP045
                "max": (Optional[JSON], strawberry.field(name="max")),  # noqa: UP045
            },
        )
        _class(
            m,
            "EntityType",
            {
                "name": (str, strawberry.field(name="name")),
                "plural": (str, strawberry.field(name="plural")),
                "version": (int, strawberry.field(name="version")),
                "definition": (JSON, strawberry.field(name="definition")),
            },
        )
        _class(
            m,
            "Relationship",
            {
                "name": (str, strawberry.field(name="name")),
                "definition": (JSON, strawberry.field(name="definition")),
            },
        )

    # --- per entity type ---------------------------------------------------------------------

    def _value_type(self, prop: Property) -> Any:
        return SCALARS[prop.kind][0]

    def _object(self, et: EntityType) -> None:
        m, name = self.m, pascal(et.name)
        fields: dict[str, tuple[Any, Any]] = {
            "id": (strawberry.ID, strawberry.field(name="id")),
        }
        for prop in et.properties.values():
            description = prop.schema.get("description") or prop.schema.get("title")
            if prop.ref is not None:
                target = "User" if prop.ref.entity == "user" else pascal(prop.ref.entity)
                fields[prop.name] = (
                    Optional[m.ref(target)],  # noqa: UP045
                    strawberry.field(
                        name=camel(prop.name),
                        description=description,
                        resolver=_resolver(
                            resolvers.to_one(prop.name), f"{et.name}_{prop.name}", m
                        ),
                        graphql_type=Optional[m.ref(target)],  # noqa: UP045
                    ),
                )
                fields[f"{prop.name}__id"] = (
                    Optional[strawberry.ID],  # noqa: UP045
                    strawberry.field(
                        name=camel(prop.name) + "Id",
                        resolver=_resolver(
                            resolvers.key(prop.name), f"{et.name}_{prop.name}_id", m
                        ),
                        graphql_type=Optional[strawberry.ID],  # noqa: UP045
                    ),
                )
                continue
            annotation = self._value_type(prop)
            required = prop.required and not prop.autonumber
            fields[prop.name] = (
                annotation if required else Optional[annotation],  # noqa: UP045
                strawberry.field(name=camel(prop.name), description=description),
            )
        for field_name, target in self._to_many(et.name):
            fields[field_name] = (
                m.ref(f"{pascal(target)}Connection"),
                strawberry.field(
                    name=camel(field_name),
                    resolver=_resolver(
                        resolvers.to_many(field_name, self.m.name, pascal(target)),
                        f"{et.name}_{field_name}",
                        m,
                    ),
                ),
            )
        fields["version"] = (int, strawberry.field(name="version"))
        fields["created_at"] = (DateTimeScalar, strawberry.field(name="createdAt"))
        fields["updated_at"] = (DateTimeScalar, strawberry.field(name="updatedAt"))
        for key in ("created_by", "updated_by", "owner"):
            fields[key] = (
                Optional[m.ref("User")],  # noqa: UP045
                strawberry.field(
                    name=camel(key),
                    resolver=_resolver(resolvers.user(key), f"{et.name}_{key}", m),
                    graphql_type=Optional[m.ref("User")],  # noqa: UP045
                ),
            )
        fields["history"] = (
            list[m.ref("AuditEntry")],
            strawberry.field(
                name="history",
                resolver=_resolver(resolvers.history, f"{et.name}_history", m),
                graphql_type=list[m.ref("AuditEntry")],
            ),
        )
        _class(m, name, fields, description=et.description or et.title)
        _class(
            m,
            f"{name}Edge",
            {
                "cursor": (str, strawberry.field(name="cursor")),
                "node": (m.ref(name), strawberry.field(name="node")),
                "attributes": (Optional[JSON], strawberry.field(name="attributes")),  # noqa: UP045
            },
        )
        _class(
            m,
            f"{name}Connection",
            {
                "edges": (list[m.ref(f"{name}Edge")], strawberry.field(name="edges")),
                "nodes": (list[m.ref(name)], strawberry.field(name="nodes")),
                "page_info": (m.ref("PageInfo"), strawberry.field(name="pageInfo")),
                "total_count": (int, strawberry.field(name="totalCount")),
            },
        )

    def _to_many(self, entity: str) -> list[tuple[str, str]]:
        out = [(inv.name, inv.entity) for inv in self.catalog.inverses.get(entity, {}).values()]
        out.extend((lf.name, lf.other) for lf in self.catalog.links.get(entity, {}).values())
        return out

    def _filter(self, et: EntityType) -> None:
        m, name = self.m, pascal(et.name)
        fields: dict[str, tuple[Any, Any]] = {
            "and_": _optional_input("and", list[m.ref(f"{name}Filter")]),
            "or_": _optional_input("or", list[m.ref(f"{name}Filter")]),
            "not_": _optional_input("not", m.ref(f"{name}Filter")),
        }
        for graphql, key in SYSTEM_FIELDS.items():
            kind = {
                "version": "IntComparison",
                "createdAt": "DateTimeComparison",
                "updatedAt": "DateTimeComparison",
            }.get(graphql, "IDComparison")
            fields[f"{key}__sys"] = _optional_input(graphql, m.ref(kind))
        for prop in et.properties.values():
            if prop.ref is not None:
                fields[f"{prop.name}__id"] = _optional_input(
                    camel(prop.name) + "Id", m.ref("IDComparison")
                )
                if prop.ref.entity != "user":
                    fields[prop.name] = _optional_input(
                        camel(prop.name), m.ref(f"{pascal(prop.ref.entity)}Filter")
                    )
                continue
            fields[prop.name] = _optional_input(camel(prop.name), m.ref(SCALARS[prop.kind][1]))
        for field_name, target in self._to_many(et.name):
            fields[field_name] = _optional_input(
                camel(field_name), m.ref(f"{pascal(target)}ListFilter")
            )
        _class(m, f"{name}Filter", fields, is_input=True, description=f"Conditions on {et.plural}.")
        _class(
            m,
            f"{name}ListFilter",
            {
                "some": _optional_input("some", m.ref(f"{name}Filter")),
                "none": _optional_input("none", m.ref(f"{name}Filter")),
            },
            is_input=True,
            description=f"Conditions on a list of {et.plural}: some match, or none does.",
        )
        order: dict[str, tuple[Any, Any]] = {}
        for graphql, key in SYSTEM_FIELDS.items():
            if key in ("id", "version", "created_at", "updated_at"):
                order[f"{key}__sys"] = _optional_input(graphql, SortDirection)
        for prop in et.properties.values():
            if prop.storage == "json":
                continue
            graphql = camel(prop.name) + ("Id" if prop.ref is not None else "")
            order[prop.name] = _optional_input(graphql, SortDirection)
        _class(m, f"{name}Order", order, is_input=True, description="Exactly one field per item.")

    def _inputs(self, et: EntityType) -> None:
        m, name = self.m, pascal(et.name)
        create: dict[str, tuple[Any, Any]] = {}
        patch: dict[str, tuple[Any, Any]] = {}
        for prop in et.properties.values():
            graphql = camel(prop.name) + ("Id" if prop.ref is not None else "")
            annotation = strawberry.ID if prop.ref is not None else self._value_type(prop)
            if prop.kind in ("decimal", "int64"):
                annotation = JSON  # a string or a number
            needed = prop.required and not prop.has_default and not prop.autonumber
            if needed:
                create[prop.name] = (annotation, strawberry.field(name=graphql))
            else:
                create[prop.name] = _optional_input(graphql, annotation)
            patch[prop.name] = _optional_input(graphql, annotation)
        if not create:
            create["_empty"] = _optional_input("_", bool)
            patch["_empty"] = _optional_input("_", bool)
        _class(m, f"{name}Input", create, is_input=True, description=f"A new {et.name}.")
        _class(m, f"{name}Patch", patch, is_input=True, description=f"Changes to a {et.name}.")

    # --- root types --------------------------------------------------------------------------

    def build(self) -> strawberry.Schema:
        self._shared()
        types_ = [et for et in self.catalog.types.values() if not et.system]
        for et in types_:
            self._object(et)
            self._filter(et)
            self._inputs(et)
        m = self.m
        query: dict[str, tuple[Any, Any]] = {}
        mutation: dict[str, tuple[Any, Any]] = {}
        for et in types_:
            name, plural = pascal(et.name), pascal(et.plural)
            query[f"one_{et.name}"] = self._root(
                f"{camel(et.name)}", resolvers.get_one(et.name, m.name, name)
            )
            query[f"list_{et.name}"] = self._root(
                camel(et.plural), resolvers.list_of(et.name, m.name, name)
            )
            query[f"agg_{et.name}"] = self._root(
                camel(et.plural) + "Aggregate", resolvers.aggregate(et.name, m.name)
            )
            mutation[f"create_{et.name}"] = self._root(
                f"create{name}", resolvers.create_one(et.name, m.name, name)
            )
            mutation[f"create_many_{et.name}"] = self._root(
                f"create{plural}", resolvers.create_many(et.name, m.name, name)
            )
            mutation[f"update_{et.name}"] = self._root(
                f"update{name}", resolvers.update(et.name, m.name, name)
            )
            mutation[f"delete_{et.name}"] = self._root(f"delete{name}", resolvers.delete(et.name))
        query["entity_types"] = self._root("entityTypes", resolvers.entity_types(m.name))
        query["relationships"] = self._root("relationships", resolvers.relationships(m.name))
        mutation["link"] = self._root("link", resolvers.link)
        mutation["unlink"] = self._root("unlink", resolvers.unlink)
        mutation["define_entity_type"] = self._root(
            "defineEntityType", resolvers.define_entity_type(m.name)
        )
        mutation["define_relationship"] = self._root(
            "defineRelationship", resolvers.define_relationship(m.name)
        )
        query_type = _class(m, "Query", {k: (None, f) for k, f in query.items()})
        mutation_type = _class(m, "Mutation", {k: (None, f) for k, f in mutation.items()})
        return XrmSchema(query=query_type, mutation=mutation_type, config=CONFIG)

    def _root(self, graphql_name: str, fn: Callable[..., Any]) -> Any:
        fn.__name__ = f"root_{graphql_name}"
        return strawberry.field(name=graphql_name, resolver=fn)


def build_schema(catalog: Catalog) -> tuple[strawberry.Schema, Callable[[], None]]:
    """The schema of ``catalog`` and a function that frees its synthetic module."""
    builder = SchemaBuilder(catalog)
    try:
        schema = builder.build()
    except Exception:
        builder.module.release()
        raise
    return schema, builder.module.release


__all__ = ["Info", "SortDirection", "build_schema"]
