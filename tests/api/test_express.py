"""A repeated plain query is answered by one statement, yet every check still holds.

The express lane (xrm/api/express.py) remembers the statement that answered
a request and answers the same body with the same token by that statement
alone, the token check travelling inside it. These tests change, between two
identical requests, each thing that check guards: records, roles, the
token's state, the user's state and the schema, and require the second
answer to be what the ordinary path gives.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from conftest import ENGINE_KIND
from starlette.testclient import TestClient

from xrm.api import express, json_plan
from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.identity import (
    create_token,
    create_user,
    first_admin,
    hash_token,
    revoke_token,
)
from xrm.platform.settings import Settings

ROLE = {"role": "limited", "entities": {"customer": {"read": "own"}}}
QUERY = "{ customers(orderBy: [{name: ASC}]) { totalCount nodes { name website } } }"


class Lane:
    """Counts the requests the express lane answered, and what reached SQLAlchemy."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answered = 0
        real = express.run

        def counting(*args: Any) -> Any:
            found = real(*args)
            self.answered += found is not None
            return found

        monkeypatch.setattr(express, "run", counting)


@pytest.fixture
def lane(monkeypatch: pytest.MonkeyPatch) -> Lane:
    return Lane(monkeypatch)


@pytest.fixture
def client(
    settings: Settings, registry: Registry, service: RecordService, db: Database
) -> Iterator[TestClient]:
    registry.apply([*definitions(), ROLE])
    with db.write() as conn:
        admin = first_admin(conn)
    with service.session(admin) as s:
        for name in ("Acme", "Borealis", "Cobalt"):
            s.create("customer", {"name": name, "website": f"https://{name.lower()}.example"})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def user(db: Database) -> tuple[str, str]:
    """A second admin and a token of theirs: (user id, token)."""
    with db.write() as conn:
        made = create_user(conn, "sam@example.com", ("admin",))
        assert made.id is not None
        return made.id, create_token(conn, made)


def ask(client: TestClient, token: str, query: str = QUERY) -> Any:
    response = client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )
    return response.json()


def warm(client: TestClient, token: str, query: str = QUERY) -> Any:
    """Ask twice: a request is planned the second time the ordinary path answers it."""
    ask(client, token, query)
    return ask(client, token, query)


def names(body: Any) -> list[str]:
    return [n["name"] for n in body["data"]["customers"]["nodes"]]


def test_a_repeated_query_is_answered_by_one_statement(
    client: TestClient, user: tuple[str, str], lane: Lane, db: Database
) -> None:
    first = warm(client, user[1])
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        second = ask(client, user[1])
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    assert lane.answered == 1
    if ENGINE_KIND == "postgresql":  # straight through the driver, in autocommit
        assert statements == []
    else:  # the token check and the answer in one read transaction, no graphql-core
        assert len([s for s in statements if s != "BEGIN"]) == 2
        assert "json_object" in statements[-1]
    assert second == first
    assert names(second) == ["Acme", "Borealis", "Cobalt"]


def test_changed_records_show_at_once(
    client: TestClient, user: tuple[str, str], lane: Lane, service: RecordService, db: Database
) -> None:
    warm(client, user[1])
    with db.write() as conn:
        admin = first_admin(conn)
    with service.session(admin) as s:
        s.create("customer", {"name": "Aardvark"})
    body = ask(client, user[1])
    assert lane.answered == 1
    assert names(body) == ["Aardvark", "Acme", "Borealis", "Cobalt"]
    assert body["data"]["customers"]["totalCount"] == 4


def test_a_revoked_token_gets_no_data(
    client: TestClient, user: tuple[str, str], lane: Lane, db: Database
) -> None:
    warm(client, user[1])
    with db.write() as conn:
        for token in conn.execute(sa.select(tables.tokens.c.id)).scalars():
            revoke_token(conn, str(token))
    body = ask(client, user[1])
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert lane.answered == 0


def test_an_expired_token_and_a_deactivated_user_get_no_data(
    client: TestClient, user: tuple[str, str], lane: Lane, db: Database
) -> None:
    for change in (
        tables.tokens.update().values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(1)),
        tables.users.update().where(tables.users.c.id == user[0]).values(active=False),
    ):
        with db.write() as conn:
            conn.execute(tables.tokens.update().values(expires_at=None))
            conn.execute(tables.users.update().values(active=True))
        assert names(warm(client, user[1])) == ["Acme", "Borealis", "Cobalt"]
        with db.write() as conn:
            conn.execute(change)
        body = ask(client, user[1])
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", change
    assert lane.answered == 0


def test_changed_roles_change_the_answer_at_once(
    client: TestClient, user: tuple[str, str], lane: Lane, db: Database
) -> None:
    assert names(warm(client, user[1])) == ["Acme", "Borealis", "Cobalt"]
    roles = tables.user_roles
    with db.write() as conn:
        conn.execute(roles.update().where(roles.c.user_id == user[0]).values(role="limited"))
    body = ask(client, user[1])
    assert names(body) == []  # limited reads its own customers only, and owns none
    assert lane.answered == 0
    assert names(ask(client, user[1])) == []  # planned afresh, for the new roles
    assert names(ask(client, user[1])) == []
    assert lane.answered == 1


def test_a_schema_change_is_seen_by_the_next_request(
    client: TestClient, user: tuple[str, str], lane: Lane, registry: Registry
) -> None:
    assert warm(client, user[1])["data"]["customers"]["nodes"][0]["website"]
    customer = copy.deepcopy(next(d for d in definitions() if d["x-xrm"]["name"] == "customer"))
    del customer["properties"]["website"]
    registry.apply([customer], confirm_data_loss=True)
    body = ask(client, user[1])
    assert lane.answered == 0
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "website" in body["errors"][0]["message"]


