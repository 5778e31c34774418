"""The fast path: plain read queries answered without graphql-core's per-field execution.

Standard execution costs a few microseconds for every field of every row
(resolver call, type completion, path bookkeeping), several times what
fetching the rows costs. Most queries are plain: lists and lookups of
records, their fields, their relations, no fragments or directives. For
those this module walks the document itself: the same planned loading as
the resolvers (``loading.preload``, one statement per relation and level),
then one tight loop that copies each selected value through its scalar's
``serialize`` into the response.

First the walk tries to go one step further: ``json_plan`` compiles
the whole selection into one statement that builds the response JSON
inside the database, so no row passes through Python; what it cannot
express takes the per-level path below.

Anything else falls back to standard execution, which therefore stays the
reference: a document with fragments, directives, introspection, aggregates
or metadata; a value hidden from the caller (standard execution puts the
``FORBIDDEN`` error at its path); any error at all (the standard path
reports it properly). Falling back after loading costs a second read, which
only happens on requests that fail anyway or select hidden fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from xrm.api import json_plan
from xrm.api.context import RequestContext
from xrm.api.loading import (
    Selected,
    connection,
    list_arguments,
    needed_keys,
    node_selections,
    preload,
    selects,
)
from xrm.api.resolvers import is_id
from xrm.entities.json_query import Unsupported
from xrm.platform.access import HIDDEN


class Fallback(Exception):
    """This request needs standard execution."""


def root_resolver(kind: str, entity: str, resolve: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a root resolver as one the fast path can stand in for (``list`` or ``get``)."""
    resolve.xrm_root = (kind, entity)  # type: ignore[attr-defined]
    return resolve


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    found = [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
        and (name is None or (d.name is not None and d.name.value == name))
    ]
    if len(document.definitions) != 1 or len(found) != 1:
        return None  # fragments, or several operations: standard execution
    return found[0]


def _collect(
    parent: GraphQLObjectType, selection_set: SelectionSetNode | None, variables: VariableValues
) -> list[Selected]:
    """The selection as ``Selected`` fields with coerced arguments; Fallback on anything unusual."""
    out: list[Selected] = []
    if selection_set is None:
        return out
    keys: set[str] = set()
    for node in selection_set.selections:
        if not isinstance(node, FieldNode) or node.directives:
            raise Fallback  # fragments and @skip/@include: standard execution
        name = node.name.value
        key = node.alias.value if node.alias else name
        if key in keys:
            raise Fallback  # fields merged under one key
        keys.add(key)
        if name == "__typename":
            out.append(Selected(name, key, {}))
            continue
        definition = parent.fields.get(name)
        if definition is None or name.startswith("__"):
            raise Fallback
        args = get_argument_values(definition, node, variables) if definition.args else {}
        named = definition.type
        while isinstance(named, (GraphQLNonNull, GraphQLList)):
            named = named.of_type
        children = (
            _collect(named, node.selection_set, variables)
            if isinstance(named, GraphQLObjectType)
            else []
        )
        out.append(Selected(name, key, args, children))
    return out


def run(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    raw_variables: Mapping[str, Any] | None,
    context: RequestContext,
) -> dict[str, Any] | None:
    """The response ``data`` of a plain query, or None when standard execution must answer."""
    operation = _operation(document, operation_name)
    if operation is None or operation.operation.value != "query" or operation.directives:
        return None
    query_type = schema.query_type
    assert query_type is not None
    variables = get_variable_values(
        schema, operation.variable_definitions or (), dict(raw_variables or {})
    )
    if not isinstance(variables, VariableValues):
        return None  # coercion errors: reported by standard execution
    try:
        selections = _collect(query_type, operation.selection_set, variables)
        roots = []
        for field in selections:
            if field.name == "__typename":
                roots.append((field, None))
                continue
            root = getattr(query_type.fields[field.name].resolve, "xrm_root", None)
            if root is None:
                return None
            roots.append((field, root))
        if any(root for _, root in roots):
            with suppress(Unsupported):
                return json_plan.answer(context, query_type, roots)
        data: dict[str, Any] = {}
        for field, root in roots:
            if root is None:
                data[field.key] = query_type.name
                continue
            kind, entity = root
            emit = _emitter(query_type.fields[field.name].type, field)
            data[field.key] = emit(_load(context, kind, entity, field))
        return data
    except Exception:
        # A failed statement may have spoiled the read transaction: start afresh.
        context.close()
        return None


