"""``xrm user update`` and what ``xrm token create --admin`` says (issue 10, point 26).

The installed console script, run as a subprocess, on either database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from test_cli import CliDatabase, assert_one_line_error, run_xrm

from xrm.platform import sessions, tables
from xrm.platform.db import Database
from xrm.platform.identity import actor_for_token, check_password, find_user
from xrm.platform.settings import Settings

PASSWORD = "correct horse battery"


@pytest.fixture
def cli_db(test_database: Any) -> Iterator[Database]:
    db = Database(
        Settings(
            database_url=test_database.url,
            database_schema=test_database.environment().get("XRM_DATABASE_SCHEMA"),
        )
    )
    try:
        yield db
    finally:
        db.dispose()


def user_row(db: Database, email: str) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(sa.select(tables.users).where(tables.users.c.email == email)).mappings()
        found = dict(row.one())
        user = find_user(conn, email)
    assert user is not None
    return {**found, "roles": user.roles}


def cli_audit(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(tables.audit)
            .where(tables.audit.c.entity == "user")
            .order_by(tables.audit.c.id)
        ).mappings()
        return [dict(r) for r in rows]


def test_user_update_changes_what_it_is_given_and_is_audited(
    test_database: CliDatabase, cli_db: Database
) -> None:
    made = run_xrm(test_database, "user", "create", "ann@example.com", "--role", "viewer")
    assert made.code == 0, made.err
    done = run_xrm(
        test_database,
        "user",
        "update",
        "ANN@example.com",
        "--role",
        "editor",
        "--role",
        "viewer",
        "--name",
        "Ann Lee",
        "--locale",
        "ko_KR",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert done.code == 0, done.err
    assert done.lines == [
        "updated user ann@example.com (editor, viewer; active): roles, name, locale, password"
    ]
    row = user_row(cli_db, "ann@example.com")
    assert (row["name"], row["locale"], row["roles"]) == ("Ann Lee", "ko-KR", ("editor", "viewer"))
    with cli_db.read() as conn:
        assert check_password(conn, "ann@example.com", PASSWORD) is not None
    # Only what is given changes; '' clears a name or a language.
    again = run_xrm(
        test_database, "user", "update", "ann@example.com", "--name", "", "--locale", ""
    )
    assert again.code == 0, again.err
    row = user_row(cli_db, "ann@example.com")
    assert (row["name"], row["locale"], row["roles"]) == (None, None, ("editor", "viewer"))
    same = run_xrm(
        test_database, "user", "update", "ann@example.com", "--role", "viewer", "--role", "editor"
    )
    assert same.lines == ["ann@example.com (editor, viewer; active): no change"]
    entries = cli_audit(cli_db)
    assert [(e["action"], e["channel"], e["actor_email"]) for e in entries] == [
        ("create", "cli", "system"),
        ("update", "cli", "system"),
        ("update", "cli", "system"),
    ]
    assert entries[1]["changes"]["roles"] == [["viewer"], ["editor", "viewer"]]
    assert entries[1]["changes"]["password"] == [None, "set"]
    assert entries[2]["changes"] == {"name": ["Ann Lee", None], "locale": ["ko-KR", None]}


def test_inactive_ends_sessions_and_stops_tokens_until_active_again(
    test_database: CliDatabase, cli_db: Database
) -> None:
    assert run_xrm(test_database, "user", "create", "vic@example.com", "--role", "viewer").code == 0
    token = run_xrm(test_database, "token", "create", "--user", "vic@example.com").out.strip()
    with cli_db.write() as conn:
        vic = find_user(conn, "vic@example.com")
        assert vic is not None
        sessions.start(conn, vic, "203.0.113.5")
    off = run_xrm(test_database, "user", "update", "vic@example.com", "--inactive")
    assert off.code == 0 and off.lines == [
        "updated user vic@example.com (viewer; inactive): inactive"
    ]
    with cli_db.read() as conn:
        assert actor_for_token(conn, token) is None
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.sessions)).scalar() == 0
    on = run_xrm(test_database, "user", "update", "vic@example.com", "--active")
    assert on.code == 0, on.err
    with cli_db.read() as conn:
        assert actor_for_token(conn, token) is not None


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["nobody@example.com", "--name", "X"], "", "no user with e-mail 'nobody@example.com'"),
        (["vic@example.com"], "", "nothing to change"),
        (["vic@example.com", "--role", "boss"], "", "no role named 'boss'"),
        (["vic@example.com", "--locale", "xx-YY"], "", "locale"),
        (["vic@example.com", "--name", "x" * 201], "", "at most 200 characters"),
        (["vic@example.com", "--password-stdin"], "short\n", "8 characters"),
        (["vic@example.com", "--active", "--inactive"], "", "not allowed with"),
    ],
)
def test_user_update_refuses_bad_input_in_one_line(
    test_database: CliDatabase, cli_db: Database, args: list[str], stdin: str, says: str
) -> None:
    assert run_xrm(test_database, "user", "create", "vic@example.com", "--role", "viewer").code == 0
    before = user_row(cli_db, "vic@example.com")
    result = run_xrm(test_database, "user", "update", *args, stdin=stdin)
    assert_one_line_error(result)
    assert says in result.err
    assert user_row(cli_db, "vic@example.com") == before


def test_token_create_admin_names_its_user_on_stderr_only(
    test_database: CliDatabase, cli_db: Database
) -> None:
    first = run_xrm(test_database, "token", "create", "--admin")
    assert first.code == 0, first.err
    assert len(first.lines) == 1 and first.lines[0].startswith("xrm_")
    assert (
        first.err.strip() == "xrm: issued a token for admin@localhost (created as the first admin)"
    )
    assert run_xrm(test_database, "user", "update", "admin@localhost", "--inactive").code == 0
    assert run_xrm(test_database, "user", "create", "boss@example.com", "--role", "admin").code == 0
    second = run_xrm(test_database, "token", "create", "--admin")
    assert second.err.strip() == "xrm: issued a token for boss@example.com"
    with cli_db.read() as conn:
        used = actor_for_token(conn, second.out.strip())
    assert used is not None and used.actor.email == "boss@example.com"
    # Made through the identity service, so both tokens and the bootstrap admin are audited.
    with cli_db.read() as conn:
        audited = conn.execute(
            sa.select(tables.audit.c.entity, tables.audit.c.action).order_by(tables.audit.c.id)
        ).all()
    assert [tuple(a) for a in audited] == [
        ("user", "create"),
        ("token", "create"),
        ("user", "update"),
        ("user", "create"),
        ("token", "create"),
    ]
