"""Refuse an expensive GraphQL request before any of it runs (``LIMIT_EXCEEDED``).

Checked on the parsed document and the request's variables, before
execution: the token count (while parsing), selection depth, aliases, page
sizes (``first``), an estimate of how many records the request may touch
(each list multiplies what is nested in it), and introspection when it is
switched off. Parsing is cached per query text, so a client that repeats its
queries pays for it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    parse,
)
from graphql.error import GraphQLSyntaxError

from xrm.errors import LimitExceeded
from xrm.platform.settings import Settings


@dataclass(frozen=True, slots=True)
class Limits:
    """The configurable limits of CONTRACT §4, with its defaults."""

    max_depth: int = 12
    max_aliases: int = 100
    max_tokens: int = 10_000
    max_page: int = 500
    default_page: int = 50
    max_cost: int = 250_000
    introspection: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_tokens=settings.graphql_max_tokens,
            max_page=settings.max_page_size,
            default_page=settings.default_page_size,
            max_cost=settings.graphql_max_cost,
            introspection=settings.graphql_introspection,
        )


@lru_cache(maxsize=512)
def _parse(query: str, max_tokens: int) -> DocumentNode | str:
    """The document, or the text of a token-limit error (other syntax errors: execution's)."""
    try:
        return parse(query, max_tokens=max_tokens)
    except GraphQLSyntaxError as exc:
        if "tokens" in exc.message:
            return exc.message
        return parse("{ __typename }")  # execution reports the real syntax error


class _Walk:
    def __init__(
        self,
        limits: Limits,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.limits = limits
        self.fragments = fragments
        self.variables = variables
        self.aliases = 0
        self.depth = 0
        self.cost = 0

    def page(self, field: FieldNode) -> int | None:
        for argument in field.arguments or ():
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                raw = self.variables.get(value.name.value)
                return int(raw) if isinstance(raw, int) else None
            return None
        return None

    def visit(
        self, selections: SelectionSetNode, depth: int, multiplier: int, seen: frozenset[str]
    ) -> None:
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name in ("__schema", "__type") and not self.limits.introspection:
                    raise LimitExceeded(
                        "introspection is switched off on this server", limit="introspection"
                    )
                if selection.alias is not None:
                    self.aliases += 1
                if name.startswith("__"):
                    continue  # introspection: bounded by the schema, nested deep by clients
                self.depth = max(self.depth, depth)
                if selection.selection_set is None:
                    continue
                has_first = any(a.name.value == "first" for a in selection.arguments or ())
                inner = multiplier
                if has_first:
                    size = self.page(selection)
                    if size is not None and size > self.limits.max_page:
                        raise LimitExceeded(
                            f"{name}: first is at most {self.limits.max_page}, not {size}",
                            limit="page",
                            field=name,
                        )
                    inner = multiplier * (size if size is not None else self.limits.default_page)
                    self.cost += inner
                self.visit(selection.selection_set, depth + 1, inner, seen)
            elif isinstance(selection, InlineFragmentNode):
                self.visit(selection.selection_set, depth, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    self.visit(fragment.selection_set, depth, multiplier, seen | {name})


def check(
    limits: Limits,
    query: str,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
) -> None:
    """Raise ``LimitExceeded`` when the request breaks a limit; return quietly otherwise."""
    document = _parse(query, limits.max_tokens)
    if isinstance(document, str):
        raise LimitExceeded(f"the query is too long: {document}", limit="tokens")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name and (definition.name is None or definition.name.value != operation_name):
            continue
        walk = _Walk(limits, fragments, variables or {})
        walk.visit(definition.selection_set, 1, 1, frozenset())
        if walk.depth > limits.max_depth:
            raise LimitExceeded(
                f"the query nests {walk.depth} levels deep; at most {limits.max_depth}",
                limit="depth",
            )
        if walk.aliases > limits.max_aliases:
            raise LimitExceeded(
                f"the query uses {walk.aliases} aliases; at most {limits.max_aliases}",
                limit="aliases",
            )
        if walk.cost > limits.max_cost:
            raise LimitExceeded(
                f"the query may load up to {walk.cost} records; at most {limits.max_cost}: "
                "ask for smaller pages",
                limit="cost",
            )
