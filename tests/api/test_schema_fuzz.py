"""Queries and mutations generated from the live schema get a sound answer (issue 10, point 4).

The schema is read by introspection from the running app (the demo catalog,
its sample records, a manual workflow), and hypothesis-graphql writes
operations from it, one group of root fields at a time (record reads,
aggregates, record writes, definitions, workflows), each example on one root
field of its group. Half the examples use edge values for every scalar
(dates at the ends of the range, date-times whose UTC time leaves it,
decimals huge and tiny and spelled NaN or Infinity, 64-bit integers just past
the edge, empty strings, NUL characters) mixed with ordinary ones; the other
half plain values only, so that they get past the checks to the data. An
``ID`` is often the id of a real record and a ``String`` the name of a real
type, relationship or workflow, so writes, deletes and runs reach them
rather than stopping at NOT_FOUND. Half the operations are sent as written
(every value a literal), half with every argument lifted into a variable, as
real clients send them: values then take the variables' road. Each answer is
judged by ``graphql_answers.faults``: no 5xx, no internal or unknown error
code, no database text, no null where the schema says non-null. Derandomized
and bounded, so a run is the same every time and takes seconds, on SQLite
and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import graphql
import pytest
from graphql_answers import faults
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes
from test_graphql import Api, api, app_client  # noqa: F401 (fixtures reused: the app and its admin)

from xrm.entities.demo import load_demo
from xrm.entities.records import RecordService
from xrm.platform.identity import Actor

NUL = "\x00"
ValueNodes = st.SearchStrategy[graphql.ValueNode]

# --- strategies for the values of each scalar ---------------------------------------------------

TEXT_EDGES = ["", " ", NUL, f"a{NUL}b", "\u00a0", "🙂", "x" * 300]
DATES = ["0001-01-01", "9999-12-31", "2024-02-29", "2023-02-29", "0000-01-01", "10000-01-01"]
DATES += ["2024-13-01", "2024-01-01T00:00:00Z", "NaN", "2024-01-01" + NUL]
DATETIMES = [
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-12:00",  # after year 9999 in UTC
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00",
    "2024-02-29T12:00:00+09:00",
    "2024-01-01T24:00:00Z",
    "2024-01-01T00:00:00+24:00",
    "2024-01-01",
    "now",
    "2024-01-01T00:00:00Z" + NUL,
]
DECIMALS = ["1e309", "-1e309", "1e-400", "1E+28", "NaN", "nan", "-NaN", "sNaN", "Infinity"]
DECIMALS += ["-Infinity", "inf", "-inf", "9" * 28, "9" * 29, "0." + "0" * 27 + "1", "0.0000000001"]
DECIMALS += ["-0", "1,5", "0x10", "12345678901234567890.123456", "1" + NUL]
BIGINTS = [str(2**63 - 1), str(2**63), str(-(2**63)), str(-(2**63) - 1), "9007199254740993"]
BIGINTS += ["1.5", "1e3", "007", "-", "1" + NUL]
INTS = [0, 1, -1, 49, 50, 51, 499, 500, 501, 2**31 - 1, -(2**31)]
NAME_PATTERN = r"[_A-Za-z][_0-9A-Za-z]{0,10}"  # what a GraphQL literal allows as an object key
JSON_KEYS = ["name", "entity", "on", "stage", "when", "actions", "type", "code", "values"]
JSON_KEYS += ["role", "entities", "admin", "read", "create", "relationship", "from", "to"]


def strings(*values: str) -> ValueNodes:
    return st.sampled_from(values).map(nodes.String)


def text() -> ValueNodes:
    return st.one_of(strings(*TEXT_EDGES), st.text(max_size=20).map(nodes.String))


def json_values() -> ValueNodes:
    scalars = st.one_of(
        st.none().map(lambda _: graphql.NullValueNode()),
        st.booleans().map(nodes.Boolean),
        st.integers().map(nodes.Int),
        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        text(),
        strings(*DECIMALS, *DATETIMES),
    )
    keys = st.one_of(st.sampled_from(JSON_KEYS), st.from_regex(NAME_PATTERN, fullmatch=True))

    def containers(children: ValueNodes) -> ValueNodes:
        fields = st.dictionaries(keys, children, max_size=4).map(
            lambda d: [
                graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v)
                for k, v in d.items()
            ]
        )
        return st.one_of(st.lists(children, max_size=4).map(nodes.List), fields.map(nodes.Object))

    return st.recursive(scalars, containers, max_leaves=12)


@dataclass
class Seeds:
    """What the live app holds, for values that reach past NOT_FOUND: ids and names."""

    ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    definitions: list[Any] = field(default_factory=list)


def literal(value: Any) -> graphql.ValueNode:
    """A JSON value as a GraphQL literal (for sample definitions sent as ``JSON``)."""
    if isinstance(value, dict):
        return nodes.Object(
            [
                graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=literal(v))
                for k, v in value.items()
            ]
        )
    if isinstance(value, list):
        return nodes.List([literal(v) for v in value])
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    return nodes.String(value)


def plain_scalar_strategies(seeds: Seeds) -> dict[str, ValueNodes]:
    """Ordinary values only: an operation built from them gets past the checks to the data."""
    recent = st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(UTC))
    return {
        "Date": st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)).map(nodes.String),
        "DateTime": recent.map(lambda d: nodes.String(d.isoformat())),
        "Decimal": st.decimals(-(10**9), 10**9, places=2).map(nodes.String),
        "BigInt": st.integers(-(2**63), 2**63 - 1).map(nodes.String),
        "JSON": st.one_of(
            st.sampled_from(seeds.definitions).map(literal),
            st.dictionaries(st.sampled_from(JSON_KEYS), st.integers(0, 9), max_size=3).map(literal),
        ),
        "ID": st.sampled_from(seeds.ids).map(nodes.String),
        "String": st.one_of(
            st.sampled_from(seeds.names),
            st.text(st.characters(min_codepoint=1, exclude_categories=["Cs"]), max_size=8),
        ).map(nodes.String),
        "Int": st.integers(1, 50).map(nodes.Int),
    }


def edge_scalar_strategies(seeds: Seeds) -> dict[str, ValueNodes]:
    """Edge values mixed with ordinary ones, for every scalar the schema uses (built-in too)."""
    return {
        "Date": st.one_of(strings(*DATES), st.dates().map(nodes.String), text()),
        "DateTime": st.one_of(
            strings(*DATETIMES),
            st.datetimes(timezones=st.timezones()).map(lambda d: nodes.String(d.isoformat())),
            text(),
        ),
        "Decimal": st.one_of(
            strings(*DECIMALS),
            st.decimals(allow_nan=False, allow_infinity=False).map(nodes.String),
            st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
            st.sampled_from([0, 10**30, -(10**40)]).map(nodes.Int),
            text(),
        ),
        "BigInt": st.one_of(
            strings(*BIGINTS),
            st.integers(-(2**64), 2**64).map(nodes.String),
            st.sampled_from([2**63, -(2**63) - 1, 9007199254740993]).map(nodes.Int),
            text(),
        ),
        "JSON": st.one_of(json_values(), st.sampled_from(seeds.definitions).map(literal)),
        "ID": st.one_of(
            st.sampled_from(seeds.ids).map(nodes.String),
            strings("00000000-0000-0000-0000-000000000000", "not-a-uuid", "1"),
            st.uuids().map(nodes.String),
            text(),
        ),
        "String": st.one_of(st.sampled_from(seeds.names).map(nodes.String), text()),
        "Int": st.one_of(  # mostly a valid page size or version, so other arguments are reached
            st.integers(1, 50), st.sampled_from(INTS), st.integers(-(2**31), 2**31 - 1)
        ).map(nodes.Int),
    }


# --- the groups of root fields -------------------------------------------------------------------

DEFINITIONS = {"entityTypes", "relationships", "roles"}
DEFINITIONS |= {"defineEntityType", "defineRelationship", "defineRole"}
WORKFLOWS = {"workflows", "workflowRuns", "defineWorkflow", "deleteWorkflow"}
WORKFLOWS |= {"runWorkflow", "testWorkflow", "retryWorkflowRun"}
RECORD_WRITES = ("create", "update", "delete", "restore")


def group_of(name: str, root: str) -> str:
    if name in DEFINITIONS:
        return "definitions"
    if name in WORKFLOWS:
        return "workflows"
    if root == "Mutation":
        if name.startswith(RECORD_WRITES) or name in {
            "link",
            "unlink",
            "eraseRecord",
            "mergeRecords",
        }:
            return "record writes"
        return "unknown"
    return "aggregates" if name.endswith("Aggregate") else "record reads"


GROUPS = ["record reads", "aggregates", "record writes", "definitions", "workflows"]
EXAMPLES = 50  # per group: about 25 s for the file on SQLite

FOLLOW_UP = {
    "name": "fuzz_follow_up",
    "entity": "customer",
    "on": ["manual"],
    "actions": [{"type": "script", "code": "log(record['name'])"}],
}


class Fuzz:
    """The live app, its schema as introspection tells it, and its root fields by group."""

    def __init__(
        self,
        api: Api,  # noqa: F811 (a value, not the fixture)
        schema: graphql.GraphQLSchema,
        scalars: dict[bool, dict[str, ValueNodes]],
        groups: dict[str, list[str]],
    ) -> None:
        self.api = api
        self.schema = schema
        self.scalars = scalars
        self.groups = groups
        self.drawn: dict[tuple[str, bool], st.SearchStrategy[str]] = {}
        self.answered = 0  # answers that carried data: the fuzzer reached past the checks

    def __repr__(self) -> str:  # shown with every failing example: the strategies are not news
        return f"Fuzz(<the live app>, groups={sorted(self.groups)})"

    def operations(self, root_field: str, edges: bool) -> st.SearchStrategy[str]:
        """Operations on one root field (each field of a group gets its share of examples),
        with edge values or with plain ones only."""
        key = (root_field, edges)
        if key not in self.drawn:
            self.drawn[key] = from_schema(
                self.schema, fields=[root_field], custom_scalars=self.scalars[edges]
            )
        return self.drawn[key]

    def answer(self, operation: str, variables: dict[str, Any] | None = None) -> list[str]:
        """What is wrong with the app's answer to ``operation`` (empty when nothing is)."""
        response = self.api.client.post(
            "/graphql",
            json={"query": operation, "variables": variables or {}},
            headers=self.api.headers,
        )
        try:
            body = response.json()
        except json.JSONDecodeError:
            body = response.text
        note(f"operation:\n{operation}\nvariables: {variables!r}")
        note(f"answer: {response.status_code} {str(body)[:2000]}")
        found = faults(self.schema, operation, variables, response.status_code, body)
        if not isinstance(body, dict):
            return found
        codes = {error.get("extensions", {}).get("code") for error in body.get("errors") or ()}
        if codes & {"UNAUTHENTICATED", "FORBIDDEN"}:  # an admin may do all that is asked here
            found.append(f"the admin was refused: {sorted(codes, key=str)}")
        if any(value is not None for value in (body.get("data") or {}).values()):
            self.answered += 1
        return found


