"""GraphQL over HTTP details the graphql-http audit (tests/e2e) does not check or only advises."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from xrm.api.view import GRAPHQL_RESPONSE, JSON, negotiate
from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin
from xrm.platform.settings import Settings


@pytest.fixture
def client(settings: Settings, registry: Registry) -> Iterator[TestClient]:
    registry.apply(definitions())
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def auth(db: Database) -> dict[str, str]:
    with db.write() as conn:
        return {"Authorization": f"Bearer {create_token(conn, first_admin(conn))}"}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("text/plain", JSON),  # nothing supported: the default
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON}", GRAPHQL_RESPONSE),
        (f"{JSON}, {GRAPHQL_RESPONSE}", JSON),
        (f"{JSON};q=0.9, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0, */*", JSON),
        (f"*/*, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
    ],
)
def test_the_response_media_type_follows_accept(accept: str | None, expected: str) -> None:
    assert negotiate(accept) == expected


def test_a_mutation_over_get_is_405_even_without_a_token(
    client: TestClient, auth: dict[str, str]
) -> None:
    query = 'mutation { createTask(input: {title: "x"}) { id } }'
    for headers in ({}, auth):
        response = client.get("/graphql", params={"query": query}, headers=headers)
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == "POST"
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    count = client.get("/graphql", params={"query": "{ tasks { totalCount } }"}, headers=auth)
    assert count.status_code == 200
    assert count.json() == {"data": {"tasks": {"totalCount": 0}}}


@pytest.mark.parametrize(
    "body",
    [
        b"1",
        b"null",
        b'"{ __typename }"',
        b"{",
        b"",
        b'[{"query": "{ __typename }"}]',
        b'{"query": 1}',
        b'{"query": "{ __typename }", "operationName": 5}',
        b'{"query": "{ __typename }", "variables": [1]}',
        b'{"query": "{ __typename }", "extensions": "x"}',
        b'{"variables": {}}',
        # Lone surrogates: JSON spells them, but they are no characters (found by the fuzzer:
        # internal errors on every path a string reaches the database by).
        b'{"query": "query($x: String) { tasks(filter: {title: {eq: $x}}) { totalCount } }",'
        b' "variables": {"x": "a\\ud800"}}',
        b'{"query": "{ tasks(filter: {title: {eq: \\"\\udfff\\"}}) { totalCount } }"}',
        b'{"query": "{ __typename }", "variables": {"\\ud800": [{"x": "\\uDC00"}]}}',
    ],
)
def test_a_malformed_request_is_400_with_a_graphql_error_body(
    client: TestClient, auth: dict[str, str], body: bytes
) -> None:
    for accept in (JSON, GRAPHQL_RESPONSE):
        response = client.post(
            "/graphql",
            content=body,
            headers={**auth, "Content-Type": "application/json", "Accept": accept},
        )
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == accept
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_a_surrogate_pair_spelled_in_json_is_the_character_it_spells(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = b'{"query": "mutation($t: String!) { createTask(input: {title: $t}) { title } }",'
    body += b' "variables": {"t": "\\ud83d\\ude42"}}'
    response = client.post(
        "/graphql", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.json() == {"data": {"createTask": {"title": "\U0001f642"}}}


def test_a_body_that_is_not_json_is_415(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/graphql",
        content=b"{ __typename }",
        headers={**auth, "Content-Type": "application/graphql"},
    )
    assert response.status_code == 415, response.text


def test_request_errors_are_4xx_without_data_only_for_graphql_response_json(
    client: TestClient, auth: dict[str, str]
) -> None:
    def post(query: str, accept: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
        response = client.post(
            "/graphql", json={"query": query}, headers={**headers, "Accept": accept}
        )
        assert response.headers["content-type"] == accept
        return response.status_code, response.json()

    for query in ("{", "{ noSuchField }"):
        status, body = post(query, GRAPHQL_RESPONSE, auth)
        assert status == 400 and "data" not in body and body["errors"], body
        status, body = post(query, JSON, auth)
        assert status == 200 and body["data"] is None and body["errors"], body
    status, body = post("{ tasks { totalCount } }", GRAPHQL_RESPONSE, {})
    assert status == 401 and "data" not in body, body
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"  # type: ignore[index]
    status, body = post("{ tasks { totalCount } }", JSON, {})
    assert status == 200 and body["data"] is None, body
    status, body = post("{ tasks { totalCount } }", GRAPHQL_RESPONSE, auth)
    assert status == 200 and body == {"data": {"tasks": {"totalCount": 0}}}, body


def test_a_variable_of_the_wrong_shape_is_the_callers_error_naming_the_field(
    client: TestClient, auth: dict[str, str]
) -> None:
    query = "mutation($i: ContractInput!) { createContract(input: $i) { id } }"
    response = client.post(
        "/graphql",
        json={"query": query, "variables": {"i": {"title": "Deal", "customer": "x"}}},
        headers=auth,
    )
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}
    assert any("customerId" in e["message"] for e in errors)
    assert "internal" not in response.text
