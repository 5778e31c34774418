"""Property: a request is refused the same way however it is spelled, and only when it should be.

Hypothesis generates nested lists (``customers`` then ``relatedCustomers``
levels, each with or without ``first`` and a filter) and filters (``not``,
``and``, ``or``, relations, ``in`` lists, comparisons), and sends each request
spelled three ways: everything inline, everything in variables (over GET), and
a random mix. A model computes, independently of ``xrm.api.limits``, which
limits the request breaks (page, depth, cost, filter depth and width). Then:

- the three spellings get the same answer: refused with the same limit, or
  answered with the same data;
- a request the model finds over a limit is refused with one of those limits;
- a request within every limit is answered, without any error, on this database.

Small limits keep every request cheap, so the test runs in seconds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_token, first_admin
from xrm.platform.settings import Settings

LIMITS = {
    "graphql_max_depth": 9,
    "graphql_max_cost": 2_000,
    "default_page_size": 10,
    "max_page_size": 40,
    "graphql_max_filter_depth": 6,
    "graphql_max_filter_width": 30,
}

names = st.sampled_from(["Acme", "Beta", "Gamma", "x", "한빛"])
comparisons = st.one_of(
    st.builds(lambda v: {"name": {"eq": v}}, names),
    st.builds(lambda v: {"name": {"contains": v}}, names),
    st.builds(lambda vs: {"name": {"in": vs}}, st.lists(names, max_size=8)),
    st.builds(lambda vs: {"name": {"notIn": vs}}, st.lists(names, max_size=4)),
    st.just({"tier": {"eq": "gold"}}),
)
filters = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        st.builds(lambda f: {"not": f}, inner),
        st.builds(lambda fs: {"and": fs}, st.lists(inner, max_size=4)),
        st.builds(lambda fs: {"or": fs}, st.lists(inner, max_size=4)),
        st.builds(lambda f: {"contacts": {"some": {"customer": f}}}, inner),
    ),
    max_leaves=12,
)
# Mostly small pages, sometimes at or past the largest page (40).
small = st.integers(0, 12)
pages = st.one_of(st.none(), st.none(), small, small, small, st.sampled_from([40, 41]))
levels = st.lists(st.tuples(pages, st.none() | filters), min_size=1, max_size=5)


def literal(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + " ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + " ".join(literal(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def spell(asked: list[tuple[int | None, Any]], as_variable: list[bool]) -> tuple[str, dict]:
    """The query text and variables; ``as_variable`` says, per argument, how it is sent."""
    definitions_: list[str] = []
    variables: dict[str, Any] = {}
    choices = iter(as_variable)

    def argument(name: str, value: Any, type_: str) -> str:
        if next(choices):
            variable = f"v{len(definitions_)}"
            definitions_.append(f"${variable}: {type_}")
            variables[variable] = value
            return f"{name}: ${variable}"
        return f"{name}: {literal(value)}"

    inner = ""
    for index in reversed(range(len(asked))):
        first, filter_ = asked[index]
        arguments = []
        if filter_ is not None:
            arguments.append(argument("filter", filter_, "CustomerFilter"))
        if first is not None:
            arguments.append(argument("first", first, "Int"))
        field = "customers" if index == 0 else "relatedCustomers"
        shown = f"({', '.join(arguments)})" if arguments else ""
        inner = f"{field}{shown} {{ nodes {{ name {inner} }} }}"
    head = f"query({', '.join(definitions_)})" if definitions_ else "query"
    return f"{head} {{ {inner} }}", variables


def arguments_in(asked: list[tuple[int | None, Any]]) -> int:
    return sum((first is not None) + (filter_ is not None) for first, filter_ in asked)


def nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max((nesting(v) for v in value), default=0)
    return 0


def width(value: Any) -> int:
    if isinstance(value, dict):
        return sum(1 + width(v) for v in value.values())
    if isinstance(value, list):
        return sum(1 + width(v) for v in value)
    return 0


def broken(asked: list[tuple[int | None, Any]]) -> set[str]:
    """The limits the model says this request breaks."""
    out: set[str] = set()
    if any(first is not None and first > LIMITS["max_page_size"] for first, _ in asked):
        out.add("page")
    filters_ = [f for _, f in asked if f is not None]
    if any(nesting(f) > LIMITS["graphql_max_filter_depth"] for f in filters_):
        out.add("filterDepth")
    if sum(width(f) for f in filters_) > LIMITS["graphql_max_filter_width"]:
        out.add("filterWidth")
    if 2 * len(asked) + 1 > LIMITS["graphql_max_depth"]:
        out.add("depth")
    cost, records = 0, 1
    for first, _ in asked:
        records *= LIMITS["default_page_size"] if first is None else first
        cost += records
    if cost > LIMITS["graphql_max_cost"]:
        out.add("cost")
    return out


def outcome(body: dict[str, Any]) -> tuple[str, Any]:
    """("refused", limit) or ("answered", data); anything else fails the test."""
    errors = body.get("errors")
    if errors:
        assert len(errors) == 1 and body.get("data") is None, body
        extensions = errors[0]["extensions"]
        assert extensions["code"] == "LIMIT_EXCEEDED", body
        return "refused", extensions["limit"]
    return "answered", body["data"]


@pytest.fixture
def setup(
    settings: Settings, registry: Registry, db: Database, catalog_service: Any, admin: Actor
) -> Iterator[tuple[TestClient, str]]:
    with catalog_service.session(admin) as session:
        made = [session.create("customer", {"name": n, "tier": "gold"}) for n in ("Acme", "Beta")]
        session.link("customer_relations", made[0]["id"], made[1]["id"])
        session.link("customer_relations", made[1]["id"], made[0]["id"])
        session.create("contact", {"full_name": "Kim", "customer": made[0]["id"]})
    with db.write() as conn:
        token = create_token(conn, first_admin(conn))
    with TestClient(create_app(dataclasses.replace(settings, **LIMITS))) as client:
        yield client, token


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(asked=levels, data=st.data())
def test_limits_refuse_identically_however_a_request_is_spelled(
    setup: tuple[TestClient, str], asked: list[tuple[int | None, Any]], data: st.DataObject
) -> None:
    client, token = setup
    headers = {"Authorization": f"Bearer {token}"}
    count = arguments_in(asked)
    mixed = data.draw(st.lists(st.booleans(), min_size=count, max_size=count))
    bodies = []
    query, variables = spell(asked, [False] * count)
    assert variables == {}
    bodies.append(client.post("/graphql", json={"query": query}, headers=headers).json())
    query, variables = spell(asked, [True] * count)
    params = {"query": query, "variables": json.dumps(variables)}
    bodies.append(client.get("/graphql", params=params, headers=headers).json())
    query, variables = spell(asked, mixed)
    bodies.append(
        client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        ).json()
    )
    outcomes = [outcome(body) for body in bodies]
    assert outcomes[0] == outcomes[1] == outcomes[2], (asked, outcomes)
    kind, detail = outcomes[0]
    expected = broken(asked)
    if expected:
        assert kind == "refused" and detail in expected, (asked, expected, outcomes[0])
    else:
        assert kind == "answered", (asked, outcomes[0])
