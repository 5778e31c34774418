"""Plan and load everything a selection asks for, one query per relation and level.

A list resolver loads its page, then walks the selection below it: for each
relation selected (a reference, a to-many field, users, history) it loads the
related records of the whole page with one query and stores them on each
record under ``"@" + alias``; then it recurses into the related records with
that field's own sub-selection. Field resolvers afterwards only read from
memory, so the number of SQL statements depends on the depth of the query,
never on the number of rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLResolveInfo,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import get_argument_values, get_directive_values

from xrm.api.context import RequestContext
from xrm.api.names import history_entry
from xrm.entities.records import Page, Record, RecordSession
from xrm.errors import Forbidden
from xrm.platform.access import HIDDEN
from xrm.schemas.formats import json_value
from xrm.schemas.naming import camel

USER_FIELDS = {"createdBy": "created_by", "updatedBy": "updated_by", "owner": "owner"}


@dataclass(slots=True)
class Selected:
    """One field of a selection, with its coerced arguments and what it selects in turn."""

    name: str
    key: str  # the response key: the alias, else the name
    args: dict[str, Any]
    children: list[Selected] = dataclass_field(default_factory=list)


def _included(info: GraphQLResolveInfo, node: Any) -> bool:
    skip = get_directive_values(GraphQLSkipDirective, node, info.variable_values)
    if skip is not None and skip.get("if") is True:
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, info.variable_values)
    return not (include is not None and include.get("if") is False)


def _collect(
    info: GraphQLResolveInfo,
    parent: Any,
    selection_set: SelectionSetNode | None,
    seen: frozenset[str],
) -> list[Selected]:
    out: list[Selected] = []
    if selection_set is None:
        return out
    for node in selection_set.selections:
        if not _included(info, node):
            continue
        if isinstance(node, FieldNode):
            name = node.name.value
            if name.startswith("__"):
                continue
            definition = parent.fields.get(name)
            if definition is None:
                continue
            args = get_argument_values(definition, node, info.variable_values)
            out.append(
                Selected(
                    name,
                    node.alias.value if node.alias else name,
                    args,
                    _collect(info, get_named_type(definition.type), node.selection_set, seen),
                )
            )
        elif isinstance(node, InlineFragmentNode):
            out.extend(_collect(info, parent, node.selection_set, seen))
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            fragment = info.fragments.get(name)
            if fragment is not None and name not in seen:
                out.extend(_collect(info, parent, fragment.selection_set, seen | {name}))
    return out


def current(info: GraphQLResolveInfo) -> Selected:
    """The field being resolved, with everything selected below it."""
    parent = get_named_type(info.return_type)
    children: list[Selected] = []
    for node in info.field_nodes:
        children.extend(_collect(info, parent, node.selection_set, frozenset()))
    node = info.field_nodes[0]
    definition = info.parent_type.fields[info.field_name]
    args = get_argument_values(definition, node, info.variable_values)
    return Selected(info.field_name, str(info.path.key), args, children)


def selects(field: Selected, name: str) -> bool:
    return any(f.name == name for f in field.children)


def node_selections(connection: Selected) -> list[Selected]:
    """What a connection field selects on its records: ``nodes {…}`` and ``edges { node {…} }``."""
    out: list[Selected] = []
    for child in connection.children:
        if child.name == "nodes":
            out.extend(child.children)
        elif child.name == "edges":
            for inner in child.children:
                if inner.name == "node":
                    out.extend(inner.children)
    return out


def connection(page: Page) -> dict[str, Any]:
    """A page in the shape of ``<Type>Connection``; edges and cursors built only if selected.

    graphql-core's default resolver calls a callable it finds under a field's
    name, so the parts that cost something are functions, run on demand.
    """

    def edges(info: Any, **_args: Any) -> list[dict[str, Any]]:
        out = []
        for index, item in enumerate(page.items):
            attributes = None
            if page.attributes:
                raw = page.attributes[index] or {}
                attributes = {camel(k): json_value(v) for k, v in raw.items()}
            out.append(
                {
                    "cursor": lambda info, _i=index, **_a: page.cursor(_i),
                    "node": item,
                    "attributes": attributes,
                }
            )
        return out

    return {
        "edges": edges,
        "nodes": page.items,
        "pageInfo": {
            "hasNextPage": page.has_next_page,
            "endCursor": lambda info, **_args: page.end_cursor,
        },
        "totalCount": page.total_count,
    }


def list_arguments(ctx: RequestContext, entity: str, args: dict[str, Any]) -> dict[str, Any]:
    """``filter``/``orderBy``/``first``/``after`` of a list field, in record-service terms."""
    return {
        "filter": ctx.translator.filter(entity, args.get("filter")),
        "order_by": ctx.translator.order(entity, args.get("orderBy")),
        "first": args.get("first"),
        "after": args.get("after"),
    }


def needed_keys(
    ctx: RequestContext, entity: str, selections: Iterable[Selected]
) -> frozenset[str] | None:
    """The record keys a selection reads (relations: the keys they are loaded by).

    None when a selected field is not one of the entity's own: read every column.
    """
    names = ctx.translator.names(entity)
    keys: set[str] = set()
    for field in selections:
        if field.name == "__typename" or field.name == "history":
            continue  # history is loaded by id, which is always read
        if field.name in USER_FIELDS:
            keys.add(USER_FIELDS[field.name])
            continue
        name = names.get(field.name)
        if name is None:
            return None
        if name.kind != "many":  # to-many fields are loaded by id
            keys.add(name.key)
    return frozenset(keys)


def preload(
    ctx: RequestContext,
    session: RecordSession,
    entity: str,
    records: Sequence[Record],
    selections: Iterable[Selected],
    *,
    narrow: bool = False,
) -> None:
    """Load every relation ``selections`` asks for on ``records``, recursively.

    ``narrow``: read only the columns each level's selection needs. Only for
    a caller that reads nothing else from the records (the fast path):
    resolvers of standard execution may see fields the walk did not.
    """
    if not records:
        return
    for record in records:
        record["@entity"] = entity
    names = ctx.translator.names(entity)
    selections = list(selections)
    # ``nodes`` and ``edges.node`` merged may select one relation twice, each with its own
    # fields, loaded into the same slot: the later load must carry every column.
    repeated = {key for key, n in Counter(f.key for f in selections).items() if n > 1}
    for field in selections:
        key = "@" + field.key
        try:
            narrowed = narrow and field.key not in repeated
            _load_field(ctx, session, entity, records, names, field, key, narrowed)
        except Forbidden as exc:
            # A relation the actor may not read: FORBIDDEN at that field, not the whole list.
            for record in records:
                record[key] = exc


def _load_field(
    ctx: RequestContext,
    session: RecordSession,
    entity: str,
    records: Sequence[Record],
    names: dict[str, Any],
    field: Selected,
    key: str,
    narrow: bool = False,
) -> None:
    if field.name in USER_FIELDS:
        column = USER_FIELDS[field.name]
        users = session.users(r[column] for r in records)
        for record in records:
            record[key] = users.get(str(record[column])) if record[column] else None
        return
    if field.name == "history":
        history = session.history(entity, [r["id"] for r in records])
        for record in records:
            entries = history.get(str(record["id"]), [])
            record[key] = [history_entry(session.catalog, entity, e) for e in entries]
        return
    name = names.get(field.name)
    if name is None or name.kind not in ("ref", "many"):
        return
    assert name.target is not None
    if name.kind == "ref":
        ids = [r[name.key] for r in records if r.get(name.key) and r[name.key] is not HIDDEN]
        user = name.target == "user"
        if user:
            found = session.users(ids)
        else:
            wanted = needed_keys(ctx, name.target, field.children) if narrow else None
            found = session.fetch(name.target, ids, fields=wanted)
        for record in records:
            value = record.get(name.key)
            record[key] = HIDDEN if value is HIDDEN else (found.get(str(value)) if value else None)
        if not user:
            preload(ctx, session, name.target, list(found.values()), field.children, narrow=narrow)
        return
    args = list_arguments(ctx, name.target, field.args)
    nodes = node_selections(field)
    pages = session.children(
        entity,
        name.key,
        [r["id"] for r in records],
        with_total=selects(field, "totalCount"),
        fields=needed_keys(ctx, name.target, nodes) if narrow else None,
        **args,
    )
    children: list[Record] = []
    for record in records:
        page = pages[str(record["id"])]
        record[key] = connection(page)
        children.extend(page.items)
    preload(ctx, session, name.target, children, nodes, narrow=narrow)
