"""Each define mutation takes only its own kind of definition, behind the right that kind needs.

Issue 10, point 8: a user whose role grants only ``define_types`` sent a role
(granting ``manage_users``) to ``defineEntityType``; the answer was an internal
error, but the role was stored and the user's next ``defineRole`` went through.
Now a definition of another kind is ``BAD_DEFINITION`` naming the mutation it
belongs to, refused before anything is parsed or stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_graphql import Api

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.errors import DefinitionError
from xrm.platform import tables as platform
from xrm.platform.access import Permissions
from xrm.platform.db import Database
from xrm.platform.identity import create_token, create_user, find_user, first_admin
from xrm.platform.settings import Settings

DESIGNER: dict[str, Any] = {"role": "designer", "admin": ["define_types"]}
KEEPER: dict[str, Any] = {"role": "keeper", "admin": ["manage_users"]}
# The escalation: the designer's own role, now with every right.
ESCALATED: dict[str, Any] = {
    "role": "designer",
    "admin": ["define_types", "define_workflows", "manage_users", "erase_records"],
    "entities": {"*": {"read": "all", "create": "all", "update": "all", "delete": "all"}},
}
TICKET: dict[str, Any] = {
    "type": "object",
    "x-xrm": {"name": "ticket", "plural": "tickets"},
    "properties": {"title": {"type": "string"}},
}
WATCHERS: dict[str, Any] = {
    "relationship": "ticket_watchers",
    "from": "customer",
    "to": "contact",
    "fromField": "watchers",
    "toField": "watched",
}
MUTATIONS = {
    "defineEntityType": "mutation($d: JSON!) { defineEntityType(definition: $d) { name } }",
    "defineRelationship": "mutation($d: JSON!) { defineRelationship(definition: $d) { name } }",
    "defineRole": "mutation($d: JSON!) { defineRole(definition: $d) { name } }",
}


@pytest.fixture
def client(settings: Settings, registry: Registry) -> Iterator[TestClient]:
    registry.apply([*definitions(), DESIGNER, KEEPER])
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def apis(client: TestClient, db: Database) -> dict[str, Api]:
    with db.write() as conn:
        out = {"admin": Api(client, create_token(conn, first_admin(conn)))}
        for email, role in (("dee@example.com", "designer"), ("kim@example.com", "keeper")):
            user = create_user(conn, email, (role,))
            out[email.split("@")[0]] = Api(client, create_token(conn, user))
    return out


def stored(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored definition, the schema version and the audit trail's length."""
    with db.read() as conn:
        out = {
            name: sorted(
                (r["name"], r["version"], repr(r["definition"]))
                for r in conn.execute(sa.select(table)).mappings()
            )
            for name, table in (
                ("roles", platform.roles),
                ("types", platform.entity_types),
                ("relationships", platform.relationships),
            )
        }
        out["state"] = sorted(tuple(r) for r in conn.execute(sa.select(platform.state)))
        count = conn.execute(sa.select(sa.func.count()).select_from(platform.audit)).scalar()
        out["audit"] = [(count,)]
    return out


def rights(db: Database, registry: Registry, email: str) -> set[str]:
    with db.read() as conn:
        user = find_user(conn, email)
    assert user is not None
    permissions = Permissions.of(user, registry.current().roles)
    return {r for r in ("define_types", "manage_users", "erase_records") if permissions.may(r)}


@pytest.mark.parametrize("door", ["defineEntityType", "defineRelationship"])
def test_a_role_sent_to_a_type_door_is_refused_and_nothing_is_stored(
    apis: dict[str, Api], db: Database, registry: Registry, door: str
) -> None:
    before = stored(db)
    for role in (ESCALATED, {"role": "boss", "admin": ["manage_users"]}):
        error = apis["dee"].error(MUTATIONS[door], {"d": role})
        assert error["extensions"]["code"] == "BAD_DEFINITION", error
        assert error["extensions"]["errors"][0]["field"] == "role"
        assert "defineRole" in error["message"] and door in error["message"]
    assert stored(db) == before
    assert rights(db, registry, "dee@example.com") == {"define_types"}
    # And the designer's own door for roles stays shut.
    denied = apis["dee"].error(MUTATIONS["defineRole"], {"d": ESCALATED})
    assert denied["extensions"]["code"] == "FORBIDDEN"
    assert stored(db) == before


