"""Resolvers of the generated schema: thin adapters from GraphQL to the record service.

Each factory returns a function whose argument and return annotations are set
at runtime (lazy references into the schema version's synthetic module),
because the types they name only exist once a catalog is compiled. Lists load
their whole selection up front (``loading.preload``); relation fields then read
what was loaded and only fall back to loading for a single parent when an
object came from somewhere else (a mutation's result, say).
"""

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Optional

import strawberry
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

from xrm.api.context import RequestContext
from xrm.api.loading import connection, list_arguments, node_selections, plain, preload, selects
from xrm.api.scalars import JSON
from xrm.errors import Fault, Forbidden, ValidationFailed
from xrm.schemas.naming import camel, pascal, snake


def _lazy(module: str, name: str) -> Any:
    return Annotated[name, strawberry.lazy(module)]


def _annotate(fn: Callable[..., Any], **annotations: Any) -> Callable[..., Any]:
    fn.__annotations__ = {"info": Info, **annotations}
    return fn


def _ctx(info: Info) -> RequestContext:
    ctx: RequestContext = info.context
    return ctx


@contextmanager
def _graphql_paths(ctx: RequestContext, entity: str) -> Iterator[None]:
    """Validation faults named in GraphQL terms (``partnerId``, ``inputs.3.email``)."""
    try:
        yield
    except ValidationFailed as exc:
        faults = [Fault(ctx.translator.field_path(entity, f.field), f.message) for f in exc.faults]
        raise ValidationFailed(faults) from None


def _list_annotations(module: str, type_name: str) -> dict[str, Any]:
    return {
        "filter": Optional[_lazy(module, f"{type_name}Filter")],  # noqa: UP045
        "orderBy": Optional[list[_lazy(module, f"{type_name}Order")]],  # noqa: UP045
        "first": Optional[int],  # noqa: UP045
        "after": Optional[str],  # noqa: UP045
    }


# --- fields of records -----------------------------------------------------------------------


def _loaded(root: dict[str, Any], info: Info, entity: str | None) -> Any:
    key = "@" + str(info.path.key)
    if key not in root:
        ctx = _ctx(info)
        if entity is None:
            entity = str(root["@entity"])
        preload(ctx, ctx.reader(), entity, [root], info.selected_fields)
    return root.get(key)


def to_one(prop: str) -> Callable[..., Any]:
    def resolve(root: Any, info: Info) -> Any:
        return _loaded(root, info, None)

    resolve.__annotations__ = {"root": Any, "info": Info, "return": Any}
    return resolve


def key(prop: str) -> Callable[..., Any]:
    def resolve(root: Any, info: Info) -> Any:
        return root.get(prop)

    resolve.__annotations__ = {"root": Any, "info": Info, "return": Any}
    return resolve


def user(column: str) -> Callable[..., Any]:
    def resolve(root: Any, info: Info) -> Any:
        return _loaded(root, info, None)

    resolve.__annotations__ = {"root": Any, "info": Info, "return": Any}
    return resolve


def history(root: Any, info: Info) -> Any:
    return _loaded(root, info, None)


history.__annotations__ = {"root": Any, "info": Info, "return": Any}


def to_many(field_name: str, module: str, type_name: str) -> Callable[..., Any]:
    def resolve(
        root: Any,
        info: Info,
        filter: Any = None,
        orderBy: Any = None,
        first: Any = None,
        after: Any = None,
    ) -> Any:
        return _loaded(root, info, None)

    resolve.__annotations__ = {
        "root": Any,
        "info": Info,
        **_list_annotations(module, type_name),
        "return": _lazy(module, f"{type_name}Connection"),
    }
    return resolve


def _mark(records: list[dict[str, Any]], entity: str) -> list[dict[str, Any]]:
    """Remember each record's type, for relation fields resolved outside a planned list."""
    for record in records:
        record["@entity"] = entity
    return records


# --- queries ---------------------------------------------------------------------------------


