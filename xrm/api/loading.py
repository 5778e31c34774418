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

import enum
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection
from strawberry.types.unset import UNSET

from xrm.api.context import RequestContext
from xrm.entities.records import Page, Record, RecordSession
from xrm.schemas.formats import json_value
from xrm.schemas.naming import camel

USER_FIELDS = {"createdBy": "created_by", "updatedBy": "updated_by", "owner": "owner"}


def plain(value: Any) -> Any:
    """Strawberry input objects and enums as plain dicts, lists and strings (GraphQL names)."""
    if isinstance(value, enum.Enum):
        return value.value
    definition = getattr(value, "__strawberry_definition__", None)
    if definition is not None:
        out = {}
        for field in definition.fields:
            item = getattr(value, field.python_name)
            if item is UNSET:
                continue
            out[field.graphql_name or field.python_name] = plain(item)
        return out
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def fields_of(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields of a selection set, with fragments flattened."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, (FragmentSpread, InlineFragment)):
            yield from fields_of(selection.selections)


def selects(field: SelectedField, name: str) -> bool:
    return any(f.name == name for f in fields_of(field.selections))


def node_selections(connection: SelectedField) -> list[Selection]:
    """What a connection field selects on its records: ``nodes {…}`` and ``edges { node {…} }``."""
    out: list[Selection] = []
    for field in fields_of(connection.selections):
        if field.name == "nodes":
            out.extend(field.selections)
        elif field.name == "edges":
            for inner in fields_of(field.selections):
                if inner.name == "node":
                    out.extend(inner.selections)
    return out


def connection(page: Page, attribute_names: dict[str, str] | None = None) -> dict[str, Any]:
    """A page in the shape of ``<Type>Connection`` (python field names)."""
    edges = []
    for index, (item, cursor) in enumerate(zip(page.items, page.cursors, strict=True)):
        attributes = None
        if page.attributes:
            raw = page.attributes[index] or {}
            attributes = {camel(k): json_value(v) for k, v in raw.items()}
        edges.append({"cursor": cursor, "node": item, "attributes": attributes})
    return {
        "edges": edges,
        "nodes": page.items,
        "page_info": {"hasNextPage": page.has_next_page, "endCursor": page.end_cursor},
        "total_count": page.total_count,
    }


def list_arguments(ctx: RequestContext, entity: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """``filter``/``orderBy``/``first``/``after`` of a list field, in record-service terms."""
    args = plain(arguments)
    first = args.get("first")
    return {
        "filter": ctx.translator.filter(entity, args.get("filter")),
        "order_by": ctx.translator.order(entity, args.get("orderBy")),
        # Literals in a selection arrive unparsed (an Int literal is its text).
        "first": int(first) if first is not None else None,
        "after": args.get("after"),
    }


def preload(
    ctx: RequestContext,
    session: RecordSession,
    entity: str,
    records: Sequence[Record],
    selections: Iterable[Selection],
) -> None:
    """Load every relation ``selections`` asks for on ``records``, recursively."""
    if not records:
        return
    for record in records:
        record["@entity"] = entity
    names = ctx.translator.names(entity)
    for field in fields_of(selections):
        key = "@" + (field.alias or field.name)
        if field.name in USER_FIELDS:
            column = USER_FIELDS[field.name]
            users = session.users(r[column] for r in records)
            for record in records:
                record[key] = users.get(str(record[column])) if record[column] else None
            continue
        if field.name == "history":
            history = session.history(entity, [r["id"] for r in records])
            for record in records:
                record[key] = history.get(str(record["id"]), [])
            continue
        name = names.get(field.name)
        if name is None or name.kind not in ("ref", "many"):
            continue
        assert name.target is not None
        if name.kind == "ref":
            ids = [r[name.key] for r in records if r.get(name.key)]
            user = name.target == "user"
            found = session.users(ids) if user else session.fetch(name.target, ids)
            for record in records:
                value = record.get(name.key)
                record[key] = found.get(str(value)) if value else None
            if name.target != "user":
                preload(ctx, session, name.target, list(found.values()), field.selections)
            continue
        args = list_arguments(ctx, name.target, field.arguments)
        pages = session.children(
            entity,
            name.key,
            [r["id"] for r in records],
            with_total=selects(field, "totalCount"),
            **args,
        )
        children: list[Record] = []
        for record in records:
            page = pages[str(record["id"])]
            record[key] = connection(page)
            children.extend(page.items)
        preload(ctx, session, name.target, children, node_selections(field))
