"""Hostile definitions sent to ``/graphql`` (issue 10, point 25): BAD_DEFINITION, never a 500.

As a variable (Python's JSON parser reads NaN, Infinity, 1e999), as a literal
(GraphQL reads ``1e999`` as infinity), nested past the definition limit, and
of another kind than the mutation takes; a body the decoder cannot read at all
is a 400 with a GraphQL error body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin
from xrm.platform.settings import Settings

DEFINE = "mutation($d: JSON!) { defineEntityType(definition: $d) { name } }"
GAUGE = (
    '{"type": "object", "x-xrm": {"name": "gauge", "plural": "gauges"},'
    ' "properties": {"level": {"type": "number", "minimum": VALUE}}}'
)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def auth(db: Database) -> dict[str, str]:
    with db.write() as conn:
        return {
            "Authorization": f"Bearer {create_token(conn, first_admin(conn))}",
            "Content-Type": "application/json",
        }


def send(client: TestClient, auth: dict[str, str], body: str) -> tuple[int, Any]:
    response = client.post("/graphql", content=body.encode(), headers=auth)
    return response.status_code, response.json()


def define(client: TestClient, auth: dict[str, str], definition: str) -> Any:
    body = '{"query": QUERY, "variables": {"d": DEFINITION}}'
    body = body.replace("QUERY", json.dumps(DEFINE)).replace("DEFINITION", definition)
    status, answer = send(client, auth, body)
    assert status == 200, answer
    return answer


def nothing_stored(registry: Registry) -> None:
    assert registry.current().types == {}


@pytest.mark.parametrize("spelled", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_finite_number_in_a_variable_is_bad_definition(
    client: TestClient, auth: dict[str, str], registry: Registry, spelled: str
) -> None:
    answer = define(client, auth, GAUGE.replace("VALUE", spelled))
    error = answer["errors"][0]
    assert error["extensions"]["code"] == "BAD_DEFINITION"
    assert error["extensions"]["errors"][0]["field"] == "properties.level.minimum"
    nothing_stored(registry)


def test_a_non_finite_number_in_a_literal_is_bad_definition(
    client: TestClient, auth: dict[str, str], registry: Registry
) -> None:
    literal = '{type: "object", x_xrm: 1, properties: {level: {type: "number", minimum: 1e999}}}'
    query = "mutation { defineEntityType(definition: " + literal + ") { name } }"
    status, answer = send(client, auth, json.dumps({"query": query}))
    assert status == 200
    error = answer["errors"][0]
    assert error["extensions"]["code"] == "BAD_DEFINITION"
    assert error["extensions"]["errors"][0]["field"] == "properties.level.minimum"
    nothing_stored(registry)


@pytest.mark.parametrize("depth", [150, 500, 900])
def test_nesting_past_the_limit_is_bad_definition(
    client: TestClient, auth: dict[str, str], registry: Registry, depth: int
) -> None:
    deep = "[" * depth + "]" * depth
    answer = define(
        client,
        auth,
        '{"type": "object", "x-xrm": {"name": "gauge", "plural": "gauges", "label": '
        + deep
        + '}, "properties": {}}',
    )
    error = answer["errors"][0]
    assert error["extensions"]["code"] == "BAD_DEFINITION"
    assert error["extensions"]["errors"] == [
        {"field": "x-xrm.label.0.0.…", "message": "nested more than 100 levels deep"}
    ]
    assert len(error["message"]) < 200  # the message names the place, not the whole value
    nothing_stored(registry)


@pytest.mark.parametrize(
    "body",
    [
        '{"query": "{ __typename }", "variables": {"d": %s}}' % ("[" * 5000 + "]" * 5000),
        '{"query": "{ __typename }", "variables": {"d": %s}}' % ("7" * 5000),
    ],
    ids=["nested 5000 deep", "an integer of 5000 digits"],
)
def test_a_body_the_decoder_cannot_read_is_a_400_graphql_error(
    client: TestClient, auth: dict[str, str], body: str
) -> None:
    status, answer = send(client, auth, body)
    assert status == 400
    assert answer["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    "definition",
    [
        {"role": "clerk", "admin": ["manage_users"]},
        {
            "relationship": "links",
            "from": "a",
            "to": "b",
            "fromField": "bs",
            "toField": "as",
        },
    ],
    ids=["role", "relationship"],
)
def test_another_kind_sent_to_define_entity_type_is_bad_definition(
    client: TestClient, auth: dict[str, str], registry: Registry, definition: dict[str, Any]
) -> None:
    """The fault names the kind marker that gave the definition away."""
    answer = define(client, auth, json.dumps(definition))
    error = answer["errors"][0]
    assert error["extensions"]["code"] == "BAD_DEFINITION", answer
    kind = next(iter(definition))
    fault = error["extensions"]["errors"][0]
    assert fault["field"] == kind, answer
    assert "defineEntityType" in fault["message"] or kind in fault["message"], answer
    assert registry.current().roles == {}
    nothing_stored(registry)