def _load(context: RequestContext, kind: str, entity: str, field: Selected) -> Any:
    session = context.reader()
    if kind == "get":
        wanted = needed_keys(context, entity, field.children)
        record = (
            session.get(entity, field.args["id"], fields=wanted)
            if is_id(field.args["id"])
            else None
        )
        if record is not None:
            preload(context, session, entity, [record], field.children, narrow=True)
        return record
    nodes = node_selections(field)
    page = session.query(
        entity,
        with_total=selects(field, "totalCount"),
        fields=needed_keys(context, entity, nodes),
        **list_arguments(context, entity, field.args),
    )
    preload(context, session, entity, page.items, nodes, narrow=True)
    return connection(page)


Emit = Callable[[Any], Any]

# Scalars whose serialized form of a value of this exact Python type is the value itself.
_IDENTITY: dict[str, type] = {"String": str, "ID": str, "Int": int, "Boolean": bool, "Float": float}


def _emitter(type_: Any, field: Selected) -> Emit:
    """A function turning a value of ``type_`` into its response form, for this selection.

    Built once per request and field, so the per-row work is a few dict reads
    and calls, with no type dispatch left in the loop.
    """
    nullable = not isinstance(type_, GraphQLNonNull)
    if not nullable:
        type_ = type_.of_type
    inner: Emit
    if isinstance(type_, GraphQLList):
        item = _emitter(type_.of_type, field)

        def inner(value: Any) -> Any:
            return [item(v) for v in value]

    elif isinstance(type_, GraphQLScalarType):
        serialize = type_.serialize
        same = _IDENTITY.get(type_.name)

        def inner(value: Any) -> Any:
            return value if type(value) is same else serialize(value)

    elif isinstance(type_, GraphQLObjectType):
        inner = _object_emitter(type_, field.children)
    else:
        raise Fallback

    def emit(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise Fallback  # a null in a non-null field: standard execution reports it
        if value is HIDDEN or isinstance(value, BaseException):
            raise Fallback  # FORBIDDEN at this path: standard execution reports it
        return inner(value)

    return emit


def _object_emitter(type_: GraphQLObjectType, selections: list[Selected]) -> Emit:
    fields = type_.fields
    plan: list[tuple[str, Callable[[Any], Any], Emit]] = []
    for sel in selections:
        if sel.name == "__typename":
            plan.append((sel.key, _constant(type_.name), _same))
            continue
        definition = fields[sel.name]
        plan.append((sel.key, _reader(definition.resolve, sel), _emitter(definition.type, sel)))

    def emit(source: Any) -> dict[str, Any]:
        return {key: write(read(source)) for key, read, write in plan}

    return emit


def _same(value: Any) -> Any:
    return value


def _constant(value: Any) -> Callable[[Any], Any]:
    def read(_source: Any) -> Any:
        return value

    return read


def _reader(resolve: Any, sel: Selected) -> Callable[[Any], Any]:
    """How to read a field's value from its parent, mirroring its resolver."""
    if resolve is None:  # graphql-core's default resolver: a key, maybe a callable
        name = sel.name

        def read_default(source: Any) -> Any:
            value = source.get(name)
            return value(None) if callable(value) else value

        return read_default
    key = getattr(resolve, "xrm_key", None)
    if key is not None:
        return lambda source: source.get(key)
    if getattr(resolve, "xrm_loaded", False):
        loaded = "@" + sel.key

        def read_loaded(source: Any) -> Any:
            if loaded not in source:
                raise Fallback
            return source[loaded]

        return read_loaded
    raise Fallback