def lifted(schema: graphql.GraphQLSchema, operation: str) -> tuple[str, dict[str, Any]]:
    """The same operation with every argument sent as a variable, as real clients send them:
    values then take the variables' road (coercion, limits on filters sent as variables)."""
    document = graphql.parse(operation)
    type_info = graphql.TypeInfo(schema)
    variables: dict[str, Any] = {}
    declared: list[graphql.VariableDefinitionNode] = []

    class Lift(graphql.Visitor):
        def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> Any:
            argument = type_info.get_argument()
            if argument is None or isinstance(node.value, graphql.VariableNode):
                return None
            name = f"v{len(variables)}"
            variables[name] = graphql.value_from_ast_untyped(node.value)
            variable = graphql.VariableNode(name=graphql.NameNode(value=name))
            declared.append(
                graphql.VariableDefinitionNode(
                    variable=variable, type=graphql.parse_type(str(argument.type))
                )
            )
            return graphql.ArgumentNode(name=node.name, value=variable)

    (root,) = graphql.visit(document, graphql.TypeInfoVisitor(type_info, Lift())).definitions
    root = graphql.OperationDefinitionNode(
        operation=root.operation,
        variable_definitions=tuple(declared),
        directives=root.directives,
        selection_set=root.selection_set,
    )
    return graphql.print_ast(graphql.DocumentNode(definitions=(root,))), variables


