"""Building the GraphQL schema: complete for big catalogs, linear in their size, once per version.

Issue #3 set a bar of 3 s for a cold build of 200 entity types of 20 fields
and 1 s for a changed catalog; the tests here used to time exactly that, and
failed whenever the machine was busy (issue 10, point 32). What the bar
protects is asserted instead, without a clock: the build is complete; its
work grows in proportion to the catalog (counted in Python calls, which do
not depend on the machine's load); and a changed catalog is built once, by
one request, while the others wait for it rather than build their own. The
speed itself is bench/'s business.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from xrm.api import schema_cache
from xrm.api.schema import GeneratedSchema, build_schema
from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.catalog_state import Catalog, build_catalog
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin
from xrm.platform.settings import Settings
from xrm.schemas.parse import parse_entity_type

KINDS: list[dict[str, Any]] = [
    {"type": "string", "maxLength": 80},
    {"type": "integer"},
    {"type": "string", "format": "decimal"},
    {"type": "string", "format": "date"},
    {"type": "boolean"},
    {"type": "string", "enum": ["new", "open", "closed"]},
    {"type": "string", "format": "email"},
]


def big_catalog(version: int, types: int = 200, fields: int = 20) -> Catalog:
    """``types`` entity types of ``fields`` properties, each referring to the one before."""
    parsed = {}
    for t in range(types):
        properties: dict[str, Any] = {f"f{f}": KINDS[f % len(KINDS)] for f in range(fields - 1)}
        if t:
            properties["prev"] = {
                "type": "string",
                "x-xrm-ref": {"entity": f"kind{t - 1}", "inverse": f"next{t}"},
            }
        else:
            properties["f_last"] = {"type": "string"}
        definition = {
            "type": "object",
            "title": f"Kind {t}",
            "x-xrm": {"name": f"kind{t}", "plural": f"kinds{t}"},
            "properties": properties,
        }
        parsed[f"kind{t}"] = parse_entity_type(definition)
    return build_catalog(version, parsed, {}, "US")


def calls_to(work: Callable[[], Any]) -> int:
    """How many Python and C function calls ``work`` makes: its cost, free of the clock."""
    count = 0

    def profile(_frame: Any, event: str, _arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return count


def test_a_cold_build_of_200_types_of_20_fields_has_every_type_and_field() -> None:
    schema = build_schema(big_catalog(1))
    fields = schema.graphql.query_type.fields  # type: ignore[union-attr]
    assert {"kind0", "kinds0", "kind199", "kinds199Aggregate"} <= set(fields)
    kind199 = schema.graphql.get_type("Kind199")
    assert len(kind199.fields) >= 20  # type: ignore[union-attr]
    assert {"prev", "prevId"} <= set(kind199.fields)  # type: ignore[union-attr]
    mutations = schema.graphql.mutation_type.fields  # type: ignore[union-attr]
    assert {"createKind199", "createKinds199", "updateKind199", "deleteKind199"} <= set(mutations)


def test_the_build_grows_in_proportion_to_the_catalog() -> None:
    """Ten times the types costs about ten times the work, not a hundred (a quadratic step)."""
    small, large = big_catalog(1, types=20), big_catalog(2, types=200)
    build_schema(small)  # first-use costs (imports, caches) are not the catalog's
    small_cost = calls_to(lambda: build_schema(small))
    large_cost = calls_to(lambda: build_schema(large))
    assert large_cost < 15 * small_cost, (small_cost, large_cost)


@pytest.fixture
def served(
    settings: Settings, registry: Registry, db: Database
) -> Iterator[tuple[TestClient, str]]:
    registry.apply(definitions())
    with db.write() as conn:
        token = create_token(conn, first_admin(conn))
    with TestClient(create_app(settings)) as client:
        yield client, token


def test_a_changed_catalog_is_built_once_however_many_requests_arrive(
    served: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, token = served
    builds: list[int] = []

    def counted(catalog: Catalog) -> GeneratedSchema:
        builds.append(catalog.version)
        return build_schema(catalog)

    monkeypatch.setattr(schema_cache, "build_schema", counted)

    def ask(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body

    for _ in range(3):
        ask("{ customers { totalCount } }")
    assert len(builds) == 1  # built by the first request; nothing changed since
    note = {
        "type": "object",
        "x-xrm": {"name": "note", "plural": "notes"},
        "properties": {"body": {"type": "string"}},
    }
    ask("mutation($d: JSON!) { defineEntityType(definition: $d) { name } }", {"d": note})
    start = threading.Barrier(8)
    answers: list[dict[str, Any]] = []

    def one() -> None:
        start.wait()
        answers.append(ask("{ notes { totalCount } }"))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [{"data": {"notes": {"totalCount": 0}}}] * 8
    assert len(builds) == 2 and builds[1] > builds[0], builds
