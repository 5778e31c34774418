"""Plain queries: the whole selection as one statement that returns the JSON.

The fast path (``xrm.api.fast``) has already turned the document into
``Selected`` fields with coerced arguments. Here each root field becomes a
shape of ``xrm.entities.json_query`` (what to read, in record-service terms)
by following the schema's own resolvers: a ``_key`` resolver is a stored
value, ``loaded`` a relation, the connection fields a page. The database then
builds the response in one statement, spelled as the scalars of
``xrm.api.scalars`` spell each value.

Whatever has no shape here (cursors, ``after``, history, metadata, aggregates,
a field hidden from the caller, an unknown scalar) raises ``Unsupported``,
and the fast path answers the ordinary way instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from threading import Lock
from typing import Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType

from xrm.api.context import RequestContext
from xrm.api.loading import USER_FIELDS, Selected, list_arguments
from xrm.api.lru import Lru
from xrm.api.resolvers import is_id
from xrm.entities.json_query import (
    Attributes,
    Const,
    Get,
    HasNext,
    Items,
    JsonQuery,
    List,
    Many,
    Obj,
    Part,
    Prepared,
    Related,
    Total,
    Unsupported,
    Value,
)
from xrm.schemas.naming import camel

# Scalars whose serialized form is the stored value's JSON form (``json_value``).
_SCALARS = frozenset(
    {"ID", "String", "Int", "Float", "Boolean", "Date", "DateTime", "Decimal", "JSON"}
)
_LISTS = frozenset({"String"})  # [String!]: arrays of text, stored as JSON


# Statements built for one schema, by request: the same query costs no rebuilding. Building
# one (SQLAlchemy expressions, table aliases, filters) costs more than running it. A statement
# depends on the selection with its coerced arguments and on the caller (row scopes, hidden
# fields), so those are the key; the schema it belongs to takes them along when it retires.
STATEMENTS_KEPT = 32  # few: unique requests (new variables) would fill it with garbage
_STATEMENTS: WeakKeyDictionary[GraphQLObjectType, Lru[Prepared | None]] = WeakKeyDictionary()
_STATEMENTS_LOCK = Lock()


def _statements(query_type: GraphQLObjectType) -> Lru[Prepared | None]:
    with _STATEMENTS_LOCK:
        found = _STATEMENTS.get(query_type)
        if found is None:
            found = _STATEMENTS[query_type] = Lru(STATEMENTS_KEPT)
        return found


def answer(
    context: RequestContext,
    query_type: GraphQLObjectType,
    roots: Sequence[tuple[Selected, Any]],
) -> dict[str, Any]:
    """The response ``data`` of the root fields, from one statement; ``Unsupported`` if not."""
    session = context.reader()
    actor = session.actor
    key = (session.catalog.version, actor.id, actor.roles, repr(roots))
    cache = _statements(query_type)
    known, prepared = cache.get(key)
    query = JsonQuery(session)
    if not known:
        try:
            prepared = query.prepare(_shape(context, query_type, roots))
        except Unsupported:
            cache.put(key, None)
            raise
        cache.put(key, prepared)
    if prepared is None:
        raise Unsupported("known to need the ordinary way")
    try:
        data: dict[str, Any] = query.execute(prepared)
    except sa.exc.DBAPIError as exc:
        # A statement the database refuses (SQLite's parser allows so many nested levels):
        # never again for this request; the per-level path answers, in a fresh transaction.
        cache.put(key, None)
        context.close()
        raise Unsupported(f"the database refused the statement: {exc.orig}") from exc
    context.answered_by = prepared
    return data


def forget(query_type: GraphQLObjectType) -> None:
    """Drop the statements kept for a schema that is being retired."""
    with _STATEMENTS_LOCK:
        _STATEMENTS.pop(query_type, None)


def _shape(
    context: RequestContext,
    query_type: GraphQLObjectType,
    roots: Sequence[tuple[Selected, Any]],
) -> Obj:
    fields: list[tuple[str, Part]] = []
    for field, root in roots:
        if root is None:
            fields.append((field.key, Const(query_type.name)))
            continue
        kind, entity = root
        named = _named(query_type.fields[field.name].type)
        if kind == "get":
            if not is_id(field.args["id"]):
                fields.append((field.key, Const(None)))
                continue
            shape = _object(context, named, entity, field.children)
            fields.append((field.key, Get(entity, field.args["id"], shape)))
        else:
            args = list_arguments(context, entity, field.args)
            if args.pop("after") is not None:
                raise Unsupported("cursors")
            shape = _connection(context, named, entity, field)
            fields.append((field.key, List(entity, shape, **args)))
    return Obj(tuple(fields))


def _named(type_: Any) -> Any:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


def _connection(
    context: RequestContext, type_: GraphQLObjectType, entity: str, field: Selected
) -> Obj:
    """A ``<Type>Connection`` selection: nodes, edges (without cursors), pageInfo, totalCount."""
    out: list[tuple[str, Part]] = []
    for sel in field.children:
        part: Part
        if sel.name == "__typename":
            part = Const(type_.name)
        elif sel.name == "nodes":
            node = _named(type_.fields["nodes"].type)
            part = Items(_object(context, node, entity, sel.children))
        elif sel.name == "edges":
            part = Items(_edge(context, _named(type_.fields["edges"].type), entity, sel))
        elif sel.name == "pageInfo":
            part = _page_info(_named(type_.fields["pageInfo"].type), sel)
        elif sel.name == "totalCount":
            part = Total()
        else:
            raise Unsupported(sel.name)
        out.append((sel.key, part))
    return Obj(tuple(out))


def _edge(context: RequestContext, type_: GraphQLObjectType, entity: str, field: Selected) -> Obj:
    out: list[tuple[str, Part]] = []
    for sel in field.children:
        part: Part
        if sel.name == "__typename":
            part = Const(type_.name)
        elif sel.name == "node":
            part = _object(context, _named(type_.fields["node"].type), entity, sel.children)
        elif sel.name == "attributes":
            part = Attributes(camel)
        else:
            raise Unsupported(sel.name)  # cursor
        out.append((sel.key, part))
    return Obj(tuple(out))


def _page_info(type_: GraphQLObjectType, field: Selected) -> Obj:
    out: list[tuple[str, Part]] = []
    for sel in field.children:
        part: Part
        if sel.name == "__typename":
            part = Const(type_.name)
        elif sel.name == "hasNextPage":
            part = HasNext()
        else:
            raise Unsupported(sel.name)  # endCursor
        out.append((sel.key, part))
    return Obj(tuple(out))


def _object(
    context: RequestContext, type_: GraphQLObjectType, entity: str, selections: list[Selected]
) -> Obj:
    """An object type's selection: values, references, to-many pages (``entity``: its type)."""
    names = context.translator.names(entity) if entity != "user" else {}
    out: list[tuple[str, Part]] = []
    for sel in selections:
        if sel.name == "__typename":
            out.append((sel.key, Const(type_.name)))
            continue
        definition = type_.fields[sel.name]
        resolve = definition.resolve
        key = sel.name if resolve is None else getattr(resolve, "xrm_key", None)
        part: Part
        if key is not None:
            part = _value(definition.type, key)
        elif not getattr(resolve, "xrm_loaded", False):
            raise Unsupported(sel.name)
        elif sel.name in USER_FIELDS:
            user = _named(definition.type)
            part = Related(USER_FIELDS[sel.name], _object(context, user, "user", sel.children))
        else:
            name = names.get(sel.name)
            if name is None or name.target is None or name.kind not in ("ref", "many"):
                raise Unsupported(sel.name)  # history
            target = _named(definition.type)
            if name.kind == "ref":
                part = Related(name.key, _object(context, target, name.target, sel.children))
            else:
                args = list_arguments(context, name.target, sel.args)
                if args.pop("after") is not None:
                    raise Unsupported("cursors")
                shape = _connection(context, target, name.target, sel)
                part = Many(name.key, shape, **args)
        out.append((sel.key, part))
    return Obj(tuple(out))


def _value(type_: Any, key: str) -> Value:
    """A stored value shown through a scalar (or a list of text) that spells it as stored."""
    required = isinstance(type_, GraphQLNonNull)
    named = type_.of_type if required else type_
    if isinstance(named, GraphQLList):
        item = named.of_type
        if not (isinstance(item, GraphQLNonNull) and item.of_type.name in _LISTS):
            raise Unsupported(str(named))
        return Value(key, required=required)
    if not isinstance(named, GraphQLScalarType):
        raise Unsupported(str(named))
    if named.name == "BigInt":
        return Value(key, as_text=True, required=required)
    if named.name not in _SCALARS:
        raise Unsupported(named.name)
    return Value(key, required=required)
