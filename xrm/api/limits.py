"""Refuse an expensive GraphQL request before any of it runs (``LIMIT_EXCEEDED``).

Checked on the parsed document (``xrm.api.document``, where the token limit
holds), the request's variables and the schema, before validation and
execution. What a request asks is measured the same way whether it is
written inline, sent as variables (or variable defaults), or spread through
fragments and aliases:

- ``page``: a ``first`` above the maximum page;
- ``depth``: fields nested deeper than the maximum;
- ``aliases``: more aliased fields than the maximum;
- ``cost``: the records a request may load, each list multiplying what is
  nested in it by its page: ``first``, else the default page (a list that
  gives no ``first`` still loads a page), the number of ``inputs`` for the
  list a batch mutation answers;
- ``filterDepth``: input objects nested in one ``filter`` (``not``, ``and``,
  ``or``, relation filters and comparisons each count a level);
- ``filterWidth``: every condition and list item (``in``/``notIn`` values,
  ``and``/``or`` branches) of every filter, ordering and grouping of the
  request, added up;
- ``batch``: inputs to create or change (``inputs`` items, ``input`` arguments);
- ``introspection``: switched off, or more than one ``__schema`` and
  ``MAX_TYPE_INTROSPECTIONS`` ``__type`` per request, or introspection lists
  nested deeper than ``types → fields → args``, or a type's members listed
  again below a member (``fields { type { fields } }``): what every client
  asks is allowed, what multiplies the schema by itself is not.

Fragments are measured once each, whatever the number of spreads, so a
document of fragments that spread each other many times costs its size to
check, not the size of its expansion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
)

from xrm.errors import LimitExceeded
from xrm.platform.settings import Settings

MAX_SCHEMA_INTROSPECTIONS = 1
MAX_TYPE_INTROSPECTIONS = 10
MAX_INTROSPECTION_LISTS = 3  # types -> fields -> args
# Lists of a type's members: listing them once per path is what clients do; listing the
# members of a member's type again (fields { type { fields } }) multiplies the schema.
_MEMBER_LISTS = frozenset({"fields", "inputFields", "enumValues", "interfaces", "possibleTypes"})
MAX_FRAGMENT_NESTING = 100  # fragments spreading fragments; far past any real client's


@dataclass(frozen=True, slots=True)
class Limits:
    """The configurable limits of CONTRACT §4, with its defaults."""

    max_depth: int = 12
    max_aliases: int = 100
    max_tokens: int = 10_000
    max_page: int = 500
    default_page: int = 50
    max_cost: int = 250_000
    max_filter_depth: int = 10
    max_filter_width: int = 1_000
    max_batch: int = 1_000
    introspection: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_tokens=settings.graphql_max_tokens,
            max_page=settings.max_page_size,
            default_page=settings.page_size,
            max_cost=settings.graphql_max_cost,
            max_filter_depth=settings.graphql_max_filter_depth,
            max_filter_width=settings.graphql_max_filter_width,
            max_batch=settings.max_batch,
            introspection=settings.graphql_introspection,
        )


_Nesting = tuple[int, int]  # introspection lists, and lists of a type's members, on a path


@dataclass(slots=True)
class _Stats:
    """What a selection set asks, per record of the object it is selected on."""

    depth: int = 0
    cost: int = 0
    aliases: int = 0
    width: int = 0
    inputs: int = 0
    introspections: set[tuple[str, str]] = field(default_factory=set)

    def merge(self, other: _Stats) -> None:
        """Add a sibling selection (a fragment, an inline fragment) into this one."""
        self.depth = max(self.depth, other.depth)
        self.cost += other.cost
        self.aliases += other.aliases
        self.width += other.width
        self.inputs += other.inputs
        self.introspections |= other.introspections


def _is_connection(type_: Any) -> bool:
    fields = getattr(type_, "fields", None)
    return isinstance(type_, GraphQLObjectType) and bool(
        fields and "pageInfo" in fields and "nodes" in fields
    )


class _Walk:
    """One operation measured against the limits; fragments measured once each."""

    def __init__(
        self,
        limits: Limits,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.limits = limits
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.defaults: dict[str, ValueNode] = {
            d.variable.name.value: d.default_value
            for d in operation.variable_definitions or ()
            if d.default_value is not None
        }
        self._measured: dict[tuple[str, _Nesting | None], _Stats] = {}
        self._open: list[str] = []

    # --- values ----------------------------------------------------------------------------

    def _resolve(self, value: Any) -> Any:
        """A variable's value (sent, else its default); anything else as it is."""
        if isinstance(value, VariableNode):
            name = value.name.value
            if name in self.variables:
                return self.variables[name]
            return self.defaults.get(name)
        return value

    def measure(self, value: Any, width_budget: int) -> tuple[int, int]:
        """(nesting of input objects, conditions and list items) of an argument's value.

        Inline values and variables' JSON are walked alike, without recursion,
        stopping once past the depth limit or ``width_budget``: a hostile value
        costs no more to measure than the limits allow.
        """
        deepest = width = 0
        stack: list[tuple[Any, int]] = [(value, 0)]
        while stack:
            node, depth = stack.pop()
            node = self._resolve(node)
            if isinstance(node, ObjectValueNode):
                children: Any = [f.value for f in node.fields]
            elif isinstance(node, dict):
                children = list(node.values())
            elif isinstance(node, ListValueNode):
                children, depth = node.values, depth - 1
            elif isinstance(node, list):
                children, depth = node, depth - 1
            else:
                continue
            depth += 1
            deepest = max(deepest, depth)
            width += len(children)
            if deepest > self.limits.max_filter_depth or width > width_budget:
                break
            stack.extend((child, depth) for child in children)
        return deepest, width

    def count(self, value: Any) -> int:
        """How many items a list argument holds (a single value counts one, null none)."""
        value = self._resolve(value)
        if isinstance(value, ListValueNode):
            return len(value.values)
        if isinstance(value, list):
            return len(value)
        return 0 if value is None or isinstance(value, NullValueNode) else 1

    def page(self, node: FieldNode) -> int:
        """The page a list field asks: its ``first``, else the default page."""
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            value = self._resolve(argument.value)
            size: Any = int(value.value) if isinstance(value, IntValueNode) else value
            if not isinstance(size, int) or isinstance(size, bool):
                return self.limits.default_page  # null or mistyped: validation's business
            if size > self.limits.max_page:
                raise LimitExceeded(
                    f"{node.name.value}: first is at most {self.limits.max_page}, not {size}",
                    limit="page",
                    field=node.name.value,
                )
            return max(size, 0)
        return self.limits.default_page

    # --- selections ------------------------------------------------------------------------

    def selections(
        self, node: SelectionSetNode, parent: Any, introspection: _Nesting | None
    ) -> _Stats:
        """``introspection``: None outside introspection, else the lists nested so far."""
        stats = _Stats()
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, introspection, stats)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                stats.merge(self.selections(selection.selection_set, inner, introspection))
            elif isinstance(selection, FragmentSpreadNode):
                stats.merge(self.fragment(selection.name.value, introspection))
        return stats

    def fragment(self, name: str, introspection: _Nesting | None) -> _Stats:
        key = (name, introspection)
        found = self._measured.get(key)
        if found is not None:
            return found
        definition = self.fragments.get(name)
        if definition is None or name in self._open:
            return _Stats()  # unknown or cyclic: validation refuses the document
        if len(self._open) >= MAX_FRAGMENT_NESTING:
            raise LimitExceeded(
                f"fragments spread each other more than {MAX_FRAGMENT_NESTING} deep",
                limit="depth",
            )
        self._open.append(name)
        try:
            parent = self.schema.get_type(definition.type_condition.name.value)
            stats = self.selections(definition.selection_set, parent, introspection)
        finally:
            self._open.pop()
        self._measured[key] = stats
        return stats

    def field(
        self, node: FieldNode, parent: Any, introspection: _Nesting | None, stats: _Stats
    ) -> None:
        name = node.name.value
        if node.alias is not None:
            stats.aliases += 1
        if name == "__typename":
            return
        if name in ("__schema", "__type"):
            if not self.limits.introspection:
                raise LimitExceeded(
                    "introspection is switched off on this server", limit="introspection"
                )
            key = node.alias.value if node.alias is not None else name
            stats.introspections.add((name, key))
            if node.selection_set is not None:
                inner = self.schema.get_type("__Schema" if name == "__schema" else "__Type")
                found = self.selections(node.selection_set, inner, (0, 0))
                stats.aliases += found.aliases
            return
        definition: GraphQLField | None = (getattr(parent, "fields", None) or {}).get(name)
        if definition is None:
            return  # not in the schema: validation refuses it
        if introspection is not None:
            lists, members = introspection
            if isinstance(get_nullable_type(definition.type), GraphQLList):
                lists += 1
                members += name in _MEMBER_LISTS
            if lists > MAX_INTROSPECTION_LISTS or members > 1:
                raise LimitExceeded(
                    f"introspection nests {name} too deep: lists at most "
                    f"{MAX_INTROSPECTION_LISTS} deep (types, fields, args), and a type's "
                    "members once per path",
                    limit="introspection",
                )
            nested = (lists, members)
            if node.selection_set is not None:
                inner = get_named_type(definition.type)
                stats.aliases += self.selections(node.selection_set, inner, nested).aliases
            return
        self.arguments(node, stats)
        stats.depth = max(stats.depth, 1)
        if node.selection_set is None:
            return
        target = get_named_type(definition.type)
        multiplier = own = 0
        if _is_connection(target):
            multiplier = own = self.page(node)
        elif isinstance(get_nullable_type(definition.type), GraphQLList) and not _is_connection(
            parent
        ):
            # A plain list (history, a batch's answer, metadata); a connection's own
            # nodes/edges are its page, already counted on the connection.
            batch = next((a for a in node.arguments or () if a.name.value == "inputs"), None)
            multiplier = own = self.count(batch.value) if batch else self.page(node)
        else:
            multiplier = 1
        inner_stats = self.selections(node.selection_set, target, None)
        stats.depth = max(stats.depth, 1 + inner_stats.depth)
        stats.cost += own + multiplier * inner_stats.cost
        stats.aliases += inner_stats.aliases
        stats.width += inner_stats.width
        stats.inputs += inner_stats.inputs
        stats.introspections |= inner_stats.introspections

    def arguments(self, node: FieldNode, stats: _Stats) -> None:
        for argument in node.arguments or ():
            name = argument.name.value
            if name in ("filter", "orderBy", "groupBy"):
                budget = self.limits.max_filter_width - stats.width
                depth, width = self.measure(argument.value, budget)
                if name == "filter" and depth > self.limits.max_filter_depth:
                    raise LimitExceeded(
                        f"{node.name.value}: the filter nests more than "
                        f"{self.limits.max_filter_depth} levels deep (conditions, and/or/not, "
                        "relations each count one)",
                        limit="filterDepth",
                        field=node.name.value,
                    )
                stats.width += width
            elif name == "inputs":
                stats.inputs += self.count(argument.value)
            elif name == "input":
                stats.inputs += 1


