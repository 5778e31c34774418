"""The request limits hold however a request is spelled (issue 10, points 5, 6, 13, 15, 33).

Every limit is tried inline and through variables, through fragments and
aliases, over GET and POST, with a token and without; each refusal is
``LIMIT_EXCEEDED`` naming the limit, before anything runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from xrm.api import json_plan
from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.json_query import Unsupported
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, create_user, first_admin
from xrm.platform.settings import Settings


def post(
    client: TestClient, token: str | None, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def get(client: TestClient, token: str | None, query: str, variables: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"query": query, "variables": json.dumps(variables)}
    response = client.get("/graphql", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def refused(body: dict[str, Any]) -> str:
    """The limit a response names; fails unless it is a LIMIT_EXCEEDED with no data."""
    assert body.get("data") is None, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED", error
    limit: str = error["extensions"]["limit"]
    return limit


def answered(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


@pytest.fixture
def tokens(db: Database, registry: Registry) -> dict[str, str]:
    registry.apply(definitions())
    with db.write() as conn:
        viewer = create_user(conn, "vic@example.com", ("viewer",))
        return {
            "admin": create_token(conn, first_admin(conn)),
            "viewer": create_token(conn, viewer),
        }


def client_for(settings: Settings, **limits: Any) -> TestClient:
    return TestClient(create_app(dataclasses.replace(settings, **limits)))


@pytest.fixture
def client(settings: Settings, tokens: dict[str, str]) -> Iterator[TestClient]:
    with client_for(settings) as c:
        yield c


# --- point 5: a list without `first` costs its default page ------------------------------------


def related(levels: int, first: str = "") -> str:
    inner = "name"
    for _ in range(levels - 1):
        inner = f"name relatedCustomers{first} {{ nodes {{ {inner} }} }}"
    return f"{{ customers{first} {{ nodes {{ {inner} }} }} }}"


def test_a_list_without_first_costs_its_default_page(
    client: TestClient, tokens: dict[str, str]
) -> None:
    viewer = tokens["viewer"]
    # Four levels of 50: 6.4 million records at most; refused with or without `first`.
    assert refused(post(client, viewer, related(4))) == "cost"
    assert refused(post(client, viewer, related(4, "(first: 50)"))) == "cost"
    assert refused(get(client, viewer, related(4), {})) == "cost"
    # Through fragments and aliases, as the same request.
    fragments = """
      query { a: customers { nodes { ...One } } }
      fragment One on Customer { r: relatedCustomers { nodes { ...Two } } }
      fragment Two on Customer { relatedCustomers { nodes { ...Three } } }
      fragment Three on Customer { relatedCustomers { nodes { name } } }"""
    assert refused(post(client, viewer, fragments)) == "cost"
    # Smaller pages make it affordable: asked inline or through a variable.
    small = related(4, "(first: $n)").replace("{ customers", "query($n: Int) { customers", 1)
    assert answered(post(client, viewer, small, {"n": 10}))["customers"]["nodes"] == []
    assert refused(post(client, viewer, small, {"n": 50})) == "cost"
    # Three levels of the default page stay within the bound.
    assert answered(post(client, viewer, related(3)))["customers"]["nodes"] == []


def test_history_and_batch_answers_count_as_lists(
    settings: Settings, tokens: dict[str, str]
) -> None:
    with client_for(settings, graphql_max_cost=1_000) as client:
        # 10 customers, each with its history (a page of 50 assumed): 510 records.
        ten = "{ customers(first: 10) { nodes { history { action } } } }"
        assert answered(post(client, tokens["admin"], ten))["customers"]["nodes"] == []
        # 30 customers: 1,530.
        thirty = "{ customers(first: 30) { nodes { history { action } } } }"
        assert refused(post(client, tokens["admin"], thirty)) == "cost"


# --- point 6: one parse per request, always with the token limit ---------------------------------


def test_every_parse_has_the_token_limit_and_happens_once(
    client: TestClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphql.language import parser

    parses: list[int | None] = []
    real_init = parser.Parser.__init__

    def spying(self: Any, source: Any, **options: Any) -> None:
        parses.append(options.get("max_tokens"))
        real_init(self, source, **options)

    monkeypatch.setattr(parser.Parser, "__init__", spying)
    for token in (None, tokens["viewer"]):
        for query in (
            "{ __typename __schema { queryType { name } } }",
            "{ customers { totalCount } }",
        ):
            parses.clear()
            unique = query + f" # {token} {len(parses)} {id(parses)}"
            post(client, token, unique)
            assert parses == [10_000], (token, query, parses)


def test_a_long_document_without_a_token_is_refused_by_the_token_limit(
    client: TestClient,
) -> None:
    # Only __typename (which is answered without a token), but far too many tokens.
    body = post(client, None, "{ " + "__typename " * 20_000 + "}")
    assert refused(body) == "tokens"
    body = post(client, None, "{ customers { nodes { " + "id " * 20_000 + "} } }")
    assert refused(body) == "tokens"


def test_a_body_over_the_size_limit_is_413_for_graphql_and_admin_forms(
    settings: Settings, tokens: dict[str, str]
) -> None:
    big = "x" * (1024 * 1024 + 1)
    with client_for(settings, max_body_mb=1) as client:
        for headers in ({}, {"Authorization": f"Bearer {tokens['admin']}"}):
            response = client.post(
                "/graphql", json={"query": "{ __typename }", "pad": big}, headers=headers
            )
            assert response.status_code == 413
            assert response.json()["errors"][0]["extensions"] == {
                "code": "LIMIT_EXCEEDED",
                "limit": "body",
            }
        # Without a Content-Length (chunked): counted while read.
        chunks = (b"x" * 65536 for _ in range(20))
        response = client.post(
            "/graphql", content=chunks, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        response = client.post("/admin/login", data={"email": "a@b.c", "password": big})
        assert response.status_code == 413
        assert "XRM_MAX_BODY_MB" in response.text
        # Under the limit, all is as before.
        assert client.post("/graphql", json={"query": "{ __typename }"}).status_code == 200


def test_a_body_nested_too_deeply_is_a_bad_request(client: TestClient) -> None:
    nested = '{"query": "{ __typename }", "variables": {"v": ' + "[" * 100_000 + "]" * 100_000
    response = client.post(
        "/graphql", content=nested + "}}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


# --- point 13: filter depth and width, inline or in variables --------------------------------


def negated(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"name": {"eq": "x"}}
    for _ in range(levels):
        node = {"not": node}
    return node


def inline(value: Any) -> str:
    """A JSON value as a GraphQL literal (keys unquoted)."""
    if isinstance(value, dict):
        return "{" + " ".join(f"{k}: {inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + " ".join(inline(v) for v in value) + "]"
    return json.dumps(value)


FILTERED = "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }"
NESTED = (
    "query($f: ContactFilter) { customers(first: 1) { nodes { contacts(filter: $f) "
    "{ totalCount } } } }"
)
AGGREGATE = "query($f: CustomerFilter) { customersAggregate(filter: $f) { count } }"


@pytest.mark.parametrize("levels", [50, 150])
def test_deep_filters_are_refused_inline_and_as_variables(
    client: TestClient, tokens: dict[str, str], levels: int
) -> None:
    admin = tokens["admin"]
    deep = negated(levels)
    assert refused(post(client, admin, FILTERED, {"f": deep})) == "filterDepth"
    literal = "{ customers(filter: " + inline(deep) + ") { totalCount } }"
    assert refused(post(client, admin, literal)) == "filterDepth"
    # Parts inline, parts as variables; a variable's default; a nested connection; aggregates.
    half = "query($f: CustomerFilter) { customers(filter: {not: {not: $f}}) { totalCount } }"
    assert refused(post(client, admin, half, {"f": negated(levels - 2)})) == "filterDepth"
    default = FILTERED.replace("$f: CustomerFilter", "$f: CustomerFilter = " + inline(deep))
    assert refused(post(client, admin, default)) == "filterDepth"
    contacts: dict[str, Any] = {"fullName": {"eq": "x"}}
    for _ in range(levels):
        contacts = {"not": contacts}
    assert refused(post(client, admin, NESTED, {"f": contacts})) == "filterDepth"
    assert refused(post(client, admin, AGGREGATE, {"f": deep})) == "filterDepth"
    assert refused(get(client, admin, FILTERED, {"f": deep})) == "filterDepth"


def test_the_deepest_filters_allowed_run_on_this_database(
    client: TestClient, tokens: dict[str, str]
) -> None:
    admin = tokens["admin"]
    # 10 levels: eight `not`s around a field comparison (two levels).
    assert answered(post(client, admin, FILTERED, {"f": negated(8)}))["customers"] == {
        "totalCount": 0
    }
    assert refused(post(client, admin, FILTERED, {"f": negated(9)})) == "filterDepth"
    through: dict[str, Any] = {"name": {"eq": "x"}}
    for _ in range(2):  # customer -> contacts (some) -> customer: three levels each
        through = {"contacts": {"some": {"customer": through}}}
    through = {"not": through}  # 1 + 3 + 3 + 2 = 9
    assert answered(post(client, admin, FILTERED, {"f": through}))["customers"] == {"totalCount": 0}
    mixed = {"or": [{"and": [negated(6)]}, {"name": {"in": ["a", "b"]}}]}
    assert answered(post(client, admin, AGGREGATE, {"f": mixed}))["customersAggregate"] == [
        {"count": 0}
    ]


def test_wide_filters_are_refused_inline_and_as_variables(
    client: TestClient, tokens: dict[str, str]
) -> None:
    admin = tokens["admin"]
    wide = {"or": [{"name": {"eq": f"n{i}"}} for i in range(40_000)]}
    assert refused(post(client, admin, FILTERED, {"f": wide})) == "filterWidth"
    few = {"or": [{"name": {"eq": f"n{i}"}} for i in range(400)]}
    literal = "{ customers(filter: " + inline(few) + ") { totalCount } }"
    assert refused(post(client, admin, literal)) == "filterWidth"  # 400 x 3 > 1,000
    ids = {"id": {"in": [f"00000000-0000-0000-0000-{i:012d}" for i in range(5_000)]}}
    assert refused(post(client, admin, FILTERED, {"f": ids})) == "filterWidth"
    listed = "query($ids: [ID!]) { customers(filter: {id: {notIn: $ids}}) { totalCount } }"
    assert refused(post(client, admin, listed, {"ids": ids["id"]["in"]})) == "filterWidth"
    # Width adds up across the request: two aliased lists of 600 conditions each.
    six = {"name": {"in": [f"n{i}" for i in range(600)]}}
    both = (
        "query($f: CustomerFilter) { a: customers(filter: $f) { totalCount } "
        "b: customers(filter: $f) { totalCount } }"
    )
    assert answered(post(client, admin, FILTERED, {"f": six}))["customers"]["totalCount"] == 0
    assert refused(post(client, admin, both, {"f": six})) == "filterWidth"
    assert refused(post(client, admin, NESTED, {"f": {"fullName": {"in": ["x"] * 2_000}}})) == (
        "filterWidth"
    )


# --- point 15: inputs per batch; introspection times aliases ---------------------------------


def test_inputs_per_request_are_capped_inline_and_as_variables(
    settings: Settings, tokens: dict[str, str], db: Database, service: RecordService
) -> None:
    admin = tokens["admin"]
    create = "mutation($in: [TaskInput!]!) { createTasks(inputs: $in) { id } }"
    with client_for(settings, max_batch=5) as client:
        six = [{"title": f"t{i}"} for i in range(6)]
        assert refused(post(client, admin, create, {"in": six})) == "batch"
        literal = "mutation { createTasks(inputs: " + inline(six) + ") { id } }"
        assert refused(post(client, admin, literal)) == "batch"
        # Aliases add up: three batches of two.
        aliased = (
            "mutation($in: [TaskInput!]!) { a: createTasks(inputs: $in) { id } "
            "b: createTasks(inputs: $in) { id } c: createTasks(inputs: $in) { id } }"
        )
        assert refused(post(client, admin, aliased, {"in": six[:2]})) == "batch"
        singles = (
            "mutation { "
            + " ".join(f'a{i}: createTask(input: {{title: "t{i}"}}) {{ id }}' for i in range(6))
            + " }"
        )
        assert refused(post(client, admin, singles)) == "batch"
        with db.read() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM e_task").scalar_one() == 0
        assert len(answered(post(client, admin, create, {"in": six[:5]}))["createTasks"]) == 5
    # The default allows a thousand, not 1,001.
    with client_for(settings) as client:
        many = [{"title": f"t{i}"} for i in range(1_001)]
        assert refused(post(client, admin, create, {"in": many})) == "batch"


def test_introspection_cannot_be_multiplied_by_aliases_or_nesting(
    client: TestClient, tokens: dict[str, str]
) -> None:
    from graphql import get_introspection_query

    admin = tokens["admin"]
    full = get_introspection_query(descriptions=True)
    assert "__schema" in answered(post(client, admin, full))
    body = full.replace("__schema {", "a: __schema {").replace(
        "query IntrospectionQuery {", "query IntrospectionQuery { b: __schema { types { name } }"
    )
    assert refused(post(client, admin, body)) == "introspection"

    def types(count: int) -> str:
        asked = " ".join(f'a{i}: __type(name: "Customer") {{ name }}' for i in range(count))
        return "{ " + asked + " }"

    assert refused(post(client, admin, types(11))) == "introspection"
    assert len(answered(post(client, admin, types(10)))) == 10
    nested = "{ __schema { types { fields { type { fields { name } } } } } }"
    assert refused(post(client, admin, nested)) == "introspection"
    # Without a token, introspection is refused as before (only __typename is open).
    assert post(client, None, full)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- point 33: the page settings reach every reader --------------------------------------------


def three_ways(
    client: TestClient, token: str, query: str, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, Any]]:
    """The same request answered by one statement, per level, and by standard execution."""
    schema = client.app.state.graphql.schemas  # type: ignore[attr-defined]
    one = post(client, token, query + " ")
    real = json_plan.answer

    def refusing(*args: Any, **kwargs: Any) -> Any:
        raise Unsupported("off for the test")

    monkeypatch.setattr(json_plan, "answer", refusing)
    per_level = post(client, token, query + "  ")
    monkeypatch.setattr(json_plan, "answer", real)
    schema._schema.fast_path = False
    try:
        standard = post(client, token, query + "   ")
    finally:
        schema._schema.fast_path = True
    return [one, per_level, standard]


def test_the_page_settings_hold_on_every_reader(
    settings: Settings,
    tokens: dict[str, str],
    catalog_service: RecordService,
    admin: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with catalog_service.session(admin) as session:
        customer = session.create("customer", {"name": "Acme"})
        for i in range(30):
            session.create("contact", {"full_name": f"c{i}", "customer": customer["id"]})
    token = tokens["admin"]
    larger = "{ contacts(first: 600) { nodes { fullName } } }"
    nested = "{ customers { nodes { contacts(first: 600) { totalCount } } } }"
    with client_for(settings, max_page_size=1_000) as client:
        for body in three_ways(client, token, larger, monkeypatch):
            assert len(answered(body)["contacts"]["nodes"]) == 30
        for body in three_ways(client, token, nested, monkeypatch):
            assert answered(body)["customers"]["nodes"] == [{"contacts": {"totalCount": 30}}]
        assert refused(post(client, token, larger.replace("600", "1001"))) == "page"
    smaller = (
        "{ contacts { nodes { fullName } } customers { nodes { contacts { nodes { id } } } } }"
    )
    with client_for(settings, max_page_size=20) as client:
        for body in three_ways(client, token, smaller, monkeypatch):
            data = answered(body)
            assert len(data["contacts"]["nodes"]) == 20
            assert len(data["customers"]["nodes"][0]["contacts"]["nodes"]) == 20
        assert refused(post(client, token, "{ contacts(first: 21) { totalCount } }")) == "page"
