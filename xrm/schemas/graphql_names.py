"""The GraphQL names definitions generate, the names the API keeps for itself, and their clashes.

CONTRACT §4 derives every GraphQL name from a definition: type ``invoice_line``
(plural ``invoice_lines``) becomes the object ``InvoiceLine``, the inputs
``InvoiceLineFilter``, ``InvoiceLineInput``..., the query fields
``invoiceLine``, ``invoiceLines``, ``invoiceLinesAggregate`` and the mutations
``createInvoiceLine``...; a property ``serial_no`` becomes the field ``serialNo``.
Two different snake_case names can give the same GraphQL name (``item_2`` and
``item2`` both give ``Item2``), and a name can give one the API already uses
(``query`` gives ``Query``, ``date`` gives ``Date``). A schema with two types of
one name cannot be built at all, and two fields of one name hide one of them;
so such a definition is refused when it is defined, here, in the layer that
knows nothing of the API's code. The API builds every generated name with
:class:`EntityNames`, and refuses to build a schema holding a name of its own
that is not listed below (``xrm.api.schema.unreserved_names``), so this list
cannot fall behind the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

from xrm.schemas.model import EntityType, Relationship
from xrm.schemas.naming import camel, pascal

# --- the API's own names ------------------------------------------------------------------------

BUILTIN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})
CUSTOM_SCALARS = frozenset({"Date", "DateTime", "Decimal", "BigInt", "JSON"})
COMPARISONS = frozenset(
    {
        "StringComparison",
        "DateComparison",
        "DateTimeComparison",
        "DecimalComparison",
        "IntComparison",
        "BigIntComparison",
        "FloatComparison",
        "BooleanComparison",
        "ListComparison",
        "IDComparison",
    }
)
# Types every schema has; the last line holds CONTRACT §4 names not built yet, kept free for them.
API_TYPES = (
    BUILTIN_SCALARS
    | CUSTOM_SCALARS
    | COMPARISONS
    | frozenset(
        {
            "Query",
            "Mutation",
            "Subscription",
            "SortDirection",
            "PageInfo",
            "User",
            "UserFilter",
            "AuditEntry",
            "AggregateGroup",
            "EntityType",
            "Role",
            "Relationship",
            "ChangePlan",
            "PlanStep",
            "Workflow",
            "WorkflowRun",
            "DuplicatePair",
            "DuplicatePairConnection",
        }
    )
)
API_QUERY_FIELDS = frozenset(
    {"entityTypes", "relationships", "roles", "workflows", "workflowRuns", "duplicatePairs"}
)
API_MUTATION_FIELDS = frozenset(
    {
        "defineEntityType",
        "defineRelationship",
        "defineRole",
        "link",
        "unlink",
        "eraseRecord",
        "mergeRecords",
        "defineWorkflow",
        "deleteWorkflow",
        "runWorkflow",
        "retryWorkflowRun",
        "testWorkflow",
    }
)

# Fields every entity type's object, filter or input has, by GraphQL name -> record-service key.
SYSTEM_FIELDS = {
    "id": "id",
    "version": "version",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "createdBy": "created_by",
    "updatedBy": "updated_by",
    "owner": "owner",
}
OWNER_INPUT = ("ownerId", "owner")  # inputs and patches may reassign the record's owner
FILTER_KEYWORDS = ("and", "or", "not")
# Every field name the API gives each entity type itself, and why.
API_FIELDS: Mapping[str, str] = {
    **{name: "a system field" for name in SYSTEM_FIELDS},
    "history": "a system field",
    OWNER_INPUT[0]: "the input that gives a record to another owner",
    **{name: "a filter keyword" for name in FILTER_KEYWORDS},
}


# --- names a definition generates ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntityNames:
    """Every GraphQL name one entity type generates (CONTRACT §4); the API builds with these."""

    object: str
    edge: str
    connection: str
    filter: str
    list_filter: str
    order: str
    input: str
    patch: str
    one: str  # query fields: one record by id, a page of them, aggregates
    many: str
    aggregate: str
    create: str  # mutation fields
    create_many: str
    update: str
    restore: str
    delete: str

    @staticmethod
    @lru_cache(maxsize=4096)
    def of(name: str, plural: str) -> EntityNames:
        """The names of type ``name`` with plural ``plural``."""
        one, many = pascal(name), pascal(plural)
        return EntityNames(
            object=one,
            edge=f"{one}Edge",
            connection=f"{one}Connection",
            filter=f"{one}Filter",
            list_filter=f"{one}ListFilter",
            order=f"{one}Order",
            input=f"{one}Input",
            patch=f"{one}Patch",
            one=camel(name),
            many=camel(plural),
            aggregate=camel(plural) + "Aggregate",
            create=f"create{one}",
            create_many=f"create{many}",
            update=f"update{one}",
            restore=f"restore{one}",
            delete=f"delete{one}",
        )

    def types(self) -> dict[str, str]:
        """GraphQL type name -> what it is, for messages."""
        return {
            self.object: "the GraphQL type",
            self.edge: "the GraphQL type",
            self.connection: "the GraphQL type",
            self.filter: "the GraphQL input",
            self.list_filter: "the GraphQL input",
            self.order: "the GraphQL input",
            self.input: "the GraphQL input",
            self.patch: "the GraphQL input",
        }

    def roots(self) -> list[tuple[str, str, str]]:
        """``(namespace, name, the definition key it comes from)`` of every root field."""
        return [
            ("query", self.one, "name"),
            ("query", self.many, "plural"),
            ("query", self.aggregate, "plural"),
            ("mutation", self.create, "name"),
            ("mutation", self.create_many, "plural"),
            ("mutation", self.update, "name"),
            ("mutation", self.restore, "name"),
            ("mutation", self.delete, "name"),
        ]


def entity_names(et: EntityType) -> EntityNames:
    return EntityNames.of(et.name, et.plural)


def type_name(entity: str) -> str:
    """The object type of entity type ``entity`` (``User`` for the system type ``user``)."""
    return pascal(entity)


@dataclass(frozen=True, slots=True)
class FieldName:
    """What one GraphQL field of an entity type is: ``kind``, the service key, the target type."""

    kind: str  # value | ref | ref_id | many | system
    key: str
    target: str | None = None


def field_names(
    et: EntityType,
    inverses: Iterable[tuple[str, str]],
    links: Iterable[tuple[str, str]],
) -> dict[str, FieldName]:
    """Every GraphQL field name of ``et`` that filters, orders and inputs may use.

    ``inverses`` and ``links`` are its to-many fields as ``(name, other type)``.
    On a clash (refused at definition time; possible only in a catalog stored
    by an older release) the later field wins, as in the schema itself.
    """
    out: dict[str, FieldName] = {g: FieldName("system", key) for g, key in SYSTEM_FIELDS.items()}
    for prop in et.properties.values():
        if prop.ref is not None:
            out[camel(prop.name)] = FieldName("ref", prop.name, prop.ref.entity)
            out[camel(prop.name) + "Id"] = FieldName("ref_id", prop.name, prop.ref.entity)
        else:
            out[camel(prop.name)] = FieldName("value", prop.name)
    for name, other in [*inverses, *links]:
        out[camel(name)] = FieldName("many", name, other)
    return out


# --- clashes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clash:
    """One generated name that is already taken.

    ``owner`` is the definition (entity type or relationship) whose ``path``
    gives the name; ``others`` are the definitions that already give it (none:
    the API's own). ``scope`` is ``"type"``, ``"query"`` or ``"mutation"``
    (names of the whole schema: a clash there stops it from being built, or
    hides a root field) or ``"field"`` (one type's fields: a clash hides one).
    """

    owner: str
    path: str
    message: str
    scope: str
    others: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Holder:
    """Who gives one generated name: a definition (``owner``; None for the API) and where.

    ``snake`` is the name as the definition spells it; ``legacy`` says what
    holds it when two spellings are equal outright (the older snake_case rule's
    words: ``a property``); ``shown`` names it when only the generated names
    are equal (``property 'a_1'``).
    """

    owner: str | None
    path: str
    snake: str
    legacy: str
    shown: str


def _message(later: _Holder, earlier: _Holder, what: str, generated: str, on: str) -> str:
    """``later`` finds ``generated`` (a ``what``: "the GraphQL type") held by ``earlier``."""
    if earlier.owner is None:
        return (
            f"{later.snake!r}{on} becomes {what} {generated!r}, "
            f"which is {earlier.shown}; choose another name"
        )
    if later.snake == earlier.snake:
        return f"{later.snake!r}{on} is already {earlier.legacy}"
    return f"{later.snake!r}{on} becomes {what} {generated!r}, as {earlier.shown} does"


class _Names:
    """One namespace of generated names, filled holder by holder; yields a clash per repeat."""

    def __init__(self, scope: str, what: str, on: str = "") -> None:
        self.scope, self.what, self.on = scope, what, on
        self.taken: dict[str, _Holder] = {}

    def reserve(self, generated: str, holder: _Holder) -> None:
        self.taken.setdefault(generated, holder)

    def add(self, generated: str, holder: _Holder, what: str | None = None) -> Clash | None:
        assert holder.owner is not None
        earlier = self.taken.get(generated)
        if earlier is None:
            self.taken[generated] = holder
            return None
        if earlier.owner == holder.owner and earlier.path == holder.path:
            return None  # the same place giving a name twice (a reference and its id)
        message = _message(holder, earlier, what or self.what, generated, self.on)
        others = () if earlier.owner is None or earlier.owner == holder.owner else (earlier.owner,)
        return Clash(holder.owner, holder.path, message, self.scope, others)


def _schema_clashes(types: list[EntityType]) -> Iterator[Clash]:
    """Type names and root fields, against the API's own and each other's."""
    spaces = {
        "type": _Names("type", "the GraphQL type"),
        "query": _Names("query", "the query field"),
        "mutation": _Names("mutation", "the mutation"),
    }
    for scope, own, shown in (
        ("type", API_TYPES, "the API's own type"),
        ("query", API_QUERY_FIELDS, "the API's own query field"),
        ("mutation", API_MUTATION_FIELDS, "the API's own mutation"),
    ):
        for name in own:
            spaces[scope].reserve(name, _Holder(None, "", name, "reserved", shown))
    for et in types:
        names = entity_names(et)
        keys = {"name": et.name, "plural": et.plural}
        places: list[tuple[str, str, str, str | None]] = [
            ("type", g, "name", what) for g, what in names.types().items()
        ]
        places += [(scope, g, key, None) for scope, g, key in names.roots()]
        for scope, generated, key, what in places:
            snake = keys[key]
            holder = _Holder(
                et.name,
                f"x-xrm.{key}",
                snake,
                f"used by type {et.name!r}",
                f"type {et.name!r}" if key == "name" else f"the plural of type {et.name!r}",
            )
            clash = spaces[scope].add(generated, holder, what)
            if clash is None:
                continue
            earlier = spaces[scope].taken[generated]
            if earlier.owner == et.name:
                other_key = earlier.path.rsplit(".", 1)[-1]
                message = (
                    f"{snake!r} becomes {what or spaces[scope].what} {generated!r}, "
                    f"as its {other_key} {earlier.snake!r} does"
                )
                clash = Clash(et.name, holder.path, message, scope)
            elif earlier.owner is not None and earlier.snake == snake:
                continue  # name or plural used twice: the snake_case rule reports it
            yield clash


def _field_clashes(
    types: Mapping[str, EntityType],
    relationships: Mapping[str, Relationship],
    focus: set[str],
) -> Iterator[Clash]:
    """Each type's fields: properties, reference ids, inverses and link fields, camel-cased."""
    holders: dict[str, list[tuple[str, _Holder]]] = {name: [] for name in types}
    for et in types.values():
        mine = holders[et.name]
        for prop in et.properties.values():
            path = f"properties.{prop.name}"
            mine.append(
                (
                    camel(prop.name),
                    _Holder(et.name, path, prop.name, "a property", f"property {prop.name!r}"),
                )
            )
            if prop.ref is not None:
                shown = f"the id field of reference {prop.name!r}"
                holder = _Holder(
                    et.name, path, prop.column, f"the id column of {prop.name!r}", shown
                )
                mine.append((camel(prop.name) + "Id", holder))
    for et in types.values():
        for prop in et.references:
            assert prop.ref is not None
            target, inverse = prop.ref.entity, prop.ref.inverse
            if inverse and target in holders:
                whose = f"the inverse of {et.name}.{prop.name}"
                path = f"properties.{prop.name}.x-xrm-ref.inverse"
                holders[target].append(
                    (camel(inverse), _Holder(et.name, path, inverse, whose, whose))
                )
    for rel in relationships.values():
        whose = f"a field of relationship {rel.name!r}"
        for entity, field, key in (
            (rel.from_entity, rel.from_field, "fromField"),
            (rel.to_entity, rel.to_field, "toField"),
        ):
            if entity in holders:
                holders[entity].append((camel(field), _Holder(rel.name, key, field, whose, whose)))
    for name, found in holders.items():
        if types[name].system:
            continue
        fields = _Names("field", "the GraphQL field", f" on {name!r}")
        for generated, why in API_FIELDS.items():
            shown = f"the API's own ({why})"
            fields.reserve(generated, _Holder(None, "", _snake(generated), "reserved", shown))
        # A retired property keeps its name for when it is defined again; it never clashes itself.
        for retired in types[name].retired.values():
            holder = _Holder(
                name,
                f"properties.{retired.name}",
                retired.name,
                "a retired property",
                f"retired property {retired.name!r}",
            )
            fields.reserve(camel(retired.name), holder)
            if retired.ref is not None:
                fields.reserve(camel(retired.name) + "Id", holder)
        # The definitions being changed come last: a clash falls on the one that caused it.
        for generated, holder in sorted(found, key=lambda item: item[1].owner in focus):
            clash = fields.add(generated, holder)
            if clash is not None:
                yield clash
    for rel in relationships.values():
        # A link's attributes are answered by their camelCase names too.
        fields = _Names("field", "the attribute", f" on relationship {rel.name!r}")
        for prop in rel.properties.values():
            shown = f"attribute {prop.name!r}"
            holder = _Holder(rel.name, f"properties.{prop.name}", prop.name, "an attribute", shown)
            clash = fields.add(camel(prop.name), holder)
            if clash is not None:
                yield clash


def _snake(graphql: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in graphql)


def clashes(
    types: Mapping[str, EntityType],
    relationships: Mapping[str, Relationship],
    focus: Iterable[str] = (),
) -> list[Clash]:
    """Every generated GraphQL name that is taken twice, or is one of the API's own.

    With ``focus`` (the definitions being changed), only clashes involving one
    of them, each reported on the one being changed; without, every clash.
    """
    focus = set(focus)
    live = [et for et in types.values() if not et.system]
    ordered = sorted(live, key=lambda et: et.name in focus)
    found = [*_schema_clashes(ordered), *_field_clashes(types, relationships, focus)]
    if not focus:
        return found
    return [c for c in found if c.owner in focus or any(o in focus for o in c.others)]