def check(
    limits: Limits,
    document: DocumentNode,
    schema: GraphQLSchema,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
) -> None:
    """Raise ``LimitExceeded`` when the request breaks a limit; return quietly otherwise."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name and (definition.name is None or definition.name.value != operation_name):
            continue
        root = schema.get_root_type(definition.operation)
        walk = _Walk(limits, schema, fragments, definition, variables or {})
        _judge(limits, walk.selections(definition.selection_set, root, None))


def _judge(limits: Limits, stats: _Stats) -> None:
    if stats.depth > limits.max_depth:
        raise LimitExceeded(
            f"the query nests {stats.depth} levels deep; at most {limits.max_depth}",
            limit="depth",
        )
    if stats.aliases > limits.max_aliases:
        raise LimitExceeded(
            f"the query uses {stats.aliases} aliases; at most {limits.max_aliases}",
            limit="aliases",
        )
    if stats.width > limits.max_filter_width:
        raise LimitExceeded(
            f"the filters, orderings and groupings hold more than {limits.max_filter_width} "
            "conditions and list items together; send a narrower request",
            limit="filterWidth",
        )
    if stats.inputs > limits.max_batch:
        raise LimitExceeded(
            f"the request sends {stats.inputs} inputs; at most {limits.max_batch}: "
            "send them in several requests",
            limit="batch",
        )
    if stats.cost > limits.max_cost:
        raise LimitExceeded(
            f"the query may load up to {stats.cost} records; at most {limits.max_cost}: "
            "ask for smaller pages (a list without first loads "
            f"{limits.default_page})",
            limit="cost",
        )
    schemas = sum(1 for name, _ in stats.introspections if name == "__schema")
    types = len(stats.introspections) - schemas
    if schemas > MAX_SCHEMA_INTROSPECTIONS or types > MAX_TYPE_INTROSPECTIONS:
        raise LimitExceeded(
            f"the query asks for {schemas} __schema and {types} __type introspections; "
            f"at most {MAX_SCHEMA_INTROSPECTIONS} and {MAX_TYPE_INTROSPECTIONS}",
            limit="introspection",
        )
