"""A definition whose GraphQL names clash never takes the API down (issue 10, points 7 and 9).

Over HTTP: defining such a type is BAD_DEFINITION and the API keeps answering;
and a catalog stored around the check (as an older release, or another
process of one, would have stored it) is served without the definitions that
clash, or by the last good schema, with the reason in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities import registry as registry_module
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin
from xrm.platform.settings import Settings
from xrm.schemas import parse

DEFINE = "mutation($d: JSON!) { defineEntityType(definition: $d) { name } }"


def entity(name: str, plural: str | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "x-xrm": {"name": name, "plural": plural or f"{name}s"},
        "properties": {"title": {"type": "string"}},
    }


@pytest.fixture
def auth(db: Database) -> dict[str, str]:
    with db.write() as conn:
        return {"Authorization": f"Bearer {create_token(conn, first_admin(conn))}"}


@pytest.fixture
def client(settings: Settings, registry: Registry) -> Iterator[TestClient]:
    registry.apply([entity("note")])
    with TestClient(create_app(settings)) as client:
        yield client


def post(client: TestClient, auth: dict[str, str], query: str, **variables: Any) -> Any:
    response = client.post("/graphql", json={"query": query, "variables": variables}, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


def store_unchecked(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, *definitions: dict[str, Any]
) -> None:
    """Store ``definitions`` as a release without the GraphQL name check would have."""
    with monkeypatch.context() as patch:
        patch.setattr(parse, "clashes", lambda *args, **kwargs: [])
        patch.setattr(registry_module, "admit", lambda definition: None)
        registry.apply(list(definitions))


def works(client: TestClient, auth: dict[str, str], plural: str) -> bool:
    answer = post(client, auth, f"{{ {plural} {{ totalCount }} }}")
    return answer.get("data") == {plural: {"totalCount": 0}}


@pytest.mark.parametrize(
    ("name", "plural"),
    [
        ("query", "queries"),
        ("mutation", "mutations"),
        ("date", "dates"),
        ("decimal", "decimals"),
        ("boolean", "booleans"),
        ("int", "ints"),
        ("float", "floats"),
        ("string", "strings"),
        ("sort_direction", "sort_directions"),
        ("string_comparison", "string_comparisons"),
        ("note_edge", "note_edges"),
        ("entity", "entity_types"),
    ],
)
def test_defining_a_type_that_clashes_is_bad_definition_and_the_api_keeps_answering(
    client: TestClient, auth: dict[str, str], name: str, plural: str
) -> None:
    answer = post(client, auth, DEFINE, d=entity(name, plural))
    error = answer["errors"][0]
    assert error["extensions"]["code"] == "BAD_DEFINITION", answer
    assert error["extensions"]["errors"][0]["field"] in ("x-xrm.name", "x-xrm.plural")
    assert works(client, auth, "notes")
    assert post(client, auth, "{ entityTypes { name } }")["data"] == {
        "entityTypes": [{"name": "note"}]
    }


def test_properties_that_clash_in_camel_case_are_bad_definition_over_http(
    client: TestClient, auth: dict[str, str]
) -> None:
    definition = entity("memo")
    definition["properties"] = {"a_1": {"type": "string"}, "a1": {"type": "string"}}
    error = post(client, auth, DEFINE, d=definition)["errors"][0]
    assert error["extensions"]["code"] == "BAD_DEFINITION"
    assert error["extensions"]["errors"] == [
        {
            "field": "properties.a1",
            "message": "'a1' on 'memo' becomes the GraphQL field 'a1', as property 'a_1' does",
        }
    ]


def test_a_clashing_type_stored_behind_the_api_is_left_out_and_the_rest_served(
    client: TestClient,
    auth: dict[str, str],
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert works(client, auth, "notes")
    store_unchecked(registry, monkeypatch, entity("query", "queries"), entity("task"))
    with caplog.at_level(logging.ERROR, logger="xrm.api"):
        assert works(client, auth, "notes")
        assert works(client, auth, "tasks")  # the change that came with it is served
        assert works(client, auth, "notes")
    logged = [r.getMessage() for r in caplog.records]
    assert any("cannot be built" in m and "'Query'" in m for m in logged), logged
    assert any("served without query" in m for m in logged), logged
    assert sum("cannot be built" in m for m in logged) == 1  # once per version, not per request
    assert "queries" not in str(
        post(client, auth, "{ __schema { queryType { fields { name } } } }")
    )


def test_of_two_types_that_clash_the_one_already_served_stays(
    client: TestClient,
    auth: dict[str, str],
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry.apply([entity("item_2")])
    assert works(client, auth, "item2s")
    store_unchecked(registry, monkeypatch, entity("item2", "item_twos"))
    with caplog.at_level(logging.ERROR, logger="xrm.api"):
        assert works(client, auth, "item2s")  # item_2, as it was served
        assert works(client, auth, "notes")
        assert not works(client, auth, "itemTwos")
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "'Item2'" in logged and "served without item2;" in logged
    # Later changes are served as usual meanwhile.
    registry.apply([entity("later")])
    assert works(client, auth, "laters")
    assert works(client, auth, "item2s")


def test_the_api_starts_on_a_stored_catalog_that_cannot_build(
    settings: Settings,
    registry: Registry,
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry.apply([entity("note")])
    store_unchecked(registry, monkeypatch, entity("item_2"), entity("item2"), entity("date"))
    # serving=True builds the schema at start-up, as `xrm serve` does.
    with (
        caplog.at_level(logging.ERROR, logger="xrm.api"),
        TestClient(create_app(settings, serving=True)) as client,
    ):
        assert works(client, auth, "notes")
        answer = post(client, auth, "{ item2s { totalCount } }")
        assert answer["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        # Definitions can still be read and changed, to fix the catalog.
        assert post(client, auth, DEFINE, d=entity("memo"))["data"] == {
            "defineEntityType": {"name": "memo"}
        }
        assert works(client, auth, "memos")
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "served without date, item2, item_2" in logged