def test_a_null_in_a_required_field_is_reported_as_the_ordinary_path_does(
    client: TestClient, user: tuple[str, str], lane: Lane, db: Database
) -> None:
    warm(client, user[1])
    with db.write() as conn:
        conn.execute(sa.text("UPDATE e_customer SET name = NULL WHERE name = 'Borealis'"))
    body = ask(client, user[1])
    assert lane.answered == 0
    assert [e["path"][-1] for e in body["errors"]] == ["name"]


def test_the_tokens_use_is_still_recorded(
    client: TestClient, user: tuple[str, str], lane: Lane, db: Database
) -> None:
    warm(client, user[1])
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    with db.write() as conn:
        conn.execute(tables.tokens.update().values(last_used_at=long_ago))
    ask(client, user[1])
    assert lane.answered == 1
    with db.read() as conn:
        used = conn.execute(
            sa.select(tables.tokens.c.last_used_at).where(tables.tokens.c.user_id == user[0])
        ).scalar_one()
    assert used > long_ago


def test_each_token_has_its_own_plans(
    client: TestClient, user: tuple[str, str], lane: Lane, db: Database
) -> None:
    with db.write() as conn:
        limited = create_user(conn, "lim@example.com", ("limited",))
        other = create_token(conn, limited)
    warm(client, user[1])
    assert names(ask(client, other)) == []  # not the admin's remembered answer
    assert lane.answered == 0


def test_other_variables_are_other_plans(
    client: TestClient, user: tuple[str, str], lane: Lane
) -> None:
    query = """query($n: String!) { customers(filter: {name: {eq: $n}}) { nodes { name } }
               again: customers(filter: {name: {startsWith: $n}}) { totalCount } }"""

    def named(name: str) -> Any:
        response = client.post(
            "/graphql",
            json={"query": query, "variables": {"n": name}},
            headers={"Authorization": f"Bearer {user[1]}"},
        )
        return response.json()["data"]

    for _ in range(3):
        for name in ("Acme", "Cobalt", "Nobody"):
            data = named(name)
            assert names({"data": data}) == ([name] if name != "Nobody" else [])
    assert lane.answered == 3


def test_a_record_by_id_is_answered_by_its_plan(
    client: TestClient, user: tuple[str, str], lane: Lane, db: Database
) -> None:
    with db.read() as conn:
        found = conn.execute(sa.text("SELECT id FROM e_customer WHERE name = 'Cobalt'")).scalar()
    query = f'{{ customer(id: "{found}") {{ id name }} }}'
    for _ in range(3):
        assert ask(client, user[1], query)["data"]["customer"] == {"id": found, "name": "Cobalt"}
    assert lane.answered == 1


def test_a_changed_role_definition_changes_the_answer_at_once(
    client: TestClient, lane: Lane, db: Database, registry: Registry
) -> None:
    with db.write() as conn:
        limited = create_user(conn, "lim@example.com", ("limited",))
        token = create_token(conn, limited)
    for _ in range(3):
        assert names(ask(client, token)) == []
    assert lane.answered == 1
    registry.apply([{**ROLE, "entities": {"customer": {"read": "all"}}}])
    assert names(ask(client, token)) == ["Acme", "Borealis", "Cobalt"]
    assert lane.answered == 1


def test_a_plan_that_fails_is_dropped_for_the_ordinary_path(
    client: TestClient, user: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = warm(client, user[1])
    calls = []

    def failing(*args: Any) -> Any:
        calls.append(args)
        raise express.PlanFailed(ValueError("the statement failed"), lasting=True)

    monkeypatch.setattr(express, "run", failing)
    for _ in range(3):
        assert ask(client, user[1]) == expected  # answered, never an error
    assert len(calls) == 1  # and never planned again


def test_an_answer_survives_a_plan_that_cannot_be_made(
    client: TestClient, user: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("planning failed")

    monkeypatch.setattr(express, "make_plan", broken)
    for _ in range(3):
        assert names(ask(client, user[1])) == ["Acme", "Borealis", "Cobalt"]


def test_a_plan_that_met_a_busy_database_is_tried_again(
    client: TestClient, user: tuple[str, str], lane: Lane, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = warm(client, user[1])
    counted = express.run  # the lane's counting wrapper

    def busy_once(*args: Any) -> Any:
        monkeypatch.setattr(express, "run", counted)
        raise express.PlanFailed(ValueError("database is locked"), lasting=False)

    monkeypatch.setattr(express, "run", busy_once)
    assert ask(client, user[1]) == expected  # answered the ordinary way meanwhile
    for _ in range(3):
        assert ask(client, user[1]) == expected
    assert lane.answered == 2  # planned again on its second ordinary answer, then used twice


def test_a_retired_schema_lets_go_of_its_plans_and_statements(
    client: TestClient, user: tuple[str, str], registry: Registry
) -> None:
    warm(client, user[1])
    old = client.app.state.graphql.schemas.latest()  # type: ignore[attr-defined]
    key = (hash_token(user[1]), orjson.dumps({"query": QUERY}))
    assert old.plans.find(key) is not None
    assert old.graphql.query_type in json_plan._STATEMENTS
    note = {"type": "object", "x-xrm": {"name": "note", "plural": "notes"}, "properties": {}}
    registry.apply([note])
    assert names(ask(client, user[1])) == ["Acme", "Borealis", "Cobalt"]
    assert old.plans.find(key) is None  # a process that froze its first schema keeps no more
    assert old.graphql.query_type not in json_plan._STATEMENTS
