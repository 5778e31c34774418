"""Generate the GraphQL schema of one catalog version, in the shape of CONTRACT §4.

The types are built directly as graphql-core objects (the engine under
strawberry), not as strawberry classes: strawberry builds a type by making
and inspecting a dataclass, which measured ~330 µs per field, so 200 types of
20 fields took 9 s against a budget of 3 s; graphql-core objects cost a few
microseconds each and refer to each other through thunks, so mutually
referencing types need no tricks. Strawberry still serves the HTTP side
(``xrm.api.view``). Field names follow CONTRACT §4; arguments reach resolvers
as plain dicts with GraphQL names, absent fields absent, which is exactly the
create/patch semantics the record service wants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLError,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    execute_sync,
    parse,
    validate,
)
from graphql.error import GraphQLSyntaxError
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from xrm.api import duplicates_api, fast, json_plan, resolvers, workflow_api
from xrm.api.context import RequestContext
from xrm.api.express import Plans
from xrm.api.scalars import BIGINT, DATE, DATETIME, DECIMAL, JSON
from xrm.entities.catalog_state import Catalog, build_catalog
from xrm.errors import Forbidden
from xrm.platform.access import HIDDEN
from xrm.schemas.graphql_names import (
    API_MUTATION_FIELDS,
    API_QUERY_FIELDS,
    API_TYPES,
    OWNER_INPUT,
    SYSTEM_FIELDS,
    EntityNames,
)
from xrm.schemas.model import EntityType, Property
from xrm.schemas.naming import camel

Thunk = Callable[[], Any]

SORT_DIRECTION = GraphQLEnumType(
    "SortDirection",
    {"ASC": GraphQLEnumValue("ASC"), "DESC": GraphQLEnumValue("DESC")},
    description="Sort direction: nulls come last ascending, first descending.",
)

# Value kind -> (output type, comparison input name).
SCALARS: dict[str, tuple[Any, str]] = {
    "string": (GraphQLString, "StringComparison"),
    "email": (GraphQLString, "StringComparison"),
    "uri": (GraphQLString, "StringComparison"),
    "phone": (GraphQLString, "StringComparison"),
    "enum": (GraphQLString, "StringComparison"),
    "uuid": (GraphQLString, "StringComparison"),
    "date": (DATE, "DateComparison"),
    "datetime": (DATETIME, "DateTimeComparison"),
    "decimal": (DECIMAL, "DecimalComparison"),
    "integer": (GraphQLInt, "IntComparison"),
    "int64": (BIGINT, "BigIntComparison"),
    "number": (GraphQLFloat, "FloatComparison"),
    "boolean": (GraphQLBoolean, "BooleanComparison"),
    "array": (GraphQLList(GraphQLNonNull(GraphQLString)), "ListComparison"),
    "object": (JSON, "ListComparison"),
}
TEXT_OPS = (
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
)
ORDERED_OPS = ("eq", "ne", "in", "notIn", "lt", "lte", "gt", "gte", "between")
LIST_OPS = ("in", "notIn", "between")


def _nn(t: Any) -> GraphQLNonNull[Any]:
    return GraphQLNonNull(t)


def _list(t: Any) -> GraphQLNonNull[Any]:
    return GraphQLNonNull(GraphQLList(GraphQLNonNull(t)))


def _key(name: str) -> Callable[..., Any]:
    """A resolver reading ``name`` from a record dict; FORBIDDEN where the value is hidden."""

    def resolve(source: Any, info: Any) -> Any:
        value = source.get(name)
        if value is HIDDEN:
            raise Forbidden(f"{info.parent_type.name}.{info.field_name} is hidden from you")
        return value

    resolve.xrm_key = name  # type: ignore[attr-defined]  # the fast path reads it directly
    return resolve


def _comparison(name: str, scalar: Any, ops: tuple[str, ...]) -> GraphQLInputObjectType:
    fields = {
        op: GraphQLInputField(GraphQLList(_nn(scalar)) if op in LIST_OPS else scalar) for op in ops
    }
    fields["isNull"] = GraphQLInputField(GraphQLBoolean)
    return GraphQLInputObjectType(name, fields, description=f"Comparisons of {name[:-10]} values.")


def _shared() -> dict[str, Any]:
    """Types every schema has, built once per process (they never change)."""
    out: dict[str, Any] = {}
    for _kind, (scalar, name) in SCALARS.items():
        if name in out:
            continue
        if name == "ListComparison":
            out[name] = _comparison(name, GraphQLString, ())
        elif name == "StringComparison":
            out[name] = _comparison(name, GraphQLString, TEXT_OPS)
        elif name == "BooleanComparison":
            out[name] = _comparison(name, GraphQLBoolean, ("eq", "ne"))
        else:
            # Decimal and BigInt comparisons take strings or numbers, like their inputs.
            out[name] = _comparison(name, scalar, ORDERED_OPS)
    out["IDComparison"] = _comparison("IDComparison", GraphQLID, ("eq", "ne", "in", "notIn"))
    out["PageInfo"] = GraphQLObjectType(
        "PageInfo",
        {
            "hasNextPage": GraphQLField(_nn(GraphQLBoolean)),
            "endCursor": GraphQLField(GraphQLString),
        },
    )
    out["User"] = GraphQLObjectType(
        "User",
        {
            "id": GraphQLField(_nn(GraphQLID)),
            "email": GraphQLField(_nn(GraphQLString)),
            "name": GraphQLField(GraphQLString),
        },
        description="A user of xrm (read-only here).",
    )
    user_filter: GraphQLInputObjectType = GraphQLInputObjectType(
        "UserFilter",
        lambda: {
            "and": GraphQLInputField(GraphQLList(_nn(user_filter))),
            "or": GraphQLInputField(GraphQLList(_nn(user_filter))),
            "not": GraphQLInputField(user_filter),
            "id": GraphQLInputField(out["IDComparison"]),
            "email": GraphQLInputField(out["StringComparison"]),
            "name": GraphQLInputField(out["StringComparison"]),
        },
        description="Conditions on a user (an owner, an assignee, any reference to user).",
    )
    out["UserFilter"] = user_filter
    out["AuditEntry"] = GraphQLObjectType(
        "AuditEntry",
        {
            "at": GraphQLField(_nn(DATETIME)),
            "actor": GraphQLField(GraphQLString, description="The actor's e-mail."),
            "action": GraphQLField(_nn(GraphQLString)),
            "version": GraphQLField(
                GraphQLInt, description="The version this create or update made (restorable)."
            ),
            "changes": GraphQLField(
                JSON,
                description="Changed fields by their API names (serialNo, partnerId): [old, new].",
            ),
            "channel": GraphQLField(
                _nn(GraphQLString),
                description="Where the change came from: api, admin, import, workflow, plugin, "
                "cli or system.",
            ),
            "requestId": GraphQLField(
                GraphQLString, description="The id of the request that made it (also in the logs)."
            ),
        },
        description="One change of a record: who, when, from where, what.",
    )
    out["AggregateGroup"] = GraphQLObjectType(
        "AggregateGroup",
        {
            "group": GraphQLField(JSON),
            "count": GraphQLField(_nn(GraphQLInt)),
            **{m: GraphQLField(JSON) for m in ("sum", "avg", "min", "max")},
        },
    )
    out["PlanStep"] = GraphQLObjectType(
        "PlanStep",
        {
            "action": GraphQLField(
                _nn(GraphQLString), description="create_table, add_column, check_rows, ..."
            ),
            "target": GraphQLField(
                _nn(GraphQLString), description="The type or relationship it changes."
            ),
            "description": GraphQLField(
                _nn(GraphQLString),
                description="The step in words; a blocked step says which rules the stored "
                "records break and how many.",
            ),
            "blockingRecords": GraphQLField(
                _nn(GraphQLList(_nn(GraphQLID))),
                description="The records that stop this step (the first 100 per rule).",
            ),
        },
        description="One step of a definition change.",
    )
    out["ChangePlan"] = GraphQLObjectType(
        "ChangePlan",
        {
            "steps": GraphQLField(_nn(GraphQLList(_nn(out["PlanStep"])))),
            "blocked": GraphQLField(
                _nn(GraphQLBoolean),
                description="Stored records stop the change (only a dry run answers this).",
            ),
        },
        description="The steps of the change just made or, with dryRun, proposed.",
    )
    plan = GraphQLField(
        out["ChangePlan"],
        description="The plan of the change just made or, with dryRun, proposed; "
        "null when the definition was only read.",
    )
    out["EntityType"] = GraphQLObjectType(
        "EntityType",
        {
            "name": GraphQLField(_nn(GraphQLString)),
            "plural": GraphQLField(_nn(GraphQLString)),
            "version": GraphQLField(_nn(GraphQLInt)),
            "definition": GraphQLField(_nn(JSON)),
            "plan": plan,
        },
    )
    out["Role"] = GraphQLObjectType(
        "Role",
        {
            "name": GraphQLField(_nn(GraphQLString)),
            "builtin": GraphQLField(_nn(GraphQLBoolean)),
            "version": GraphQLField(_nn(GraphQLInt)),
            "definition": GraphQLField(_nn(JSON)),
        },
        description="What the users holding a role may do.",
    )
    out["Relationship"] = GraphQLObjectType(
        "Relationship",
        {
            "name": GraphQLField(_nn(GraphQLString)),
            "version": GraphQLField(_nn(GraphQLInt)),
            "definition": GraphQLField(_nn(JSON)),
            "plan": plan,
        },
    )
    return out


SHARED = _shared()
_EMPTY = build_catalog(0, {}, {}, "ZZ")  # no entity types: what is left is the API's own


class SchemaClash(Exception):
    """Two definitions (or one and the API) generate one GraphQL name.

    Refused when a definition is applied (``xrm.schemas.graphql_names``); met
    here only with a catalog stored around that check, which the schema cache
    then serves without the definitions that clash (``xrm.api.schema_cache``).
    """


def _free(fields: Mapping[str, Any], name: str, own: frozenset[str]) -> str:
    """``name``, unless it is taken (by a field made before, or the API): :class:`SchemaClash`."""
    if name in fields or name in own:
        raise SchemaClash(f"two root fields named {name!r}")
    return name


class SchemaBuilder:
    """Builds the whole schema of one catalog; one builder per schema version."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.types: dict[str, Any] = dict(SHARED)

    def t(self, name: str) -> Any:
        return self.types[name]

    def _put(self, name: str, made: Any) -> None:
        """Add a generated type; a name already taken stops the build (never a silent swap)."""
        if name in self.types or name in API_TYPES:
            raise SchemaClash(f"two GraphQL types named {name!r}")
        self.types[name] = made

    def names(self, entity: str) -> EntityNames:
        """The generated names of ``entity`` (``xrm.schemas.graphql_names``, checked there)."""
        et = self.catalog.types[entity]
        return EntityNames.of(et.name, et.plural)

    def object_of(self, entity: str) -> Any:
        """The object type a reference to ``entity`` answers (``User`` for the system type)."""
        return self.t("User" if entity == "user" else self.names(entity).object)

    def filter_of(self, entity: str) -> Any:
        return self.t("UserFilter" if entity == "user" else self.names(entity).filter)

    def _to_many(self, entity: str) -> list[tuple[str, str]]:
        out = [(inv.name, inv.entity) for inv in self.catalog.inverses.get(entity, {}).values()]
        out.extend((lf.name, lf.other) for lf in self.catalog.links.get(entity, {}).values())
        return out

    def _list_args(self, entity: str) -> dict[str, GraphQLArgument]:
        names = self.names(entity)
        return {
            "filter": GraphQLArgument(self.t(names.filter)),
            "orderBy": GraphQLArgument(GraphQLList(_nn(self.t(names.order)))),
            "first": GraphQLArgument(GraphQLInt),
            "after": GraphQLArgument(GraphQLString),
        }

    # --- per entity type ---------------------------------------------------------------------

    def _object_fields(self, et: EntityType) -> dict[str, GraphQLField]:
        fields: dict[str, GraphQLField] = {"id": GraphQLField(_nn(GraphQLID))}
        for prop in et.properties.values():
            description = prop.schema.get("description") or prop.schema.get("title")
            graphql = camel(prop.name)
            if prop.ref is not None:
                fields[graphql] = GraphQLField(
                    self.object_of(prop.ref.entity),
                    resolve=resolvers.loaded,
                    description=description,
                )
                fields[graphql + "Id"] = GraphQLField(GraphQLID, resolve=_key(prop.name))
                continue
            output = SCALARS[prop.kind][0]
            if prop.required and not prop.autonumber:
                output = _nn(output)
            fields[graphql] = GraphQLField(output, resolve=_key(prop.name), description=description)
        for field_name, target in self._to_many(et.name):
            fields[camel(field_name)] = GraphQLField(
                _nn(self.t(self.names(target).connection)),
                args=self._list_args(target),
                resolve=resolvers.loaded,
            )
        fields["version"] = GraphQLField(_nn(GraphQLInt))
        fields["createdAt"] = GraphQLField(_nn(DATETIME), resolve=_key("created_at"))
        fields["updatedAt"] = GraphQLField(_nn(DATETIME), resolve=_key("updated_at"))
        for graphql in ("createdBy", "updatedBy", "owner"):
            fields[graphql] = GraphQLField(self.t("User"), resolve=resolvers.loaded)
        fields["history"] = GraphQLField(_list(self.t("AuditEntry")), resolve=resolvers.loaded)
        return fields

    def _object(self, et: EntityType) -> None:
        names = self.names(et.name)
        self._put(
            names.object,
            GraphQLObjectType(
                names.object,
                lambda: self._object_fields(et),
                description=et.description or et.title,
            ),
        )
        self._put(
            names.edge,
            GraphQLObjectType(
                names.edge,
                lambda: {
                    "cursor": GraphQLField(_nn(GraphQLString)),
                    "node": GraphQLField(_nn(self.t(names.object))),
                    "attributes": GraphQLField(JSON, description="The link's own values."),
                },
            ),
        )
        self._put(
            names.connection,
            GraphQLObjectType(
                names.connection,
                lambda: {
                    "edges": GraphQLField(_list(self.t(names.edge))),
                    "nodes": GraphQLField(_list(self.t(names.object))),
                    "pageInfo": GraphQLField(_nn(self.t("PageInfo"))),
                    "totalCount": GraphQLField(_nn(GraphQLInt)),
                },
            ),
        )

    def _filter_fields(self, et: EntityType) -> dict[str, GraphQLInputField]:
        me = self.t(self.names(et.name).filter)
        fields: dict[str, GraphQLInputField] = {
            "and": GraphQLInputField(GraphQLList(_nn(me))),
            "or": GraphQLInputField(GraphQLList(_nn(me))),
            "not": GraphQLInputField(me),
        }
        for graphql, key in SYSTEM_FIELDS.items():
            kind = {
                "version": "IntComparison",
                "created_at": "DateTimeComparison",
                "updated_at": "DateTimeComparison",
            }.get(key, "IDComparison")
            fields[graphql] = GraphQLInputField(self.t(kind))
        for prop in et.properties.values():
            graphql = camel(prop.name)
            if prop.ref is not None:
                fields[graphql + "Id"] = GraphQLInputField(self.t("IDComparison"))
                fields[graphql] = GraphQLInputField(self.filter_of(prop.ref.entity))
                continue
            fields[graphql] = GraphQLInputField(self.t(SCALARS[prop.kind][1]))
        for field_name, target in self._to_many(et.name):
            fields[camel(field_name)] = GraphQLInputField(self.t(self.names(target).list_filter))
        return fields

    def _filters(self, et: EntityType) -> None:
        names = self.names(et.name)
        self._put(
            names.filter,
            GraphQLInputObjectType(
                names.filter,
                lambda: self._filter_fields(et),
                description=f"Conditions on {et.plural}.",
            ),
        )
        self._put(
            names.list_filter,
            GraphQLInputObjectType(
                names.list_filter,
                lambda: {
                    "some": GraphQLInputField(self.t(names.filter)),
                    "none": GraphQLInputField(self.t(names.filter)),
                },
                description=f"Conditions on a list of {et.plural}: some match, or none does.",
            ),
        )
        order = {
            graphql: GraphQLInputField(SORT_DIRECTION)
            for graphql, key in SYSTEM_FIELDS.items()
            if key in ("id", "version", "created_at", "updated_at")
        }
        for prop in et.properties.values():
            if prop.storage != "json":
                graphql = camel(prop.name) + ("Id" if prop.ref is not None else "")
                order[graphql] = GraphQLInputField(SORT_DIRECTION)
        self._put(
            names.order,
            GraphQLInputObjectType(
                names.order, order, description="Name exactly one field per item."
            ),
        )

    def _input_type(self, prop: Property) -> Any:
        if prop.ref is not None:
            return GraphQLID
        return SCALARS[prop.kind][0]

    def _inputs(self, et: EntityType) -> None:
        names = self.names(et.name)
        create: dict[str, GraphQLInputField] = {}
        patch: dict[str, GraphQLInputField] = {}
        # A ``before`` rule on create may fill required fields (CONTRACT §5), so while one
        # exists they are optional here; the server still names any left empty.
        filled = any(
            w.enabled and w.stage == "before" and w.entity == et.name and w.fires_on("create")
            for w in self.catalog.workflows.values()
        )
        for prop in et.properties.values():
            if prop.autonumber:  # numbers are the sequence's alone
                continue
            graphql = camel(prop.name) + ("Id" if prop.ref is not None else "")
            value = self._input_type(prop)
            needed = prop.required and not prop.has_default and not filled
            create[graphql] = GraphQLInputField(_nn(value) if needed else value)
            patch[graphql] = GraphQLInputField(value)
        owner = GraphQLInputField(
            GraphQLID, description="The owning user (default: the caller); reassigns on update."
        )
        create[OWNER_INPUT[0]] = patch[OWNER_INPUT[0]] = owner
        self._put(
            names.input,
            GraphQLInputObjectType(names.input, create, description=f"A new {et.name}."),
        )
        self._put(
            names.patch,
            GraphQLInputObjectType(
                names.patch, patch, description=f"Changes to a {et.name}: only the fields given."
            ),
        )

    # --- root types --------------------------------------------------------------------------

    def build(self) -> GraphQLSchema:
        types_ = [et for et in self.catalog.types.values() if not et.system]
        for et in types_:
            self._object(et)
            self._filters(et)
            self._inputs(et)
        query: dict[str, GraphQLField] = {}
        mutation: dict[str, GraphQLField] = {}
        for et in types_:
            names = self.names(et.name)
            query[_free(query, names.one, API_QUERY_FIELDS)] = GraphQLField(
                self.t(names.object),
                args={"id": GraphQLArgument(_nn(GraphQLID))},
                resolve=fast.root_resolver("get", et.name, resolvers.get_one(et.name)),
            )
            query[_free(query, names.many, API_QUERY_FIELDS)] = GraphQLField(
                _nn(self.t(names.connection)),
                args=self._list_args(et.name),
                resolve=fast.root_resolver("list", et.name, resolvers.list_of(et.name)),
            )
            query[_free(query, names.aggregate, API_QUERY_FIELDS)] = GraphQLField(
                _list(self.t("AggregateGroup")),
                args={
                    "filter": GraphQLArgument(self.t(names.filter)),
                    "groupBy": GraphQLArgument(GraphQLList(_nn(GraphQLString))),
                },
                resolve=resolvers.aggregate(et.name),
            )
            mutation[_free(mutation, names.create, API_MUTATION_FIELDS)] = GraphQLField(
                _nn(self.t(names.object)),
                args={"input": GraphQLArgument(_nn(self.t(names.input)))},
                resolve=resolvers.create_one(et.name),
            )
            mutation[_free(mutation, names.create_many, API_MUTATION_FIELDS)] = GraphQLField(
                _list(self.t(names.object)),
                args={"inputs": GraphQLArgument(_list(self.t(names.input)))},
                resolve=resolvers.create_many(et.name),
                description="All or nothing: one failing input creates none.",
            )
            mutation[_free(mutation, names.update, API_MUTATION_FIELDS)] = GraphQLField(
                _nn(self.t(names.object)),
                args={
                    "id": GraphQLArgument(_nn(GraphQLID)),
                    "input": GraphQLArgument(_nn(self.t(names.patch))),
                    "expectedVersion": GraphQLArgument(GraphQLInt),
                },
                resolve=resolvers.update(et.name),
            )
            mutation[_free(mutation, names.restore, API_MUTATION_FIELDS)] = GraphQLField(
                _nn(self.t(names.object)),
                args={
                    "id": GraphQLArgument(_nn(GraphQLID)),
                    "version": GraphQLArgument(_nn(GraphQLInt)),
                    "expectedVersion": GraphQLArgument(GraphQLInt),
                },
                resolve=resolvers.restore(et.name),
                description="Bring the fields back to an earlier version (a new, audited change).",
            )
            mutation[_free(mutation, names.delete, API_MUTATION_FIELDS)] = GraphQLField(
                _nn(GraphQLBoolean),
                args={"id": GraphQLArgument(_nn(GraphQLID))},
                resolve=resolvers.delete(et.name),
            )
        query["entityTypes"] = GraphQLField(
            _list(self.t("EntityType")), resolve=resolvers.entity_types
        )
        query["roles"] = GraphQLField(_list(self.t("Role")), resolve=resolvers.roles)
        mutation["defineRole"] = GraphQLField(
            _nn(self.t("Role")),
            args={
                "definition": GraphQLArgument(_nn(JSON)),
                "expectedVersion": GraphQLArgument(GraphQLInt, description=_DEFINITION_VERSION),
            },
            resolve=resolvers.define_role,
        )
        query["relationships"] = GraphQLField(
            _list(self.t("Relationship")), resolve=resolvers.relationships
        )
        link_args = {
            "relationship": GraphQLArgument(_nn(GraphQLString)),
            "fromId": GraphQLArgument(_nn(GraphQLID)),
            "toId": GraphQLArgument(_nn(GraphQLID)),
        }
        mutation["link"] = GraphQLField(
            _nn(GraphQLBoolean),
            args={**link_args, "attributes": GraphQLArgument(JSON)},
            resolve=resolvers.link,
        )
        mutation["unlink"] = GraphQLField(
            _nn(GraphQLBoolean), args=link_args, resolve=resolvers.unlink
        )
        mutation["mergeRecords"] = GraphQLField(
            _nn(GraphQLID),
            args={
                "entity": GraphQLArgument(_nn(GraphQLString)),
                "keep": GraphQLArgument(_nn(GraphQLID)),
                "remove": GraphQLArgument(_nn(GraphQLID)),
                "values": GraphQLArgument(JSON),
            },
            resolve=resolvers.merge_records,
            description=(
                "Merge `remove` into `keep`: references and links move to `keep`, `remove` is "
                "deleted, both histories stay; `values` sets fields of the kept record. "
                "Answers the kept record's id."
            ),
        )
        mutation["eraseRecord"] = GraphQLField(
            _nn(GraphQLBoolean),
            args={
                "entity": GraphQLArgument(_nn(GraphQLString)),
                "id": GraphQLArgument(_nn(GraphQLID)),
            },
            resolve=resolvers.erase_record,
            description="Delete a record and redact its values in the audit trail (admin only).",
        )
        mutation["defineEntityType"] = GraphQLField(
            _nn(self.t("EntityType")),
            args={
                "definition": GraphQLArgument(_nn(JSON)),
                "confirmDataLoss": GraphQLArgument(GraphQLBoolean),
                "expectedVersion": GraphQLArgument(GraphQLInt, description=_DEFINITION_VERSION),
                "dryRun": GraphQLArgument(GraphQLBoolean, description=_DRY_RUN),
            },
            resolve=resolvers.define_entity_type,
        )
        mutation["defineRelationship"] = GraphQLField(
            _nn(self.t("Relationship")),
            args={
                "definition": GraphQLArgument(_nn(JSON)),
                "expectedVersion": GraphQLArgument(GraphQLInt, description=_DEFINITION_VERSION),
                "dryRun": GraphQLArgument(GraphQLBoolean, description=_DRY_RUN),
            },
            resolve=resolvers.define_relationship,
        )
        workflow_api.add_fields(query, mutation)
        duplicates_api.add_fields(query, self.t("PageInfo"))
        schema = GraphQLSchema(
            query=GraphQLObjectType("Query", query),
            mutation=GraphQLObjectType("Mutation", mutation),
            types=[t for t in self.types.values() if isinstance(t, GraphQLObjectType)],
        )
        undeclared = unreserved_names(schema, types_)
        if undeclared:
            # A name the API took for itself without reserving it: a definition could take it
            # too and break the schema. Every test that builds a schema fails here.
            raise RuntimeError(
                "the API builds names that xrm.schemas.graphql_names does not reserve: "
                + ", ".join(undeclared)
            )
        return schema


