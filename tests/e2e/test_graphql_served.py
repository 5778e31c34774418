"""GraphQL against a real ``xrm serve --workers 2``: every process agrees on every definition."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from conftest import TestDatabase
from server import STARTUP_TIMEOUT_S, running_server

from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin

pytestmark = pytest.mark.slow

TICKET = {
    "type": "object",
    "title": "Ticket",
    "x-xrm": {"name": "ticket", "plural": "tickets", "label": {"en": "Ticket", "ko": "티켓"}},
    "properties": {"title": {"type": "string"}},
    "required": ["title"],
}


def post(base: str, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    # A new connection each time, so the kernel spreads requests over both workers.
    response = httpx.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_two_workers_serve_a_new_type_from_the_next_request(
    test_database: TestDatabase, tmp_path: Path
) -> None:
    db = Database(test_database.settings())
    try:
        with db.write() as conn:
            token = create_token(conn, first_admin(conn))
    finally:
        db.dispose()
    log = tmp_path / "serve.log"
    with running_server(test_database, log, "--workers", "2", "--demo") as base:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S  # liveness, not speed
        while log.read_text().count("Started server process") < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        body = post(base, token, "{ customers(first: 3) { totalCount nodes { name } } }")
        assert body["data"]["customers"]["totalCount"] >= 100
        # Both workers have built the old schema by now.
        for _ in range(6):
            assert "errors" in post(base, token, "{ tickets { totalCount } }")
        defined = post(
            base,
            token,
            "mutation($d: JSON!) { defineEntityType(definition: $d) { name version } }",
            {"d": TICKET},
        )
        assert defined["data"]["defineEntityType"] == {"name": "ticket", "version": 1}
        made = post(base, token, 'mutation { createTicket(input: {title: "첫 티켓"}) { id } }')
        assert "errors" not in made, made
        for _ in range(12):
            body = post(base, token, "{ tickets { totalCount nodes { title } } }")
            assert body.get("errors") is None, body
            assert body["data"]["tickets"]["nodes"] == [{"title": "첫 티켓"}]
        anonymous = httpx.post(f"{base}/graphql", json={"query": "{ tickets { totalCount } }"})
        assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Traceback" not in log.read_text()


def _waiting_on(conn: Any, table: str) -> bool:
    """PostgreSQL: whether some session waits for a lock on ``table`` (of this test's schema)."""
    query = "SELECT count(*) FROM pg_locks WHERE relation = CAST(:t AS regclass) AND NOT granted"
    return bool(conn.execute(sa.text(query), {"t": table}).scalar())


def test_the_server_answers_while_a_request_waits_on_the_database(
    test_database: TestDatabase, tmp_path: Path, engine_kind: str
) -> None:
    """Resolvers run in worker threads, so a request stuck in the database blocks no other.

    No clock: the test holds a lock that a ``createCustomer`` needs, so that
    request is known to be in progress (on PostgreSQL it is seen waiting in
    ``pg_locks``) for as long as the test wants; ``/healthz`` and another
    GraphQL query must be answered meanwhile. Were the event loop blocked by
    the waiting request, they would not be answered until the lock is let go.
    """
    import threading

    db = Database(test_database.settings())
    try:
        with db.write() as conn:
            token = create_token(conn, first_admin(conn))
        log = tmp_path / "serve.log"
        with running_server(test_database, log, "--demo") as base:
            # Used once now, the token's last use is fresh for a minute: the requests below
            # then only read (recording a use is a write, and would queue behind the lock).
            assert "errors" not in post(base, token, "{ partners(first: 1) { totalCount } }")
            answer: dict[str, Any] = {}
            create = 'mutation { createCustomer(input: {name: "Stuck Ltd"}) { name } }'
            waiter = threading.Thread(target=lambda: answer.update(post(base, token, create)))
            with db.write() as holder:  # SQLite: BEGIN IMMEDIATE holds the one write lock
                if engine_kind == "postgresql":
                    holder.exec_driver_sql("LOCK TABLE e_customer IN EXCLUSIVE MODE")
                waiter.start()
                if engine_kind == "postgresql":
                    with db.engine.connect() as watcher:
                        while not _waiting_on(watcher, "e_customer"):
                            assert waiter.is_alive(), answer
                            time.sleep(0.05)
                # (On SQLite nothing shows a waiting writer; the probes below run long after
                # the request was sent, and it cannot finish before the lock is let go.)
                for _ in range(10):
                    assert httpx.get(f"{base}/healthz", timeout=20).status_code == 200
                    time.sleep(0.1)
                body = post(base, token, "{ partners(first: 1) { totalCount } }")
                assert body["data"]["partners"]["totalCount"] > 0, body
                assert waiter.is_alive(), answer  # still waiting: the lock is still held
            waiter.join(timeout=60)
            assert answer == {"data": {"createCustomer": {"name": "Stuck Ltd"}}}
    finally:
        db.dispose()
    assert "Traceback" not in log.read_text()