def seeds_of(api: Api, schema: graphql.GraphQLSchema) -> Seeds:  # noqa: F811 (a value, not the fixture)
    """A few real ids of every type, and the names a ``String`` argument may mean."""
    query = schema.query_type
    assert query is not None
    lists = [  # the entity lists: connections that need no argument (duplicatePairs needs one)
        n
        for n, f in query.fields.items()
        if str(f.type).endswith("Connection!")
        and not any(graphql.is_non_null_type(a.type) for a in f.args.values())
    ]
    ids = api("{ " + " ".join(f"{n}(first: 3) {{ nodes {{ id }} }}" for n in lists) + " }")
    metadata = api("{ entityTypes { name } relationships { name } workflows { name } }")
    names = [t["name"] for key in metadata for t in metadata[key]]
    fields = ["tier", "status", "kind", "createdAt:month", "dueDate:year", "partnerId", "nope"]
    return Seeds(
        ids=[node["id"] for key in lists for node in ids[key]["nodes"]],
        names=[*names, *fields, "customer.partner", "admin"],
        definitions=[FOLLOW_UP, {**FOLLOW_UP, "on": ["create"], "stage": "before"}],
    )


@pytest.fixture
def fuzz(api: Api, service: RecordService, admin: Actor) -> Iterator[Fuzz]:  # noqa: F811
    load_demo(service, admin)
    api("mutation($d: JSON!) { defineWorkflow(definition: $d) { name } }", {"d": FOLLOW_UP})
    introspection = api(graphql.get_introspection_query())
    schema = graphql.build_client_schema(introspection)
    seeds = seeds_of(api, schema)
    scalars = {True: edge_scalar_strategies(seeds), False: plain_scalar_strategies(seeds)}
    groups: dict[str, list[str]] = {}
    for root in (schema.query_type, schema.mutation_type):
        assert root is not None
        for name in root.fields:
            groups.setdefault(group_of(name, root.name), []).append(name)
    assert set(groups) == set(GROUPS), f"root fields in no group: {groups.get('unknown')}"
    fuzz = Fuzz(api, schema, scalars, groups)
    yield fuzz
    # Not vacuous: some operations got past every check to an answer with data (most are
    # refused, and must be refused well: that is what a fuzzer is for).
    assert fuzz.answered > 0, "no operation got an answer with data"


@pytest.mark.parametrize("group", GROUPS)
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one app per group, its state carried across examples
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_generated_operations_get_a_sound_answer(
    fuzz: Fuzz, group: str, data: st.DataObject
) -> None:
    root_field = data.draw(st.sampled_from(fuzz.groups[group]), label="root field")
    edges = data.draw(st.booleans(), label="edge values")
    operation = data.draw(fuzz.operations(root_field, edges), label="operation")
    if data.draw(st.booleans(), label="as variables"):
        found = fuzz.answer(*lifted(fuzz.schema, operation))
    else:
        found = fuzz.answer(operation)
    assert not found, "\n".join(found)
