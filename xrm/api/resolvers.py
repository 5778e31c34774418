"""Resolvers of the generated schema: thin adapters from GraphQL to the record service.

Lists load their whole selection up front (``loading.preload``); relation
fields (``loaded``) then read what was loaded, and only load for their one
parent when the object came from elsewhere. Arguments arrive as graphql-core
coerced them: plain dicts with GraphQL names, absent fields absent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from graphql import GraphQLResolveInfo

from xrm.api.context import RequestContext
from xrm.api.loading import connection, current, list_arguments, node_selections, preload, selects
from xrm.entities.registry import (
    ENTITY_TYPE,
    KIND_WORDS,
    RELATIONSHIP,
    ROLE,
    WORKFLOW,
    definition_kind,
)
from xrm.errors import DefinitionError, Fault, Forbidden, ValidationFailed
from xrm.platform.access import HIDDEN, Permissions
from xrm.schemas.model import EntityType, Relationship
from xrm.schemas.naming import camel, snake
from xrm.schemas.plan import Plan
from xrm.schemas.roles import BUILTIN_ROLES, Role

Resolver = Callable[..., Any]


def _ctx(info: GraphQLResolveInfo) -> RequestContext:
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


def loaded(source: dict[str, Any], info: GraphQLResolveInfo, **_args: Any) -> Any:
    """A relation field: what the list above loaded, else loaded now for this one record."""
    key = "@" + str(info.path.key)
    if key not in source:
        ctx = _ctx(info)
        preload(ctx, ctx.reader(), str(source["@entity"]), [source], [current(info)])
    value = source.get(key)
    if value is HIDDEN:
        raise Forbidden(f"{info.parent_type.name}.{info.field_name} is hidden from you")
    if isinstance(value, Forbidden):
        raise value
    return value


# --- queries ---------------------------------------------------------------------------------


def is_id(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


loaded.xrm_loaded = True  # type: ignore[attr-defined]  # the fast path reads "@" + key


def get_one(entity: str) -> Resolver:
    def resolve(source: Any, info: GraphQLResolveInfo, id: str) -> Any:
        ctx = _ctx(info)
        session = ctx.reader()
        record = session.get(entity, id) if is_id(id) else None
        if record is not None:
            with _graphql_paths(ctx, entity):
                preload(ctx, session, entity, [record], current(info).children)
        return record

    return resolve


def list_of(entity: str) -> Resolver:
    def resolve(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        ctx = _ctx(info)
        session = ctx.reader()
        field = current(info)
        with _graphql_paths(ctx, entity):  # nested lists' filters are checked in preload
            page = session.query(
                entity, with_total=selects(field, "totalCount"), **list_arguments(ctx, entity, args)
            )
            preload(ctx, session, entity, page.items, node_selections(field))
        return connection(page)

    return resolve


def aggregate(entity: str) -> Resolver:
    def resolve(
        source: Any,
        info: GraphQLResolveInfo,
        filter: Any = None,
        groupBy: Any = None,
    ) -> Any:
        ctx = _ctx(info)
        with _graphql_paths(ctx, entity):
            groups = ctx.reader().aggregate(
                entity,
                filter=ctx.translator.filter(entity, filter),
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

    return resolve


def _entity_type(et: EntityType) -> dict[str, Any]:
    return {
        "name": et.name,
        "plural": et.plural,
        "version": et.version,
        "definition": dict(et.definition),
    }


def _relationship(rel: Relationship) -> dict[str, Any]:
    return {"name": rel.name, "version": rel.version, "definition": dict(rel.definition)}


def entity_types(source: Any, info: GraphQLResolveInfo) -> Any:
    ctx = _ctx(info)
    ctx.caller()
    return [_entity_type(et) for et in ctx.services.registry.current().types.values()]


def relationships(source: Any, info: GraphQLResolveInfo) -> Any:
    ctx = _ctx(info)
    ctx.caller()
    catalog = ctx.services.registry.current()
    return [_relationship(r) for r in catalog.relationships.values()]


# --- mutations -------------------------------------------------------------------------------


def create_one(entity: str) -> Resolver:
    def resolve(source: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
        ctx = _ctx(info)
        with _graphql_paths(ctx, entity), ctx.writer() as session:
            record = session.create(entity, ctx.translator.values(entity, input))
            preload(ctx, session, entity, [record], current(info).children)
        return record

    return resolve


def create_many(entity: str) -> Resolver:
    def resolve(source: Any, info: GraphQLResolveInfo, inputs: list[dict[str, Any]]) -> Any:
        ctx = _ctx(info)
        with _graphql_paths(ctx, entity), ctx.writer() as session:
            rows = [ctx.translator.values(entity, i) for i in inputs]
            records = session.create_many(entity, rows, prefix="inputs")
            preload(ctx, session, entity, records, current(info).children)
        return records

    return resolve


def update(entity: str) -> Resolver:
    def resolve(
        source: Any,
        info: GraphQLResolveInfo,
        id: str,
        input: dict[str, Any],
        expectedVersion: int | None = None,
    ) -> Any:
        ctx = _ctx(info)
        with _graphql_paths(ctx, entity), ctx.writer() as session:
            record = session.update(
                entity, id, ctx.translator.values(entity, input), expected_version=expectedVersion
            )
            preload(ctx, session, entity, [record], current(info).children)
        return record

    return resolve


def restore(entity: str) -> Resolver:
    def resolve(
        source: Any,
        info: GraphQLResolveInfo,
        id: str,
        version: int,
        expectedVersion: int | None = None,
    ) -> Any:
        ctx = _ctx(info)
        with _graphql_paths(ctx, entity), ctx.writer() as session:
            record = session.restore(entity, id, version, expected_version=expectedVersion)
            preload(ctx, session, entity, [record], current(info).children)
        return record

    return resolve


def erase_record(source: Any, info: GraphQLResolveInfo, entity: str, id: str) -> bool:
    with _ctx(info).writer() as session:
        return session.erase(entity, id)


def delete(entity: str) -> Resolver:
    def resolve(source: Any, info: GraphQLResolveInfo, id: str) -> bool:
        with _ctx(info).writer() as session:
            return session.delete(entity, id)

    return resolve


def _attributes(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed([Fault("attributes", "attributes is a JSON object")])
    return {snake(k): v for k, v in value.items()}


def link(
    source: Any,
    info: GraphQLResolveInfo,
    relationship: str,
    fromId: str,
    toId: str,
    attributes: Any = None,
) -> bool:
    with _ctx(info).writer() as session:
        return session.link(relationship, fromId, toId, _attributes(attributes))


def unlink(
    source: Any,
    info: GraphQLResolveInfo,
    relationship: str,
    fromId: str,
    toId: str,
) -> bool:
    with _ctx(info).writer() as session:
        return session.unlink(relationship, fromId, toId)


def merge_records(
    source: Any,
    info: GraphQLResolveInfo,
    entity: str,
    keep: str,
    remove: str,
    values: Any = None,
) -> str:
    ctx = _ctx(info)
    if values is not None and not isinstance(values, dict):
        raise ValidationFailed([Fault("values", "values is a JSON object")])
    assert ctx.catalog is not None
    et = ctx.catalog.entity(entity)
    fields: dict[str, Any] = {}
    for key, value in (values or {}).items():
        name = snake(key)
        # A reference is given as the API spells it, ``partnerId``.
        if name.endswith("_id") and (p := et.properties.get(name[:-3])) and p.ref is not None:
            name = p.name
        fields[name] = value
    with _graphql_paths(ctx, entity), ctx.writer() as session:
        return str(session.merge(entity, keep, remove, fields)["id"])


def _require_right(ctx: RequestContext, right: str) -> None:
    assert ctx.catalog is not None
    Permissions.of(ctx.caller(), ctx.catalog.roles).require_right(right)


# Each kind of definition has one door, guarded by the right that kind needs: a role changes
# what people may do, so it never goes through the door for types (issue 10, point 8).
DOORS = {
    ENTITY_TYPE: ("defineEntityType", "define_types"),
    RELATIONSHIP: ("defineRelationship", "define_types"),
    ROLE: ("defineRole", "manage_users"),
    WORKFLOW: ("defineWorkflow", "define_workflows"),
}
# Where a definition says which kind it is: the path a misdirected one is refused at.
_MARK = {ENTITY_TYPE: "x-xrm", RELATIONSHIP: "relationship", ROLE: "role", WORKFLOW: "on"}


def plan_answer(plan: Plan) -> dict[str, Any]:
    """A plan as ``ChangePlan`` (CONTRACT §4): its steps in words, blocked ones with records."""
    steps = [
        {
            "action": step.action,
            "target": step.target,
            "description": plan.describe_step(index),
            "blockingRecords": plan.blocking_records(index),
        }
        for index, step in enumerate(plan.steps)
    ]
    return {"steps": steps, "blocked": plan.blocked}


def define_one(
    info: GraphQLResolveInfo,
    kind: str,
    definition: Any,
    expected_version: int | None,
    confirm_data_loss: bool = False,
    dry_run: bool = False,
) -> Plan:
    """Apply (or, with ``dry_run``, plan) one definition of ``kind`` for the caller.

    The right comes first, then the kind: nothing is parsed, let alone stored,
    for a caller without the right, and a definition of another kind is
    refused whatever rights the caller holds. Audited on channel ``api``.
    """
    ctx = _ctx(info)
    mutation, right = DOORS[kind]
    _require_right(ctx, right)
    if not isinstance(definition, dict):
        raise DefinitionError([Fault("", f"{KIND_WORDS[kind]} definition is a JSON object")])
    sent = definition_kind(definition)
    if sent != kind:
        door = DOORS[sent][0]
        said = f"this is {KIND_WORDS[sent]} definition: send it to {door}, not {mutation}"
        raise DefinitionError([Fault(_MARK[sent], said)])
    return ctx.services.registry.apply(
        [definition],
        actor=ctx.caller(),
        channel="api",
        dry_run=dry_run,
        confirm_data_loss=confirm_data_loss,
        request_id=ctx.request_id,
        expected_version=expected_version,
        kinds={kind},
    )


def define_entity_type(
    source: Any,
    info: GraphQLResolveInfo,
    definition: Any,
    confirmDataLoss: bool | None = None,
    expectedVersion: int | None = None,
    dryRun: bool | None = None,
) -> Any:
    plan = define_one(
        info, ENTITY_TYPE, definition, expectedVersion, bool(confirmDataLoss), bool(dryRun)
    )
    name = definition["x-xrm"]["name"]
    et = plan.types.get(name) or _ctx(info).services.registry.current().entity(name)
    return {**_entity_type(et), "plan": plan_answer(plan)}


def define_relationship(
    source: Any,
    info: GraphQLResolveInfo,
    definition: Any,
    expectedVersion: int | None = None,
    dryRun: bool | None = None,
) -> Any:
    plan = define_one(info, RELATIONSHIP, definition, expectedVersion, dry_run=bool(dryRun))
    name = definition["relationship"]
    rel = plan.relationships.get(name) or _ctx(info).services.registry.current().relationship(name)
    return {**_relationship(rel), "plan": plan_answer(plan)}


def _role(role: Role) -> dict[str, Any]:
    return {
        "name": role.name,
        "builtin": role.builtin,
        "version": role.version,
        "definition": dict(role.definition),
    }


def roles(source: Any, info: GraphQLResolveInfo) -> Any:
    ctx = _ctx(info)
    ctx.caller()
    defined = ctx.services.registry.current().roles
    return [_role(r) for r in [*BUILTIN_ROLES.values(), *defined.values()]]


def define_role(
    source: Any, info: GraphQLResolveInfo, definition: Any, expectedVersion: int | None = None
) -> Any:
    plan = define_one(info, ROLE, definition, expectedVersion)
    name = definition["role"]
    return _role(plan.roles.get(name) or _ctx(info).services.registry.current().roles[name])
