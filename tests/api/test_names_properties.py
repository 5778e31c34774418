"""Property: whatever a definition is named, it is refused, or served under its own names.

Hypothesis generates entity types one after another on one database: names
sensible and hostile (the API's own type and field names in snake_case,
keywords, underscore and digit variants of names already taken, unicode,
capitals, names past 40 characters), plurals, properties (variants of each
other, filter keywords, reserved words) and references with inverse names.
Each definition is applied through ``defineEntityType`` over HTTP. Then:

- it is either refused with ``BAD_DEFINITION`` (and the catalog is unchanged),
  or accepted; never another error;
- a definition whose object type would be one of the API's own, or another
  stored type's, is refused (the model);
- after every step the schema of the stored catalog builds (no stand-in), and
  every stored type is reachable by its own generated names: its object type
  with a field per property, its list, its aggregate and its create mutation,
  all answering over HTTP without an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from graphql import GraphQLNonNull, GraphQLObjectType, get_named_type
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from xrm.api.schema import build_schema
from xrm.app import create_app
from xrm.entities.registry import VERSION_KEY, Registry, read_version
from xrm.platform import tables as platform
from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin
from xrm.platform.settings import Settings
from xrm.schemas.graphql_names import API_FIELDS, API_TYPES, EntityNames
from xrm.schemas.naming import camel, snake

DEFINE = "mutation($d: JSON!) { defineEntityType(definition: $d) { name } }"

API_SNAKE = sorted({snake(n) for n in API_TYPES} | {snake(n) for n in API_FIELDS})
HOSTILE = [
    *API_SNAKE,
    "query",
    "mutation",
    "subscription",
    "entity_types",
    "roles",
    "relationships",
    "workflows",
    "and",
    "or",
    "not",
    "id",
    "json",
    "owner_id",
    "user",
    "role",
    "a",
    "a_1",
    "a1",
    "a_1_b",
    "a1_b",
    "a1b",
    "item_2",
    "item2",
    "item_edge",
    "items_aggregate",
    "x" * 40,
    "x" * 41,
    "이름",
    "ñame",
    "Item",
    "item_",
    "_item",
    "item__2",
    "",
]
sensible = st.from_regex(r"[a-z][a-z0-9]{0,5}(_[a-z0-9]{1,3}){0,2}", fullmatch=True)


def variants(name: str) -> list[str]:
    """Underscore and digit spellings that camel-case alike (``a_1`` -> ``a1``)."""
    return [name.replace("_", ""), name + "_2", name + "2", name + "_edge", name + "s_aggregate"]


@st.composite
def names(draw: st.DrawFn, taken: list[str]) -> str:
    choice = draw(st.integers(0, 9))
    if choice < 4:
        return draw(sensible)
    if choice < 7 or not taken:
        return draw(st.sampled_from(HOSTILE))
    return draw(st.sampled_from(variants(draw(st.sampled_from(taken)))))


@st.composite
def definitions(draw: st.DrawFn, taken: list[str]) -> dict[str, Any]:
    name = draw(names(taken))
    plural = draw(
        st.one_of(st.just(name + "s"), names(taken), st.just(name.replace("_", "") + "s"))
    )
    properties: dict[str, Any] = {}
    for prop in draw(st.lists(names([]), max_size=4)):
        properties[prop] = {"type": draw(st.sampled_from(["string", "integer", "boolean"]))}
    if taken and draw(st.booleans()):
        target = draw(st.sampled_from(taken))
        ref: dict[str, Any] = {"entity": target}
        if draw(st.booleans()):
            ref["inverse"] = draw(names(taken))
        properties[draw(names([]))] = {"type": "string", "x-xrm-ref": ref}
    return {"type": "object", "x-xrm": {"name": name, "plural": plural}, "properties": properties}


@pytest.fixture
def setup(
    settings: Settings, registry: Registry, db: Database
) -> Iterator[tuple[TestClient, dict]]:
    with db.write() as conn:
        auth = {"Authorization": f"Bearer {create_token(conn, first_admin(conn))}"}
    with TestClient(create_app(settings)) as client:
        yield client, auth


def check_reachable(registry: Registry, client: TestClient, auth: dict[str, str]) -> None:
    catalog = registry.current()
    schema = build_schema(catalog).graphql  # raises on any clash: no stand-in allowed here
    objects: dict[str, str] = {}
    query, mutation = schema.query_type, schema.mutation_type
    assert query is not None and mutation is not None
    selections = []
    for et in catalog.types.values():
        names_ = EntityNames.of(et.name, et.plural)
        assert objects.setdefault(names_.object, et.name) == et.name
        obj = schema.type_map[names_.object]
        assert isinstance(obj, GraphQLObjectType) and obj.name == names_.object
        for prop in et.properties.values():
            assert camel(prop.name) in obj.fields, (et.name, prop.name)
        listed = query.fields[names_.many].type
        assert isinstance(listed, GraphQLNonNull)
        nodes = get_named_type(listed).fields["nodes"].type  # type: ignore[union-attr]
        assert get_named_type(nodes) is obj
        assert get_named_type(query.fields[names_.one].type) is obj
        assert names_.aggregate in query.fields
        assert get_named_type(mutation.fields[names_.create].type) is obj
        assert get_named_type(mutation.fields[names_.create].args["input"].type).name == (
            names_.input
        )
        selections.append(f"{names_.many}(first: 1) {{ totalCount nodes {{ id }} }}")
    if selections:
        response = client.post(
            "/graphql", json={"query": "{ " + " ".join(selections) + " }"}, headers=auth
        )
        assert response.status_code == 200 and "errors" not in response.json(), response.text


def forget_types(registry: Registry) -> None:
    """Start an example on an empty catalog: drop every entity table and stored type.

    Each example must start from the same state (Hypothesis replays them), and
    a fresh database per example would cost a migration each on PostgreSQL.
    """
    db = registry.db
    with db.engine.connect() as conn:
        if db.is_sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        with conn.begin():
            for table in sa.inspect(conn).get_table_names():
                if table.startswith(("e_", "r_")):
                    cascade = "" if db.is_sqlite else " CASCADE"
                    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"{cascade}')
            conn.execute(platform.relationships.delete())
            conn.execute(platform.entity_types.delete())
            version = read_version(conn)
            conn.execute(
                platform.state.update()
                .where(platform.state.c.key == VERSION_KEY)
                .values(value=str(version + 1))
            )
        if db.is_sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    assert registry.current().types == {}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_definition_is_refused_or_served_under_its_own_names(
    setup: tuple[TestClient, dict[str, str]], registry: Registry, data: st.DataObject
) -> None:
    client, auth = setup
    forget_types(registry)
    drawn: list[str] = []
    for _ in range(data.draw(st.integers(1, 4))):
        before = registry.current()
        definition = data.draw(definitions(drawn))
        drawn.append(definition["x-xrm"]["name"])
        response = client.post(
            "/graphql", json={"query": DEFINE, "variables": {"d": definition}}, headers=auth
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        name = definition["x-xrm"]["name"]
        object_name = EntityNames.of(name, "x").object
        event("refused" if "errors" in answer else "accepted")
        if "errors" in answer:
            codes = {e["extensions"]["code"] for e in answer["errors"]}
            assert codes == {"BAD_DEFINITION"}, answer
            assert registry.current().version == before.version
        else:
            assert answer["data"] == {"defineEntityType": {"name": name}}
            others = {EntityNames.of(n, "x").object for n in before.types if n != name}
            assert object_name not in API_TYPES, definition
            assert object_name not in others, definition
            # The new type answers its own create mutation.
            names_ = EntityNames.of(name, definition["x-xrm"]["plural"])
            created = client.post(
                "/graphql",
                json={"query": f"mutation {{ {names_.create}(input: {{}}) {{ id }} }}"},
                headers=auth,
            )
            assert "errors" not in created.json(), created.text
        check_reachable(registry, client, auth)