def unreserved_names(schema: GraphQLSchema, types: Iterable[EntityType]) -> list[str]:
    """Names in ``schema`` that neither ``types`` generate nor the API reserves for itself.

    The API's own names are listed in ``xrm.schemas.graphql_names`` (below the
    API, where definitions are checked); this keeps that list true to what the
    builder actually makes.
    """
    made: dict[str, set[str]] = {"type": set(), "query": set(), "mutation": set()}
    for et in types:
        names = EntityNames.of(et.name, et.plural)
        made["type"].update(names.types())
        for scope, name, _key in names.roots():
            made[scope].add(name)
    reserved = {"type": API_TYPES, "query": API_QUERY_FIELDS, "mutation": API_MUTATION_FIELDS}
    present = {
        "type": {n for n in schema.type_map if not n.startswith("__")},
        "query": set(schema.query_type.fields) if schema.query_type else set(),
        "mutation": set(schema.mutation_type.fields) if schema.mutation_type else set(),
    }
    return sorted(
        f"{scope} {name}"
        for scope, names in present.items()
        for name in names - made[scope] - reserved[scope]
    )


def own_names() -> dict[str, set[str]]:
    """The names the API gives itself, by kind: those of a schema with no entity types,
    and every shared type and scalar the builder can put in one."""
    schema = SchemaBuilder(_EMPTY).build()
    types = {n for n in schema.type_map if not n.startswith("__")}
    types |= set(SHARED) | {SORT_DIRECTION.name, BIGINT.name, DATE.name, DATETIME.name}
    types |= {DECIMAL.name, JSON.name, GraphQLFloat.name}
    assert schema.query_type is not None and schema.mutation_type is not None
    return {
        "type": types,
        "query": set(schema.query_type.fields),
        "mutation": set(schema.mutation_type.fields),
    }