def get_one(entity: str, module: str, type_name: str) -> Callable[..., Any]:
    def resolve(info: Info, id: strawberry.ID) -> Any:
        ctx = _ctx(info)
        session = ctx.reader()
        record = session.get(entity, str(id)) if _is_id(id) else None
        if record is not None:
            _mark([record], entity)
            preload(ctx, session, entity, [record], info.selected_fields[0].selections)
        return record

    return _annotate(
        resolve,
        id=strawberry.ID,
        **{"return": Optional[_lazy(module, type_name)]},  # noqa: UP045
    )


def _is_id(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def list_of(entity: str, module: str, type_name: str) -> Callable[..., Any]:
    def resolve(
        info: Info,
        filter: Any = None,
        orderBy: Any = None,
        first: Any = None,
        after: Any = None,
    ) -> Any:
        ctx = _ctx(info)
        session = ctx.reader()
        field = info.selected_fields[0]
        assert isinstance(field, SelectedField)
        with _graphql_paths(ctx, entity):
            args = list_arguments(
                ctx, entity, {"filter": filter, "orderBy": orderBy, "first": first, "after": after}
            )
            page = session.query(entity, with_total=selects(field, "totalCount"), **args)
        _mark(page.items, entity)
        preload(ctx, session, entity, page.items, node_selections(field))
        return connection(page)

    return _annotate(
        resolve,
        **_list_annotations(module, type_name),
        **{"return": _lazy(module, f"{type_name}Connection")},
    )


def aggregate(entity: str, module: str) -> Callable[..., Any]:
    def resolve(info: Info, filter: Any = None, groupBy: Any = None) -> Any:
        ctx = _ctx(info)
        with _graphql_paths(ctx, entity):
            groups = ctx.reader().aggregate(
                entity,
                filter=ctx.translator.filter(entity, plain(filter)),
                group_by=ctx.translator.group_by(entity, groupBy),
            )
        requested = list(groupBy or [])
        out = []
        for group in groups:
            keys = list(group["group"].values())
            row = {"group": dict(zip(requested, keys, strict=True)), "count": group["count"]}
            for measure in ("sum", "avg", "min", "max"):
                row[measure] = {camel(k): v for k, v in group[measure].items()}
            out.append(row)
        return out

    return _annotate(
        resolve,
        filter=Optional[_lazy(module, f"{_pascal_of(entity)}Filter")],  # noqa: UP045
        groupBy=Optional[list[str]],  # noqa: UP045
        **{"return": list[_lazy(module, "AggregateGroup")]},
    )


def _pascal_of(entity: str) -> str:
    return pascal(entity)


def entity_types(module: str) -> Callable[..., Any]:
    def resolve(info: Info) -> Any:
        ctx = _ctx(info)
        ctx.caller()
        catalog = ctx.services.registry.current()
        return [_entity_type(et) for et in catalog.types.values()]

    return _annotate(resolve, **{"return": list[_lazy(module, "EntityType")]})


def relationships(module: str) -> Callable[..., Any]:
    def resolve(info: Info) -> Any:
        ctx = _ctx(info)
        ctx.caller()
        catalog = ctx.services.registry.current()
        return [
            {"name": r.name, "definition": dict(r.definition)}
            for r in catalog.relationships.values()
        ]

    return _annotate(resolve, **{"return": list[_lazy(module, "Relationship")]})


def _entity_type(et: Any) -> dict[str, Any]:
    return {
        "name": et.name,
        "plural": et.plural,
        "version": et.version,
        "definition": dict(et.definition),
    }


# --- mutations -------------------------------------------------------------------------------


def _finish(ctx: RequestContext, session: Any, entity: str, records: list[Any], info: Info) -> None:
    _mark(records, entity)
    preload(ctx, session, entity, records, info.selected_fields[0].selections)


def create_one(entity: str, module: str, type_name: str) -> Callable[..., Any]:
    def resolve(info: Info, input: Any) -> Any:
        ctx = _ctx(info)
        with _graphql_paths(ctx, entity), ctx.writer() as session:
            record = session.create(entity, ctx.translator.values(entity, plain(input)))
            _finish(ctx, session, entity, [record], info)
        return record

    return _annotate(
        resolve, input=_lazy(module, f"{type_name}Input"), **{"return": _lazy(module, type_name)}
    )


def create_many(entity: str, module: str, type_name: str) -> Callable[..., Any]:
    def resolve(info: Info, inputs: Any) -> Any:
        ctx = _ctx(info)
        with _graphql_paths(ctx, entity), ctx.writer() as session:
            rows = [ctx.translator.values(entity, plain(i)) for i in inputs]
            records = session.create_many(entity, rows, prefix="inputs")
            _finish(ctx, session, entity, records, info)
        return records

    return _annotate(
        resolve,
        inputs=list[_lazy(module, f"{type_name}Input")],
        **{"return": list[_lazy(module, type_name)]},
    )


def update(entity: str, module: str, type_name: str) -> Callable[..., Any]:
    def resolve(info: Info, id: strawberry.ID, input: Any, expectedVersion: Any = None) -> Any:
        ctx = _ctx(info)
        with _graphql_paths(ctx, entity), ctx.writer() as session:
            record = session.update(
                entity,
                str(id),
                ctx.translator.values(entity, plain(input)),
                expected_version=expectedVersion,
            )
            _finish(ctx, session, entity, [record], info)
        return record

    return _annotate(
        resolve,
        id=strawberry.ID,
        input=_lazy(module, f"{type_name}Patch"),
        expectedVersion=Optional[int],  # noqa: UP045
        **{"return": _lazy(module, type_name)},
    )


def delete(entity: str) -> Callable[..., Any]:
    def resolve(info: Info, id: strawberry.ID) -> bool:
        ctx = _ctx(info)
        with ctx.writer() as session:
            return session.delete(entity, str(id))

    return _annotate(resolve, id=strawberry.ID, **{"return": bool})


def _attributes(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed([Fault("attributes", "attributes is a JSON object")])
    return {snake(k): v for k, v in value.items()}


def link(
    info: Info,
    relationship: str,
    fromId: strawberry.ID,
    toId: strawberry.ID,
    attributes: Optional[JSON] = None,  # noqa: UP045
) -> bool:
    ctx = _ctx(info)
    with ctx.writer() as session:
        return session.link(relationship, str(fromId), str(toId), _attributes(attributes))


def unlink(info: Info, relationship: str, fromId: strawberry.ID, toId: strawberry.ID) -> bool:
    ctx = _ctx(info)
    with ctx.writer() as session:
        return session.unlink(relationship, str(fromId), str(toId))


def _admin(ctx: RequestContext) -> None:
    if not ctx.caller().is_admin:
        raise Forbidden("only an admin may change definitions")


def define_entity_type(module: str) -> Callable[..., Any]:
    def resolve(info: Info, definition: JSON, confirmDataLoss: Optional[bool] = None) -> Any:  # noqa: UP045
        ctx = _ctx(info)
        _admin(ctx)
        registry = ctx.services.registry
        if not isinstance(definition, dict) or "relationship" in definition:
            raise ValidationFailed([Fault("definition", "an entity-type definition is an object")])
        registry.apply(
            [definition],
            actor=ctx.caller(),
            channel="api",
            confirm_data_loss=bool(confirmDataLoss),
            request_id=ctx.request_id,
        )
        name = definition.get("x-xrm", {}).get("name")
        return _entity_type(registry.current().entity(name))

    return _annotate(
        resolve,
        definition=JSON,
        confirmDataLoss=Optional[bool],  # noqa: UP045
        **{"return": _lazy(module, "EntityType")},
    )


def define_relationship(module: str) -> Callable[..., Any]:
    def resolve(info: Info, definition: JSON) -> Any:
        ctx = _ctx(info)
        _admin(ctx)
        registry = ctx.services.registry
        if not isinstance(definition, dict) or "relationship" not in definition:
            raise ValidationFailed([Fault("definition", "a relationship definition is an object")])
        registry.apply([definition], actor=ctx.caller(), channel="api", request_id=ctx.request_id)
        rel = registry.current().relationship(definition["relationship"])
        return {"name": rel.name, "definition": dict(rel.definition)}

    return _annotate(resolve, definition=JSON, **{"return": _lazy(module, "Relationship")})
