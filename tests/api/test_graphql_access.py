"""Roles through GraphQL: one schema for everyone, each caller sees what their roles allow.

A hidden field answers null with a FORBIDDEN error at its path while the rest
of the response stands; a type the role may not read answers FORBIDDEN; a
viewer's every mutation is FORBIDDEN and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from test_graphql import Api

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform import tables as platform
from xrm.platform.db import Database
from xrm.platform.identity import create_token, create_user, find_user, first_admin
from xrm.platform.settings import Settings

MANAGER: dict[str, Any] = {
    "role": "account_manager",
    "entities": {
        "customer": {
            "read": "own",
            "create": "all",
            "update": "own",
            "fields": {"revenue": "hidden", "tier": "read_only"},
        },
        "contact": {"read": "all", "create": "all", "update": "own"},
    },
}


@pytest.fixture
def client(settings: Settings, registry: Registry) -> Iterator[TestClient]:
    registry.apply([*definitions(), MANAGER])
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def tokens(db: Database) -> dict[str, str]:
    with db.write() as conn:
        admin = first_admin(conn)
        out = {"admin": create_token(conn, admin)}
        for email, role in (
            ("mia@example.com", "account_manager"),
            ("max@example.com", "account_manager"),
            ("vic@example.com", "viewer"),
            ("eddie@example.com", "editor"),
        ):
            out[email.split("@")[0]] = create_token(conn, create_user(conn, email, (role,)))
    return out


@pytest.fixture
def apis(client: TestClient, tokens: dict[str, str]) -> dict[str, Api]:
    return {who: Api(client, token) for who, token in tokens.items()}


CREATE = """mutation($input: CustomerInput!) { createCustomer(input: $input) { id name } }"""


def make_customer(api: Api, name: str, revenue: str | None = None, admin: Api | None = None) -> str:
    """A customer owned by ``api``'s user; its (hidden) revenue set by ``admin``."""
    customer: str = api(CREATE, {"input": {"name": name}})["createCustomer"]["id"]
    if revenue is not None:
        assert admin is not None
        admin(
            "mutation($id: ID!, $r: Decimal) { updateCustomer(id: $id, input: {revenue: $r}) "
            "{ id } }",
            {"id": customer, "r": revenue},
        )
    return customer


def codes(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(".".join(map(str, e["path"])), e["extensions"]["code"]) for e in body["errors"]]


def audit_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(platform.audit)).scalar())


def test_a_hidden_field_is_null_with_forbidden_at_its_path(apis: dict[str, Api]) -> None:
    make_customer(apis["mia"], "Acme", "1200.50", apis["admin"])
    body = apis["mia"].raw("{ customers { nodes { name revenue tier } totalCount } }")
    assert body["data"]["customers"]["nodes"] == [
        {"name": "Acme", "revenue": None, "tier": "standard"}
    ]
    assert codes(body) == [("customers.nodes.0.revenue", "FORBIDDEN")]
    # Without the hidden field, everything answers; the admin sees it.
    ok = apis["mia"]("{ customers { nodes { name tier } totalCount } }")
    assert ok["customers"] == {"nodes": [{"name": "Acme", "tier": "standard"}], "totalCount": 1}
    seen = apis["admin"]("{ customers { nodes { revenue } } }")["customers"]["nodes"]
    assert seen == [{"revenue": "1200.50"}]


def test_a_nullable_hidden_field_leaves_the_rest_of_the_record(apis: dict[str, Api]) -> None:
    mine = make_customer(apis["mia"], "Acme", "10", apis["admin"])
    body = apis["mia"].raw("query($id: ID!) { customer(id: $id) { name revenue } }", {"id": mine})
    assert body["data"]["customer"] == {"name": "Acme", "revenue": None}
    assert codes(body) == [("customer.revenue", "FORBIDDEN")]