_DEFINITION_VERSION = (
    "The stored definition's version this change was made against (0: not defined yet); "
    "if it changed since, CONFLICT and nothing is applied."
)
_DRY_RUN = (
    "Apply nothing: answer the definition as it would be, with its plan "
    "(blocked, with the blocking records, where stored records stop it)."
)


@lru_cache(maxsize=512)
def _parse(query: str) -> DocumentNode | GraphQLError:
    try:
        return parse(query)
    except GraphQLSyntaxError as exc:
        return exc


class GeneratedSchema:
    """One catalog version's executable schema, validated documents cached per query text."""

    def __init__(self, catalog: Catalog) -> None:
        self.version = catalog.version
        self.graphql = SchemaBuilder(catalog).build()
        # The entity types it serves (a stand-in for a catalog that cannot build may lack some).
        self.entities = frozenset(n for n, et in catalog.types.items() if not et.system)
        self._validated: dict[str, list[GraphQLError]] = {}
        self.fast_path = True  # plain queries skip per-field execution (tests compare both)
        self.plans = Plans()  # repeated plain queries, answered in one round trip (express)

    def __str__(self) -> str:
        from graphql import print_schema

        return print_schema(self.graphql)

    def retire(self) -> None:
        """Let go of what requests left behind: a serving process may keep this object itself
        (``xrm.platform.heap`` freezes the schema it starts with)."""
        self.plans.clear()
        self._validated.clear()
        if self.graphql.query_type is not None:
            json_plan.forget(self.graphql.query_type)

    def execute_sync(
        self,
        query: str,
        *,
        variable_values: Mapping[str, Any] | None = None,
        context_value: Any = None,
        operation_name: str | None = None,
        allowed_operation_types: set[OperationType] | None = None,
        document: DocumentNode | None = None,
    ) -> ExecutionResult:
        """Run ``query``; ``document`` is its parse when the caller already has it (the view)."""
        if document is None:
            parsed = _parse(query)
            if isinstance(parsed, GraphQLError):
                return ExecutionResult(data=None, errors=[parsed])
            document = parsed
        if allowed_operation_types is not None:
            kind = _operation_type(document, operation_name)
            if kind is not None and kind not in allowed_operation_types:
                raise InvalidOperationTypeError(kind)
        errors = self._validated.get(query)
        if errors is None:
            errors = validate(self.graphql, document)
            if len(self._validated) > 512:
                self._validated.clear()
            self._validated[query] = errors
        if errors:
            return ExecutionResult(data=None, errors=errors)
        if self.fast_path and isinstance(context_value, RequestContext):
            data = fast.run(self.graphql, document, operation_name, variable_values, context_value)
            if data is not None:
                return ExecutionResult(data=data)
        return execute_sync(
            self.graphql,
            document,
            context_value=context_value,
            variable_values=dict(variable_values or {}),
            operation_name=operation_name,
        )


def _operation_type(document: DocumentNode, name: str | None) -> OperationType | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return OperationType(definition.operation.value)
    return None


def build_schema(catalog: Catalog) -> GeneratedSchema:
    """The executable schema of ``catalog``."""
    return GeneratedSchema(catalog)