def test_each_kind_has_one_door_whatever_the_callers_rights(
    apis: dict[str, Api], db: Database
) -> None:
    before = stored(db)
    wrong = [
        ("defineEntityType", WATCHERS, "relationship", "defineRelationship"),
        ("defineRelationship", TICKET, "x-xrm", "defineEntityType"),
        ("defineRole", TICKET, "x-xrm", "defineEntityType"),
        ("defineRole", WATCHERS, "relationship", "defineRelationship"),
        ("defineEntityType", ESCALATED, "role", "defineRole"),
    ]
    for door, definition, field, belongs in wrong:
        error = apis["admin"].error(MUTATIONS[door], {"d": definition})
        assert error["extensions"]["code"] == "BAD_DEFINITION", (door, error)
        assert error["extensions"]["errors"][0]["field"] == field
        assert belongs in error["message"]
    for door in MUTATIONS:
        error = apis["admin"].error(MUTATIONS[door], {"d": ["not", "an", "object"]})
        assert error["extensions"]["code"] == "BAD_DEFINITION"
    assert stored(db) == before


def test_a_user_manager_cannot_define_types_through_define_role(
    apis: dict[str, Api], db: Database
) -> None:
    before = stored(db)
    for definition in (TICKET, WATCHERS):
        error = apis["kim"].error(MUTATIONS["defineRole"], {"d": definition})
        assert error["extensions"]["code"] == "BAD_DEFINITION"
    assert (
        apis["kim"].error(MUTATIONS["defineEntityType"], {"d": TICKET})["extensions"]["code"]
        == "FORBIDDEN"
    )
    assert stored(db) == before
    # Each door still does its own job.
    assert apis["kim"](MUTATIONS["defineRole"], {"d": {"role": "clerk"}}) == {
        "defineRole": {"name": "clerk"}
    }
    assert apis["dee"](MUTATIONS["defineEntityType"], {"d": TICKET}) == {
        "defineEntityType": {"name": "ticket"}
    }


def test_the_registry_refuses_other_kinds_before_parsing(registry: Registry, db: Database) -> None:
    before = stored(db)
    with pytest.raises(DefinitionError) as caught:
        registry.apply([TICKET, ESCALATED], kinds={"entity_type"})
    assert [f.field for f in caught.value.faults] == ["designer"]
    assert "role definition" in caught.value.faults[0].message
    assert stored(db) == before
    # xrm apply mixes kinds freely (its operator holds the database): no ``kinds``.
    plan = registry.apply([TICKET, ESCALATED])
    assert sorted(s.action for s in plan.steps) == ["create_table", "define_role"]


# --- whatever is sent, a door never stores another kind ------------------------------------------

KEYS = st.sampled_from(
    ["role", "relationship", "x-xrm", "type", "properties", "admin", "entities", "from", "to"]
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=8),
    st.sampled_from(["designer", "boss", "ticket", "object", "customer", "\x00"]),
    st.lists(st.sampled_from(["manage_users", "define_types", "x"]), max_size=3),
    st.fixed_dictionaries({"name": st.sampled_from(["ticket", "role"]), "plural": st.just("ts")}),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
DEFINITIONS = st.one_of(
    st.dictionaries(KEYS, VALUES, max_size=6),
    st.sampled_from([ESCALATED, TICKET, WATCHERS, KEEPER]),
    st.lists(st.integers(), max_size=2),
    st.text(max_size=5),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(door=st.sampled_from(sorted(MUTATIONS)), definition=DEFINITIONS)
@example(door="defineEntityType", definition={"role": "designer", "x-xrm": None})
@example(door="defineRelationship", definition={"role": "boss", "relationship": "r"})
@example(door="defineRole", definition={"role": "boss", "x-xrm": {"name": "t", "plural": "ts"}})
def test_a_door_never_stores_another_kind(
    apis: dict[str, Api], db: Database, door: str, definition: Any
) -> None:
    """Model: the type doors never change a role, the role door never a type or relationship.

    The caller holds every right, so only the kind check stands between a
    definition and the store; the answer is data or a client error, never internal.
    """
    before = stored(db)
    body = apis["admin"].raw(MUTATIONS[door], {"d": definition})
    after = stored(db)
    if door == "defineRole":
        assert after["types"] == before["types"]
        assert after["relationships"] == before["relationships"]
    else:
        assert after["roles"] == before["roles"]
    if body.get("errors"):
        codes = {e["extensions"]["code"] for e in body["errors"]}
        assert codes <= {"BAD_DEFINITION", "CONFLICT", "BAD_USER_INPUT"}, body
        assert after == before
    else:
        name = body["data"][door]["name"]
        kind = {"defineEntityType": "types", "defineRelationship": "relationships"}
        assert name in {n for n, _v, _d in after[kind.get(door, "roles")]}
