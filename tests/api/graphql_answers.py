"""What every answer of the GraphQL API must be, whatever was asked: the fuzzer's judge.

``faults`` reads one HTTP answer to one operation and lists what is wrong with
it, by CONTRACT §4: no 5xx; every error carries a code the contract names
(never ``INTERNAL_SERVER_ERROR``); no database message, SQL or Python
traceback anywhere in an error; and no field the schema declares non-null
answered null (or left out). The last is read by walking the answer along
the operation's own selection (aliases, fragments, ``@skip``/``@include``)
and the schema's types. Per the GraphQL spec, an error at a non-null field
makes its nearest nullable parent null: so a null is judged only where it
stands, and a non-null position may never hold one.

A module of its own (not a test module), so the fuzzer and the checker's own
tests share it without collecting each other's tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    value_from_ast_untyped,
)
from graphql.error import GraphQLSyntaxError

# The codes CONTRACT §4 names, and graphql-core's own for a document that does not validate.
KNOWN_CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "NOT_FOUND",
        "VALIDATION_FAILED",
        "RULE_REJECTED",
        "CONFLICT",
        "DUPLICATE",
        "RESTRICTED",
        "BAD_DEFINITION",
        "CONFIRMATION_REQUIRED",
        "LIMIT_EXCEEDED",
        "BAD_REQUEST",
        "BAD_USER_INPUT",
        "GRAPHQL_VALIDATION_FAILED",
    }
)

# Words that only a database driver, an SQL statement or a Python traceback would put in a
# message. Driver names in any case; SQL and Python spelled as they spell them (so the English
# "select a value from the list" is not mistaken for a statement).
DRIVER_TEXT = re.compile(
    r"sqlite|psycopg|postgres|sqlalchemy|constraint failed|violates|duplicate key|"
    r"no such (table|column)|syntax error at|unique constraint|foreign key constraint|"
    r"background on this error",
    re.IGNORECASE,
)
CODE_TEXT = re.compile(
    r"\bSELECT\b.+\bFROM\b|\bINSERT INTO\b|\bUPDATE\b.+\bSET\b|\bDELETE FROM\b|"
    r"\bxrm_[a-z_]+\b|\b[er]_[a-z0-9_]+\.[a-z_]+|"
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|"
    r"\b(Integrity|Operational|Programming|Data|Key|Type|Attribute|Value|Index|Overflow|"
    r"Recursion|ZeroDivision|Name|Assertion|Lookup|Unicode(Encode|Decode)?)Error\b"
)


def faults(
    schema: GraphQLSchema,
    query: str,
    variables: Mapping[str, Any] | None,
    status: int,
    body: Any,
) -> list[str]:
    """Everything wrong with ``body``, the answer (HTTP ``status``) to ``query``; empty if none."""
    found: list[str] = []
    if status >= 500:
        found.append(f"HTTP {status}")
    if not isinstance(body, dict):
        return [*found, f"the answer is not a JSON object: {body!r}"]
    errors = body.get("errors")
    if errors is not None and not isinstance(errors, list):
        found.append(f"errors is not a list: {errors!r}")
        errors = None
    for error in errors or ():
        found.extend(_error_faults(error))
    if "data" not in body:
        if not errors:
            found.append("neither data nor errors in the answer")
        return found
    data = body["data"]
    if data is None:
        if not errors:
            found.append("data is null with no error to say why")
        return found
    operation, fragments = _operation(query)
    if operation is None:
        return [*found, "data answered to a document that does not parse"]
    root = _root_type(schema, operation.operation)
    if root is None:
        return [*found, f"the schema has no {operation.operation.value} type"]
    walk = _Walk(schema, fragments, dict(variables or {}))
    found.extend(walk.object(root, operation.selection_set, data, ()))
    return found


def _error_faults(error: Any) -> list[str]:
    if not isinstance(error, dict):
        return [f"an error is not an object: {error!r}"]
    found = []
    extensions = error.get("extensions")
    code = extensions.get("code") if isinstance(extensions, dict) else None
    if code == "INTERNAL_SERVER_ERROR":
        found.append(f"internal error: {error.get('message')!r} at {error.get('path')}")
    elif code not in KNOWN_CODES:
        found.append(f"an error with an unknown code {code!r}: {error.get('message')!r}")
    for text in _strings(error):
        match = DRIVER_TEXT.search(text) or CODE_TEXT.search(text)
        if match:
            found.append(f"database or Python text {match.group(0)!r} in an error: {text!r}")
    return found


def _strings(value: Any) -> Iterator[str]:
    """Every string in an error (message, extensions, nested field messages), keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _operation(
    query: str,
) -> tuple[OperationDefinitionNode | None, dict[str, FragmentDefinitionNode]]:
    try:
        document = parse(query)
    except GraphQLSyntaxError:
        return None, {}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return (operations[0] if len(operations) == 1 else None), fragments


