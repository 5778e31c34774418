"""API tokens as their holders meet them: accepted only as a bearer header, until revoked,
expired or their user disabled; their last use recorded without a write per request."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.identity import (
    create_token,
    create_user,
    first_admin,
    hash_token,
    list_tokens,
    revoke_token,
)
from xrm.platform.settings import Settings

QUERY = {"query": "{ customers { totalCount } }"}


@pytest.fixture
def client(settings: Settings, registry: Registry) -> Iterator[TestClient]:
    registry.apply(definitions())
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def status(client: TestClient, headers: dict[str, str], **kw: str) -> str:
    body = client.post("/graphql", json=QUERY, headers=headers, params=kw or None).json()
    if "errors" in body:
        code: str = body["errors"][0]["extensions"]["code"]
        return code
    return "OK"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_works_only_in_the_bearer_header(client: TestClient, db: Database) -> None:
    with db.write() as conn:
        token = create_token(conn, create_user(conn, "vic@example.com", ("viewer",)))
    assert status(client, bearer(token)) == "OK"
    assert status(client, {"Authorization": f"bearer   {token}  "}) == "OK"
    for wrong in (
        {"Authorization": token},
        {"Authorization": f"Token {token}"},
        {"Authorization": f"Basic {token}"},
        {"X-Api-Key": token},
        {"Cookie": f"token={token}"},
        bearer(token[:-1]),
        bearer(token + "x"),
    ):
        assert status(client, wrong) == "UNAUTHENTICATED", wrong
    assert status(client, {}, token=token, access_token=token) == "UNAUTHENTICATED"


def test_revoked_expired_and_disabled_tokens_stop_working(client: TestClient, db: Database) -> None:
    with db.write() as conn:
        ann = create_user(conn, "ann@example.com", ("viewer",))
        bob = create_user(conn, "bob@example.com", ("viewer",))
        revoked, expiring, anns = (create_token(conn, ann) for _ in range(3))
        bobs = create_token(conn, bob, name="bob's")
    for token in (revoked, expiring, anns, bobs):
        assert status(client, bearer(token)) == "OK"
    with db.write() as conn:
        by_hash = {i.name: i for i in list_tokens(conn, "bob@example.com")}
        assert list(by_hash) == ["bob's"]
        ids = [i.id for i in list_tokens(conn, "ann@example.com")]
        assert len(ids) == 3
        t = tables.tokens
        conn.execute(
            t.update()
            .where(t.c.token_hash == hash_token(expiring))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        target = conn.execute(
            sa.select(t.c.id).where(t.c.token_hash == hash_token(revoked))
        ).scalar()
        assert revoke_token(conn, str(target)).state == "revoked"
        conn.execute(tables.users.update().where(tables.users.c.id == bob.id).values(active=False))
    assert status(client, bearer(revoked)) == "UNAUTHENTICATED"
    assert status(client, bearer(expiring)) == "UNAUTHENTICATED"
    assert status(client, bearer(bobs)) == "UNAUTHENTICATED"
    assert status(client, bearer(anns)) == "OK"
    with db.read() as conn:
        states = sorted(i.state for i in list_tokens(conn, "ann@example.com"))
    assert states == ["active", "expired", "revoked"]


def test_last_use_is_recorded_at_most_once_a_minute(client: TestClient, db: Database) -> None:
    with db.write() as conn:
        token = create_token(conn, create_user(conn, "vic@example.com", ("viewer",)))
        [info] = list_tokens(conn)
    assert info.last_used_at is None
    assert status(client, bearer(token)) == "OK"
    with db.read() as conn:
        [first] = list_tokens(conn)
    assert first.last_used_at is not None
    assert status(client, bearer(token)) == "OK"
    with db.read() as conn:
        [second] = list_tokens(conn)
    assert second.last_used_at == first.last_used_at  # no write within the minute
    with db.write() as conn:
        conn.execute(
            tables.tokens.update().values(
                last_used_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
            )
        )
    assert status(client, bearer(token)) == "OK"
    with db.read() as conn:
        [third] = list_tokens(conn)
    assert third.last_used_at is not None
    assert third.last_used_at > first.last_used_at


def test_a_tokens_use_is_recorded_after_the_request_lets_go_of_its_read(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holding the read connection while waiting for a write one can drain the pool under load."""
    import xrm.api.context

    with db.write() as conn:
        token = create_token(conn, first_admin(conn), name="busy")
    pool = client.app.state.db.engine.pool  # type: ignore[attr-defined]
    held: list[int] = []
    real_touch = xrm.api.context.touch_token

    def touch(conn: Any, token_id: str) -> None:
        held.append(pool.checkedout())  # the write connection only: the read is back
        real_touch(conn, token_id)

    monkeypatch.setattr(xrm.api.context, "touch_token", touch)
    assert status(client, bearer(token)) == "OK"
    assert held == [1]
    with db.read() as conn:
        assert list_tokens(conn)[0].last_used_at is not None
