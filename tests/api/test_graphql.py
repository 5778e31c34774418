"""The generated GraphQL API through the whole ASGI application (HTTP in, JSON out)."""

from __future__ import annotations

import dataclasses
import gc
import uuid
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin
from xrm.platform.settings import Settings


class Api:
    """A GraphQL client for one token."""

    def __init__(self, client: TestClient, token: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def raw(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.raw(query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.raw(query, variables)
        assert body.get("errors"), body
        error: dict[str, Any] = body["errors"][0]
        return error


@pytest.fixture
def app_client(settings: Settings, registry: Registry) -> Iterator[TestClient]:
    registry.apply(definitions())
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def api(app_client: TestClient, db: Database) -> Api:
    with db.write() as conn:
        token = create_token(conn, first_admin(conn), name="tests")
    return Api(app_client, token)


def test_without_a_token_only_typename_answers(app_client: TestClient) -> None:
    anonymous = Api(app_client, None)
    assert anonymous("{ __typename }") == {"__typename": "Query"}
    error = anonymous.error("{ customers { totalCount } }")
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert (
        Api(app_client, "xrm_forged").error("{ customers { totalCount } }")["extensions"]["code"]
        == "UNAUTHENTICATED"
    )


def test_create_then_query_nested_relations_both_ways(api: Api) -> None:
    customer = api(
        """mutation($input: CustomerInput!) { createCustomer(input: $input) {
             id name email phone revenue tier version createdAt owner { email } } }""",
        {
            "input": {
                "name": "  한빛전자 ",
                "email": "INFO@Hanbit.example",
                "phone": "02-555-1234",
                "revenue": 1234567.891,
            }
        },
    )["createCustomer"]
    assert customer["name"] == "한빛전자" and customer["email"] == "info@hanbit.example"
    assert customer["phone"] == "+8225551234" and customer["revenue"] == "1234567.891"
    assert customer["tier"] == "standard" and customer["version"] == 1
    assert customer["owner"] == {"email": "admin@localhost"}
    contacts = api(
        """mutation($inputs: [ContactInput!]!) { createContacts(inputs: $inputs) {
             fullName customer { name } } }""",
        {
            "inputs": [
                {"fullName": "김민준", "customerId": customer["id"]},
                {"fullName": "李华", "customerId": customer["id"]},
            ]
        },
    )["createContacts"]
    assert [c["customer"]["name"] for c in contacts] == ["한빛전자", "한빛전자"]
    data = api(
        """query($id: ID!) {
             customer(id: $id) { name contacts(orderBy: [{fullName: DESC}]) {
               totalCount nodes { fullName customer { id } } } }
             customers(filter: {contacts: {some: {fullName: {startsWith: "김"}}}}) {
               totalCount edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }""",
        {"id": customer["id"]},
    )
    assert data["customer"]["contacts"]["totalCount"] == 2
    # Code-point order: 김 (U+AE40) sorts after 李 (U+674E), so it comes first descending.
    assert [c["fullName"] for c in data["customer"]["contacts"]["nodes"]] == ["김민준", "李华"]
    assert data["customers"]["totalCount"] == 1
    assert data["customers"]["pageInfo"]["hasNextPage"] is False


def test_validation_errors_name_every_field_in_camel_case(api: Api) -> None:
    error = api.error(
        """mutation { createContacts(inputs: [
             {fullName: "ok"},
             {fullName: "bad", email: "nope", customerId: "00000000-0000-0000-0000-000000000000"}
           ]) { id } }"""
    )
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    fields = {e["field"] for e in error["extensions"]["errors"]}
    assert fields == {"inputs.1.email"}
    error = api.error(
        """mutation { createContact(input: {fullName: "x",
             customerId: "00000000-0000-0000-0000-000000000000"}) { id } }"""
    )
    assert {e["field"] for e in error["extensions"]["errors"]} == {"customerId"}
    assert "requestId" in error["extensions"]


def test_update_with_a_stale_version_is_a_conflict(api: Api) -> None:
    made = api('mutation { createCustomer(input: {name: "A"}) { id version } }')["createCustomer"]
    query = """mutation($id: ID!, $v: Int) {
                 updateCustomer(id: $id, input: {tier: "gold"}, expectedVersion: $v) {
                   version tier } }"""
    assert api(query, {"id": made["id"], "v": 1})["updateCustomer"] == {
        "version": 2,
        "tier": "gold",
    }
    error = api.error(query, {"id": made["id"], "v": 1})
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["path"] == ["updateCustomer"]


def test_delete_restrict_link_and_history(api: Api) -> None:
    customer = api('mutation { createCustomer(input: {name: "C"}) { id } }')["createCustomer"]["id"]
    contract = api(
        'mutation($c: ID!) { createContract(input: {title: "T", customerId: $c}) { id number } }',
        {"c": customer},
    )["createContract"]
    assert contract["number"].startswith("CTR-")
    asset = api('mutation { createAsset(input: {name: "Server"}) { id } }')["createAsset"]["id"]
    assert api(
        """mutation($f: ID!, $t: ID!) {
             link(relationship: "contract_assets", fromId: $f, toId: $t,
                  attributes: {coverage: "partial", since: "2024-05-01"}) }""",
        {"f": contract["id"], "t": asset},
    ) == {"link": True}
    edges = api(
        "query($id: ID!) { contract(id: $id) { assets { edges { attributes node { name } } } } }",
        {"id": contract["id"]},
    )["contract"]["assets"]["edges"]
    assert edges[0]["node"] == {"name": "Server"}
    assert edges[0]["attributes"] == {"coverage": "partial", "since": "2024-05-01"}
    error = api.error("mutation($id: ID!) { deleteCustomer(id: $id) }", {"id": customer})
    assert error["extensions"]["code"] == "RESTRICTED"
    history = api(
        "query($id: ID!) { customer(id: $id) { history { action actor changes } } }",
        {"id": customer},
    )["customer"]["history"]
    assert history[0]["action"] == "create" and history[0]["actor"] == "admin@localhost"
    assert api("query($id: ID!) { customer(id: $id) { id } }", {"id": str(uuid.uuid4())}) == {
        "customer": None
    }


def test_define_entity_type_is_live_on_the_next_request(api: Api) -> None:
    definition = {
        "type": "object",
        "title": "Ticket",
        "x-xrm": {"name": "ticket", "plural": "tickets", "label": {"en": "Ticket", "ko": "티켓"}},
        "properties": {
            "title": {"type": "string", "maxLength": 20},
            "customer": {
                "type": "string",
                "x-xrm-ref": {"entity": "customer", "inverse": "tickets"},
            },
        },
        "required": ["title"],
    }
    made = api(
        "mutation($d: JSON!) { defineEntityType(definition: $d) { name plural version } }",
        {"d": definition},
    )
    assert made["defineEntityType"] == {"name": "ticket", "plural": "tickets", "version": 1}
    created = api('mutation { createTicket(input: {title: "Printer on fire"}) { id title } }')
    assert created["createTicket"]["title"] == "Printer on fire"
    assert api("{ customers { nodes { tickets { totalCount } } } }") == {"customers": {"nodes": []}}
    bad = dict(definition, properties={"title": {"type": "strng"}})
    error = api.error(
        "mutation($d: JSON!) { defineEntityType(definition: $d) { name } }", {"d": bad}
    )
    assert error["extensions"]["code"] == "BAD_DEFINITION"
    assert error["extensions"]["errors"][0]["field"].startswith("properties.title")
    names = {t["name"] for t in api("{ entityTypes { name } }")["entityTypes"]}
    assert {"customer", "ticket"} <= names


def test_definitions_edited_against_a_stale_version_are_a_conflict(api: Api) -> None:
    note = {
        "type": "object",
        "x-xrm": {"name": "note", "plural": "notes"},
        "properties": {"body": {"type": "string"}},
    }
    define = """mutation($d: JSON!, $v: Int) {
        defineEntityType(definition: $d, expectedVersion: $v) { version } }"""
    assert api(define, {"d": note, "v": 0})["defineEntityType"] == {"version": 1}
    longer = dict(note, properties={"body": {"type": "string"}, "topic": {"type": "string"}})
    assert api(define, {"d": longer, "v": 1})["defineEntityType"] == {"version": 2}
    stale = dict(note, properties={"body": {"type": "string"}, "mood": {"type": "string"}})
    error = api.error(define, {"d": stale, "v": 1})
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["currentVersion"] == 2
    fields = api("{ entityTypes { name definition } }")["entityTypes"]
    stored = next(t["definition"] for t in fields if t["name"] == "note")
    assert set(stored["properties"]) == {"body", "topic"}  # the stale change did nothing
    assert api.error(define, {"d": note, "v": 0})["extensions"]["code"] == "CONFLICT"
    link = {
        "relationship": "note_links",
        "from": "note",
        "to": "customer",
        "fromField": "customers",
        "toField": "pinned_notes",
    }
    relate = """mutation($d: JSON!, $v: Int) {
        defineRelationship(definition: $d, expectedVersion: $v) { name version } }"""
    assert api(relate, {"d": link, "v": 0})["defineRelationship"]["version"] == 1
    assert api.error(relate, {"d": link, "v": 0})["extensions"]["code"] == "CONFLICT"
    role = {"role": "noter", "entities": {"note": {"read": "all"}}}
    grant = """mutation($d: JSON!, $v: Int) {
        defineRole(definition: $d, expectedVersion: $v) { version } }"""
    assert api(grant, {"d": role, "v": 0})["defineRole"] == {"version": 1}
    assert api.error(grant, {"d": role, "v": 0})["extensions"]["code"] == "CONFLICT"


def test_the_schema_is_rebuilt_only_when_the_version_moves_and_then_freed(
    app_client: TestClient, api: Api
) -> None:
    view = app_client.app.state.graphql  # type: ignore[attr-defined]
    for _ in range(3):  # a plain query: its statement, its table aliases and its plan are kept
        api("{ customers { totalCount nodes { name contacts { nodes { fullName } } } } }")
    first = view.schemas._schema
    api("{ customers { totalCount } }")
    assert view.schemas._schema is first  # nothing changed: no rebuild
    retired, old_version = weakref.ref(first), first.version
    old_table = weakref.ref(view.services.registry.current().tables["customer"])
    del first
    note = {
        "type": "object",
        "x-xrm": {"name": "note", "plural": "notes"},
        "properties": {"body": {"type": "string"}},
    }
    api("mutation($d: JSON!) { defineEntityType(definition: $d) { name } }", {"d": note})
    assert api("{ notes { totalCount } }") == {"notes": {"totalCount": 0}}
    assert view.schemas._schema.version > old_version
    gc.collect()
    assert retired() is None, gc.get_referrers(retired())  # no request holds it any more
    # Nor its catalog's tables, once SQLAlchemy's bounded cache of compiled statements lets go.
    app_client.app.state.db.engine._compiled_cache.clear()  # type: ignore[attr-defined]
    gc.collect()
    alive = old_table() is not None
    assert not alive


def test_aggregates_group_by_camel_case_names(api: Api) -> None:
    api(
        """mutation { createCustomers(inputs: [
             {name: "A", tier: "gold", revenue: "10.5", since: "2024-01-05"},
             {name: "B", tier: "gold", revenue: "4.5", since: "2024-01-20"},
             {name: "C", tier: "vip", employeeCount: 3, since: "2024-02-01"}]) { id } }"""
    )
    groups = api('{ customersAggregate(groupBy: ["tier", "since:month"]) { group count sum } }')
    rows = {
        (g["group"]["tier"], g["group"]["since:month"]): g for g in groups["customersAggregate"]
    }
    assert rows[("gold", "2024-01-01")]["count"] == 2
    assert rows[("gold", "2024-01-01")]["sum"]["revenue"] == "15.0"  # exact, as Decimal spells it
    assert rows[("vip", "2024-02-01")]["sum"]["employeeCount"] == 3


def test_an_aggregate_grouped_twice_by_one_key_names_the_repeat(api: Api) -> None:
    """Found by the schema fuzzer: groupBy: ["tier", "tier"] was an internal error."""
    error = api.error('{ customersAggregate(groupBy: ["tier", "since", "tier"]) { count } }')
    assert error["extensions"]["code"] == "VALIDATION_FAILED", error
    assert error["extensions"]["errors"] == [
        {"field": "groupBy.2", "message": "already grouped by (groupBy.0)"}
    ]
    both = api('{ customersAggregate(groupBy: ["since", "since:month"]) { group } }')
    assert both["customersAggregate"] == []  # a field and its bucket are two keys


def test_statement_count_depends_on_depth_not_rows(api: Api) -> None:
    for i in range(6):
        customer = api(
            "mutation($n: String!) { createCustomer(input: {name: $n}) { id } }", {"n": f"c{i}"}
        )["createCustomer"]["id"]
        api(
            'mutation($c: ID!) { createContacts(inputs: [{fullName: "a", customerId: $c}, '
            '{fullName: "b", customerId: $c}]) { id } }',
            {"c": customer},
        )
    query = """query($n: Int) { customers(first: $n) { nodes { name owner { email }
                 contacts { nodes { fullName customer { name } } } } } }"""
    counts = []
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    app_db = api.client.app.state.db  # type: ignore[attr-defined]
    sa.event.listen(app_db.engine, "before_cursor_execute", count)
    try:
        for size in (1, 6):
            statements.clear()
            data = api(query, {"n": size})
            assert len(data["customers"]["nodes"]) == size
            counts.append(len(statements))
    finally:
        sa.event.remove(app_db.engine, "before_cursor_execute", count)
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize(
    ("query", "variables", "limit"),
    [
        ("{ customers(first: 501) { totalCount } }", {}, "page"),
        ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": 10_000}, "page"),
        ("{ " + " ".join(f"a{i}: __typename" for i in range(101)) + " }", {}, "aliases"),
        ("{ customers { nodes { " + "id " * 10_000 + "} } }", {}, "tokens"),
        (
            "{ customers(first: 500) { nodes { contacts(first: 500) { nodes { id } } } } }",
            {},
            "cost",
        ),
    ],
)
def test_limits_refuse_before_execution(
    api: Api, query: str, variables: dict[str, Any], limit: str
) -> None:
    error = api.error(query, variables)
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert error["extensions"]["limit"] == limit


def test_depth_limit_counts_nesting_through_fragments(api: Api) -> None:
    nested = (
        "fragment C on Customer { contacts { nodes { customer { ...D } } } } "
        "fragment D on Customer { contacts { nodes { customer { name } } } } "
    )
    inner = "{ customers { nodes { ...C } } }"
    assert "customers" in api(nested + "query " + inner)
    levels = "name"
    for _ in range(6):
        levels = f"contacts {{ nodes {{ customer {{ {levels} }} }} }}"
    error = api.error("{ customers { nodes { " + levels + " } } }")
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert error["extensions"]["limit"] == "depth"


def test_introspection_passes_a_standard_client_and_can_be_switched_off(
    app_client: TestClient, api: Api, settings: Settings
) -> None:
    from graphql import build_client_schema, get_introspection_query

    data = api(get_introspection_query(descriptions=True))
    schema = build_client_schema(data)  # type: ignore[arg-type]
    customer = schema.get_type("Customer")
    assert customer is not None and customer.description
    assert "contacts" in customer.fields  # type: ignore[union-attr]
    closed = dataclasses.replace(settings, graphql_introspection=False)
    with TestClient(create_app(closed)) as client:
        error = Api(client, api.headers["Authorization"].split()[1]).error(
            "{ __schema { types { name } } }"
        )
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"


def test_graphiql_is_served_to_a_browser(app_client: TestClient) -> None:
    page = app_client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


def test_internal_errors_reach_the_client_without_a_traceback(
    api: Api, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with db.write() as conn:  # break the table under the API's feet
        conn.exec_driver_sql("DROP TABLE e_task")
    body = api.raw("{ tasks { totalCount } }")
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "Traceback" not in str(body) and "e_task" not in str(body)
    request_id = error["extensions"]["requestId"]
    assert request_id in error["message"]
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)