def _root_type(schema: GraphQLSchema, kind: OperationType) -> GraphQLObjectType | None:
    if kind is OperationType.QUERY:
        return schema.query_type
    if kind is OperationType.MUTATION:
        return schema.mutation_type
    return schema.subscription_type


class _Walk:
    """Walks one answer along its operation's selection and the schema's types."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def object(
        self,
        type_: GraphQLObjectType,
        selection: SelectionSetNode,
        value: Any,
        path: tuple[str | int, ...],
    ) -> list[str]:
        if not isinstance(value, dict):
            return [f"{_at(path)}: an object was expected, got {value!r}"]
        found: list[str] = []
        for node in self._fields(type_, selection, value):
            key = node.alias.value if node.alias else node.name.value
            if node.name.value == "__typename":
                if value.get(key, type_.name) != type_.name:
                    found.append(f"{_at((*path, key))}: __typename {value[key]!r} is not {type_}")
                continue
            field = type_.fields.get(node.name.value)
            if field is None:
                continue  # introspection (__schema, __type): graphql-core's own, not judged here
            if key not in value:
                found.append(f"{_at((*path, key))}: selected but missing from the answer")
                continue
            found.extend(self.value(field.type, node.selection_set, value[key], (*path, key)))
        return found

    def value(
        self,
        type_: GraphQLOutputType,
        selection: SelectionSetNode | None,
        value: Any,
        path: tuple[str | int, ...],
    ) -> list[str]:
        if isinstance(type_, GraphQLNonNull):
            if value is None:
                return [f"{_at(path)}: null where the schema says {type_} (non-null)"]
            type_ = type_.of_type
        if value is None:
            return []
        if isinstance(type_, GraphQLList):
            if not isinstance(value, list):
                return [f"{_at(path)}: a list was expected, got {value!r}"]
            found: list[str] = []
            for index, item in enumerate(value):
                found.extend(self.value(type_.of_type, selection, item, (*path, index)))
            return found
        if selection is None:
            return []  # a scalar or an enum: any non-null value will do here
        if isinstance(type_, GraphQLAbstractType):
            name = value.get("__typename") if isinstance(value, dict) else None
            concrete = self.schema.get_type(name) if isinstance(name, str) else None
            if not isinstance(concrete, GraphQLObjectType):
                return []  # without __typename the runtime type is unknown: nothing to judge
            return self.object(concrete, selection, value, path)
        if isinstance(type_, GraphQLObjectType):
            return self.object(type_, selection, value, path)
        return []

    def _fields(
        self, type_: GraphQLObjectType, selection: SelectionSetNode, value: dict[str, Any]
    ) -> Iterator[FieldNode]:
        """The field nodes that apply to an object of ``type_``, fragments expanded."""
        for node in selection.selections:
            if not self._included(node):
                continue
            if isinstance(node, FieldNode):
                yield node
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition.name.value if node.type_condition else None
                if self._applies(condition, type_):
                    yield from self._fields(type_, node.selection_set, value)
            elif isinstance(node, FragmentSpreadNode):
                fragment = self.fragments.get(node.name.value)
                if fragment and self._applies(fragment.type_condition.name.value, type_):
                    yield from self._fields(type_, fragment.selection_set, value)

    def _applies(self, condition: str | None, type_: GraphQLObjectType) -> bool:
        if condition is None or condition == type_.name:
            return True
        named = self.schema.get_type(condition)
        return isinstance(named, GraphQLAbstractType) and self.schema.is_sub_type(named, type_)

    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            arguments = {a.name.value: a.value for a in directive.arguments or ()}
            if "if" not in arguments:
                continue
            condition = value_from_ast_untyped(arguments["if"], self.variables)
            if directive.name.value == "skip" and condition is True:
                return False
            if directive.name.value == "include" and condition is False:
                return False
        return True


def _at(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path) or "data"