@pytest.mark.parametrize(
    "query",
    [
        '{ customers(filter: {revenue: {gt: "1"}}) { totalCount } }',
        "{ customers(orderBy: [{revenue: DESC}]) { totalCount } }",
        '{ customersAggregate(groupBy: ["revenue"]) { count } }',
        '{ contacts(filter: {customer: {revenue: {gt: "1"}}}) { totalCount } }',
        "{ customers { nodes { contacts(filter: {customer: {revenue: {isNull: false}}}) "
        "{ totalCount } } } }",
    ],
)
def test_hidden_fields_cannot_be_probed(apis: dict[str, Api], query: str) -> None:
    make_customer(apis["mia"], "Acme", "10", apis["admin"])
    body = apis["mia"].raw(query)
    assert [code for _, code in codes(body)] == ["FORBIDDEN"], body
    assert "revenue" in body["errors"][0]["message"]


def test_aggregates_leave_out_hidden_fields_and_count_only_own_rows(
    apis: dict[str, Api],
) -> None:
    make_customer(apis["mia"], "A", "10", apis["admin"])
    make_customer(apis["max"], "B", "20", apis["admin"])
    make_customer(apis["max"], "C", "30", apis["admin"])
    [mias] = apis["mia"]("{ customersAggregate { count sum } }")["customersAggregate"]
    assert mias["count"] == 1 and "revenue" not in mias["sum"]
    [all_] = apis["admin"]("{ customersAggregate { count sum } }")["customersAggregate"]
    assert all_["count"] == 3 and all_["sum"]["revenue"] == "60"  # decimals: exact strings


