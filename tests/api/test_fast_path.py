"""The fast path answers exactly what standard execution answers, and is really taken.

Every query here runs twice against the demo data, with the fast path on and
off, and the two responses must be equal (data and errors). For the plain
ones the test also checks the fast path produced the answer, so a fast path
that silently always fell back would fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from plain_queries import SHARED_PLAIN, post
from starlette.testclient import TestClient

from xrm.api import fast
from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.demo import load_demo
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, create_user, first_admin
from xrm.platform.settings import Settings

ROLE = {
    "role": "limited",
    "entities": {
        "customer": {"read": "own", "fields": {"revenue": "hidden"}},
        "contact": {"read": "all"},
    },
}

CUSTOMERS = """query($first: Int, $after: String) {
  customers(first: $first, after: $after, orderBy: [{tier: DESC}, {name: ASC}]) {
    __typename totalCount pageInfo { hasNextPage endCursor }
    nodes { __typename id name email phone tier revenue since tags employeeCount website
            createdAt updatedAt version partnerId partner { name commissionRate since }
            owner { id email name } createdBy { email } updatedBy { email }
            contacts(first: 2, orderBy: [{fullName: ASC}]) {
              totalCount pageInfo { hasNextPage } nodes { fullName isPrimary phone } } } } }"""

PLAIN: list[tuple[str, dict[str, Any]]] = [
    (CUSTOMERS, {"first": 7}),
    (CUSTOMERS, {"first": 500}),
    (
        """{ contracts(first: 6, orderBy: [{number: ASC}]) { edges { cursor
             node { number title value startDate autoRenew customer { name tier }
               contacts { totalCount edges { cursor attributes node { fullName email } } }
               assets(first: 1) { edges { attributes node { name value purchaseDate } } }
             } } } }""",
        {},
    ),
    (
        """{ customers(first: 3) { nodes { name history { action actor version changes } } } }""",
        {},
    ),
    (  # one relation under nodes and under edges.node, with different fields
        """{ contacts(first: 3, orderBy: [{fullName: ASC}]) {
             nodes { fullName customer { email } contracts(first: 2) { nodes { title } } }
             edges { node { customer { phone } contracts(first: 2) { nodes { status } } } } } }""",
        {},
    ),
]
PLAIN += SHARED_PLAIN

FALLBACK: list[tuple[str, dict[str, Any]]] = [
    ("{ customers(first: 2) { ...C } } fragment C on CustomerConnection { totalCount }", {}),
    ("query($x: Boolean!) { customers { totalCount @include(if: $x) } }", {"x": True}),
    ('{ customersAggregate(groupBy: ["tier"]) { group count } }', {}),
    ("{ entityTypes { name } }", {}),
    ("{ __schema { queryType { name } } }", {}),
    ('{ customers(filter: {since: {gt: "not a date"}}) { totalCount } }', {}),
    ('{ customers(first: 1, after: "forged") { totalCount } }', {}),
    ("{ customers(first: 1) { nodes { name } nodes { email } } }", {}),
]


@pytest.fixture
def client(
    settings: Settings, registry: Registry, service: RecordService, db: Database
) -> Iterator[TestClient]:
    registry.apply([*definitions(), ROLE])
    with db.write() as conn:
        admin = first_admin(conn)
    load_demo(service, admin)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def tokens(db: Database) -> dict[str, str]:
    with db.write() as conn:
        limited = create_user(conn, "lim@example.com", ("limited",))
        return {
            "admin": create_token(conn, first_admin(conn)),
            "limited": create_token(conn, limited),
        }


def both_ways(
    client: TestClient, token: str, query: str, variables: dict[str, Any], monkeypatch: Any
) -> tuple[Any, Any, int]:
    answered = []
    real_run = fast.run

    def counting(*args: Any, **kwargs: Any) -> Any:
        data = real_run(*args, **kwargs)
        answered.append(data is not None)
        return data

    monkeypatch.setattr(fast, "run", counting)
    quick = post(client, token, query, variables)
    schema = client.app.state.graphql.schemas._schema  # type: ignore[attr-defined]
    schema.fast_path = False
    try:
        slow = post(client, token, query, variables)
    finally:
        schema.fast_path = True
        monkeypatch.setattr(fast, "run", real_run)
    # Equal including the order of keys: responses follow the selection's order.
    assert json.dumps(quick, ensure_ascii=False) == json.dumps(slow, ensure_ascii=False)
    return quick, slow, sum(answered)


def test_plain_queries_take_the_fast_path_and_answer_the_same(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = tokens(db)["admin"]
    for query, variables in PLAIN:
        quick, slow, fast_answers = both_ways(client, admin, query, variables, monkeypatch)
        assert "errors" not in slow, slow
        assert quick == slow, query
        assert fast_answers == 1, f"the fast path did not answer:\n{query}"
    # Paging through with cursors made by the fast path.
    first = post(client, admin, CUSTOMERS, {"first": 3})["data"]["customers"]
    cursor = first["pageInfo"]["endCursor"]
    quick, slow, fast_answers = both_ways(
        client, admin, CUSTOMERS, {"first": 3, "after": cursor}, monkeypatch
    )
    assert quick == slow and fast_answers == 1
    assert {n["id"] for n in quick["data"]["customers"]["nodes"]}.isdisjoint(
        {n["id"] for n in first["nodes"]}
    )


def test_everything_else_falls_back_and_answers_the_same(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = tokens(db)["admin"]
    for query, variables in FALLBACK:
        quick, slow, fast_answers = both_ways(client, admin, query, variables, monkeypatch)
        assert quick == slow, query
        assert fast_answers == 0, f"the fast path answered what it should not:\n{query}"


def test_hidden_fields_and_scopes_answer_the_same(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = tokens(db)["limited"]
    hidden = """{ customers { totalCount nodes { name revenue } }
                  contacts(first: 5) { nodes { fullName customer { name revenue } } } }"""
    quick, slow, fast_answers = both_ways(client, limited, hidden, {}, monkeypatch)
    assert quick == slow
    visible = """{ contacts(first: 5, orderBy: [{fullName: ASC}]) {
                   nodes { fullName customer { name } } } }"""
    quick, slow, fast_answers = both_ways(client, limited, visible, {}, monkeypatch)
    assert quick == slow and fast_answers == 1
    assert all(n["customer"] is None for n in quick["data"]["contacts"]["nodes"])  # owns none
    forbidden = "{ partners { totalCount } }"
    quick, slow, fast_answers = both_ways(client, limited, forbidden, {}, monkeypatch)
    assert quick == slow and quick["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_plain_query_reads_only_the_columns_it_selects(client: TestClient, db: Database) -> None:
    """Columns nobody asked for are never read (converting them was most of a large list)."""
    admin = tokens(db)["admin"]
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    query = """{ customers(first: 5, orderBy: [{since: DESC}]) { pageInfo { endCursor }
        nodes { name partner { name } contacts(first: 2) { nodes { fullName } } } } }"""
    sa.event.listen(sa.Engine, "before_cursor_execute", record)  # the app has its own engine
    try:
        body = post(client, admin, query, {})
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    assert "errors" not in body and body["data"]["customers"]["nodes"], body
    reads = [s for s in sent if "e_customer" in s or "e_contact" in s or "e_partner" in s]
    assert reads, sent
    for unselected in ("revenue", "employee_count", "job_title", "commission_rate"):
        assert not any(unselected in s for s in reads), unselected