def test_own_scope_through_lists_lookups_and_nested_relations(apis: dict[str, Api]) -> None:
    mia, max_ = apis["mia"], apis["max"]
    mine = make_customer(mia, "Mine")
    theirs = make_customer(max_, "Theirs")
    for customer, api in ((mine, mia), (theirs, max_)):
        api(
            "mutation($i: ContactInput!) { createContact(input: $i) { id } }",
            {"i": {"fullName": f"Person at {customer[:4]}", "customerId": customer}},
        )
    listed = mia("{ customers { totalCount nodes { name } } }")["customers"]
    assert listed == {"totalCount": 1, "nodes": [{"name": "Mine"}]}
    assert mia("query($id: ID!) { customer(id: $id) { name } }", {"id": theirs}) == {
        "customer": None
    }
    # Contacts are readable to all; their customer only when it is one's own.
    contacts = mia("{ contacts(orderBy: [{fullName: ASC}]) { nodes { customer { name } } } }")
    names = sorted((n["customer"] or {}).get("name", "-") for n in contacts["contacts"]["nodes"])
    assert names == ["-", "Mine"]
    filtered = mia('{ contacts(filter: {customer: {name: {eq: "Theirs"}}}) { totalCount } }')
    assert filtered["contacts"]["totalCount"] == 0
    # Changing someone else's record: it does not exist for the caller.
    error = mia.error(
        'mutation($id: ID!) { updateCustomer(id: $id, input: {name: "x"}) { id } }',
        {"id": theirs},
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    # Pointing a new contact at it fails as for a missing record.
    error = mia.error(
        "mutation($i: ContactInput!) { createContact(input: $i) { id } }",
        {"i": {"fullName": "Sneaky", "customerId": theirs}},
    )
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert error["extensions"]["errors"][0]["field"] == "customerId"


def test_read_only_fields_are_forbidden_to_write(apis: dict[str, Api]) -> None:
    error = apis["mia"].error(CREATE, {"input": {"name": "Acme", "tier": "vip"}})
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "tier" in error["message"]
    assert apis["admin"]("{ customers { totalCount } }")["customers"]["totalCount"] == 0


def test_a_viewer_trying_every_mutation_is_forbidden_and_writes_nothing(
    apis: dict[str, Api], db: Database
) -> None:
    admin, vic = apis["admin"], apis["vic"]
    customer = make_customer(admin, "Acme")
    contract = admin(
        "mutation($i: ContractInput!) { createContract(input: $i) { id } }",
        {"i": {"title": "Deal", "customerId": customer}},
    )["createContract"]["id"]
    contact = admin(
        "mutation($i: ContactInput!) { createContact(input: $i) { id } }",
        {"i": {"fullName": "Ann"}},
    )["createContact"]["id"]
    before = audit_count(db)
    ticket = {
        "type": "object",
        "x-xrm": {"name": "ticket", "plural": "tickets"},
        "properties": {"title": {"type": "string"}},
    }
    relation = {
        "relationship": "customer_partners",
        "from": "customer",
        "to": "partner",
        "fromField": "allies",
        "toField": "allied",
    }
    mutations: list[tuple[str, dict[str, Any]]] = [
        (CREATE, {"input": {"name": "x"}}),
        ('mutation { createCustomers(inputs: [{name: "x"}]) { id } }', {}),
        (
            'mutation($id: ID!) { updateCustomer(id: $id, input: {name: "y"}) { id } }',
            {"id": customer},
        ),
        ("mutation($id: ID!) { deleteCustomer(id: $id) }", {"id": customer}),
        (
            'mutation($f: ID!, $t: ID!) { link(relationship: "contract_contacts", '
            "fromId: $f, toId: $t) }",
            {"f": contract, "t": contact},
        ),
        (
            'mutation($f: ID!, $t: ID!) { unlink(relationship: "contract_contacts", '
            "fromId: $f, toId: $t) }",
            {"f": contract, "t": contact},
        ),
        (
            "mutation($d: JSON!) { defineEntityType(definition: $d) { name } }",
            {"d": ticket},
        ),
        (
            "mutation($d: JSON!) { defineRelationship(definition: $d) { name } }",
            {"d": relation},
        ),
        (
            "mutation($d: JSON!) { defineRole(definition: $d) { name } }",
            {"d": {"role": "hacker", "admin": ["manage_users"]}},
        ),
    ]
    for query, variables in mutations:
        error = vic.error(query, variables)
        assert error["extensions"]["code"] == "FORBIDDEN", (query, error)
    assert audit_count(db) == before
    assert vic("{ customers { totalCount } }")["customers"]["totalCount"] == 1
    assert "ticket" not in {t["name"] for t in admin("{ entityTypes { name } }")["entityTypes"]}


def test_roles_are_listed_and_defined_by_user_managers_only(apis: dict[str, Api]) -> None:
    listed = apis["vic"]("{ roles { name builtin version } }")["roles"]
    assert {r["name"]: r["builtin"] for r in listed} == {
        "account_manager": False,
        "admin": True,
        "editor": True,
        "viewer": True,
    }
    definition = {"role": "auditor", "entities": {"customer": {"read": "all"}}}
    denied = apis["eddie"].error(
        "mutation($d: JSON!) { defineRole(definition: $d) { name } }", {"d": definition}
    )
    assert denied["extensions"]["code"] == "FORBIDDEN"
    made = apis["admin"](
        "mutation($d: JSON!) { defineRole(definition: $d) { name version definition } }",
        {"d": definition},
    )["defineRole"]
    assert made["name"] == "auditor" and made["version"] == 1
    bad = apis["admin"].error(
        "mutation($d: JSON!) { defineRole(definition: $d) { name } }",
        {"d": {"role": "auditor", "entities": {"custmer": {"read": "all"}}}},
    )
    assert bad["extensions"]["code"] == "BAD_DEFINITION"
    assert "custmer" in bad["message"]


def test_an_editor_cannot_define_types(apis: dict[str, Api]) -> None:
    ticket = {
        "type": "object",
        "x-xrm": {"name": "ticket", "plural": "tickets"},
        "properties": {"title": {"type": "string"}},
    }
    error = apis["eddie"].error(
        "mutation($d: JSON!) { defineEntityType(definition: $d) { name } }", {"d": ticket}
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    # Editors do write every record.
    assert make_customer(apis["eddie"], "Acme")


def test_history_through_graphql_leaves_out_hidden_changes(apis: dict[str, Api]) -> None:
    mine = make_customer(apis["mia"], "Acme", "10", apis["admin"])
    apis["admin"](
        'mutation($id: ID!) { updateCustomer(id: $id, input: {revenue: "20", name: "Acme Co"}) '
        "{ id } }",
        {"id": mine},
    )
    history = apis["mia"](
        "query($id: ID!) { customer(id: $id) { history { action changes } } }", {"id": mine}
    )["customer"]["history"]
    assert [h["action"] for h in history] == ["create", "update"]
    assert all("revenue" not in h["changes"] for h in history)
    assert history[1]["changes"]["name"] == ["Acme", "Acme Co"]


def test_owner_id_assigns_and_reassigns_records(apis: dict[str, Api], db: Database) -> None:
    made = apis["admin"](
        "mutation($i: CustomerInput!) { createCustomer(input: $i) { id owner { email } } }",
        {"i": {"name": "Given", "ownerId": apis_user_id(db, "mia@example.com")}},
    )["createCustomer"]
    assert made["owner"] == {"email": "mia@example.com"}
    assert apis["mia"]("{ customers { totalCount } }")["customers"]["totalCount"] == 1
    # Mia may hand her record on, but not create records for others.
    moved = apis["mia"](
        "mutation($id: ID!, $o: ID) { updateCustomer(id: $id, input: {ownerId: $o}) "
        "{ owner { email } } }",
        {"id": made["id"], "o": apis_user_id(db, "max@example.com")},
    )
    assert moved["updateCustomer"]["owner"] == {"email": "max@example.com"}
    assert apis["mia"]("{ customers { totalCount } }")["customers"]["totalCount"] == 0
    denied = apis["mia"].error(
        "mutation($i: CustomerInput!) { createCustomer(input: $i) { id } }",
        {"i": {"name": "For max", "ownerId": apis_user_id(db, "max@example.com")}},
    )
    assert denied["extensions"]["code"] == "FORBIDDEN"
    bad = apis["admin"].error(
        "mutation($i: CustomerInput!) { createCustomer(input: $i) { id } }",
        {"i": {"name": "x", "ownerId": "00000000-0000-0000-0000-000000000000"}},
    )
    assert bad["extensions"]["code"] == "VALIDATION_FAILED"
    assert bad["extensions"]["errors"][0]["field"] == "ownerId"


def apis_user_id(db: Database, email: str) -> str:
    with db.read() as conn:
        found = find_user(conn, email)
    assert found is not None and found.id is not None
    return found.id


def test_restore_and_erase_through_graphql(apis: dict[str, Api]) -> None:
    admin = apis["admin"]
    made = make_customer(admin, "Acme")
    admin(
        'mutation($id: ID!) { updateCustomer(id: $id, input: {name: "Acme Co", email: '
        '"ceo@acme.example"}) { id } }',
        {"id": made},
    )
    history = admin(
        "query($id: ID!) { customer(id: $id) { history { action version } } }", {"id": made}
    )["customer"]["history"]
    assert history == [{"action": "create", "version": 1}, {"action": "update", "version": 2}]
    restored = admin(
        "mutation($id: ID!) { restoreCustomer(id: $id, version: 1, expectedVersion: 2) "
        "{ name email version } }",
        {"id": made},
    )["restoreCustomer"]
    assert restored == {"name": "Acme", "email": None, "version": 3}
    erase = 'mutation($id: ID!) { eraseRecord(entity: "customer", id: $id) }'
    assert apis["eddie"].error(erase, {"id": made})["extensions"]["code"] == "FORBIDDEN"
    assert admin(erase, {"id": made}) == {"eraseRecord": True}
    assert admin("query($id: ID!) { customer(id: $id) { id } }", {"id": made}) == {"customer": None}
    assert admin.error(erase, {"id": made})["extensions"]["code"] == "NOT_FOUND"


def test_references_to_users_filter_like_other_references(
    apis: dict[str, Api], db: Database
) -> None:
    admin = apis["admin"]
    for title, who in (("Call Acme", "mia@example.com"), ("Visit Beta", "max@example.com")):
        admin(
            "mutation($i: TaskInput!) { createTask(input: $i) { id } }",
            {"i": {"title": title, "assigneeId": apis_user_id(db, who)}},
        )
    found = admin(
        '{ tasks(filter: {assignee: {email: {eq: "mia@example.com"}}}) '
        "{ nodes { title assignee { email } } } }"
    )["tasks"]["nodes"]
    assert found == [{"title": "Call Acme", "assignee": {"email": "mia@example.com"}}]
    others = admin(
        '{ tasks(filter: {not: {assignee: {or: [{email: {startsWith: "mia"}}, '
        '{name: {eq: "nobody"}}]}}}) { nodes { title } } }'
    )["tasks"]["nodes"]
    assert others == [{"title": "Visit Beta"}]
    error = admin.error('{ tasks(filter: {assignee: {id: {eq: "not-an-id"}}}) { totalCount } }')
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert error["extensions"]["errors"][0]["field"] == "filter.assignee.id.eq"
