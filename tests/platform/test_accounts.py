"""The identity service: who may change which users and tokens, every change audited once.

Issue 10, point 26, and DESIGN.md's debt "Audit outside the service": the CLI
and the admin users screens both go through ``Accounts``, so the rules and the
audit rows are tested here once, on either database.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrm.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xrm.platform import sessions, tables
from xrm.platform.accounts import UNSET, Accounts, UserChange
from xrm.platform.db import Database
from xrm.platform.identity import SYSTEM_ACTOR, Actor, actor_for_token, create_user
from xrm.schemas.roles import parse_role

SUPPORT = parse_role({"role": "support", "entities": {"*": {"read": "all"}}})
HELPDESK_LEAD = parse_role(
    {"role": "lead", "entities": {"*": {"read": "all"}}, "admin": ["manage_users"]}
)
DEFINED = {"support": SUPPORT, "lead": HELPDESK_LEAD}


def accounts(conn: Any, actor: Actor = SYSTEM_ACTOR, channel: str = "cli") -> Accounts:
    return Accounts(conn, actor, channel, defined_roles=DEFINED, request_id="req-1")


def audit_rows(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(sa.select(tables.audit).order_by(tables.audit.c.id)).mappings()
        return [dict(r) for r in rows]


@pytest.fixture
def people(db: Database) -> dict[str, Actor]:
    with db.write() as conn:
        return {
            "ann": create_user(conn, "ann@example.com", ("admin",), password="long password"),
            "lee": create_user(conn, "lee@example.com", ("lead",), password="long password"),
            "vic": create_user(conn, "vic@example.com", ("viewer",), password="long password"),
        }


def test_a_change_is_applied_and_audited_once_with_old_and_new_values(
    db: Database, people: dict[str, Actor]
) -> None:
    vic = people["vic"]
    assert vic.id is not None
    with db.write() as conn:
        after = accounts(conn, people["ann"], "admin").update_user(
            vic.id, UserChange(roles=["support", "viewer"], name=" Vic ", locale="ko_KR")
        )
    assert (after.roles, after.name, after.locale) == (("support", "viewer"), "Vic", "ko-KR")
    [row] = audit_rows(db)
    assert (row["action"], row["entity"], row["record_id"]) == ("update", "user", vic.id)
    assert (row["actor_email"], row["channel"], row["request_id"]) == (
        "ann@example.com",
        "admin",
        "req-1",
    )
    assert row["changes"] == {
        "roles": [["viewer"], ["support", "viewer"]],
        "name": [None, "Vic"],
        "locale": [None, "ko-KR"],
    }
    # The same change again changes nothing and writes no row.
    with db.write() as conn:
        accounts(conn).update_user(vic.id, UserChange(roles=["viewer", "support"], name="Vic"))
    assert len(audit_rows(db)) == 1


def test_deactivating_ends_sessions_and_stops_tokens(
    db: Database, people: dict[str, Actor]
) -> None:
    vic = people["vic"]
    assert vic.id is not None
    with db.write() as conn:
        sessions.start(conn, vic, "203.0.113.1")
        token, _info = accounts(conn).create_token(vic.id, "script")
    with db.write() as conn:
        accounts(conn).update_user(vic.id, UserChange(active=False))
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.sessions)).scalar() == 0
        assert actor_for_token(conn, token) is None
    with db.write() as conn:
        accounts(conn).update_user(vic.id, UserChange(active=True))
    with db.read() as conn:
        found = actor_for_token(conn, token)
    assert found is not None and found.actor.email == "vic@example.com"
    actions = [(r["entity"], r["action"], r["changes"]) for r in audit_rows(db)]
    assert actions[1:] == [
        ("user", "update", {"active": [True, False], "sessions": [1, 0]}),
        ("user", "update", {"active": [False, True]}),
    ]


def test_rights_are_checked_by_the_service_not_only_by_the_screens(
    db: Database, people: dict[str, Actor]
) -> None:
    ann, lee, vic = people["ann"], people["lee"], people["vic"]
    assert ann.id and lee.id and vic.id
    with db.write() as conn:
        as_vic = accounts(conn, vic, "admin")
        as_vic.update_user(vic.id, UserChange(name="Vic", locale="en"))  # one's own settings
        for change in (UserChange(roles=["admin"]), UserChange(password="a new password")):
            with pytest.raises(Forbidden):
                as_vic.update_user(vic.id, change)
        with pytest.raises(Forbidden):
            as_vic.user(ann.id)
        with pytest.raises(Forbidden):
            as_vic.create_user("x@example.com", ["viewer"])
        with pytest.raises(Forbidden):
            as_vic.create_token(ann.id)
        # A defined role that grants manage_users manages users.
        as_lee = accounts(conn, lee, "admin")
        as_lee.update_user(vic.id, UserChange(roles=["support"]))
        with pytest.raises(ValidationFailed) as refused:
            as_lee.update_user(lee.id, UserChange(roles=["support"], active=False))
        assert {f.field for f in refused.value.faults} == {"roles", "active"}
        with pytest.raises(NotFound):
            as_lee.user("01a2b3c4-0000-7000-8000-000000000000")


def test_tokens_are_created_and_revoked_once_each_in_the_audit(
    db: Database, people: dict[str, Actor]
) -> None:
    vic = people["vic"]
    assert vic.id is not None
    with db.write() as conn:
        token, info = accounts(conn, vic, "admin").create_token(vic.id, "laptop", 30)
        assert info.name == "laptop" and info.expires_at is not None
        accounts(conn, vic, "admin").revoke_token(info.id, user_id=vic.id)
        accounts(conn).revoke_token(info.id)  # again: idempotent, not audited twice
        with pytest.raises(NotFound):
            accounts(conn, people["ann"], "admin").revoke_token(info.id, user_id=people["ann"].id)
    assert token.startswith("xrm_")
    assert [(r["entity"], r["action"]) for r in audit_rows(db)] == [
        ("token", "create"),
        ("token", "revoke"),
    ]


def test_creating_a_user_checks_every_field_at_once(db: Database, people: dict[str, Actor]) -> None:
    with db.write() as conn, pytest.raises(ValidationFailed) as refused:
        accounts(conn).create_user(
            "nope", ["boss"], name="x\x00", password="short", locale="klingon"
        )
    assert {f.field for f in refused.value.faults} == {
        "email",
        "roles",
        "name",
        "password",
        "locale",
    }
    with db.write() as conn, pytest.raises(Conflict):
        accounts(conn).create_user("VIC@example.com", ["viewer"])
    assert audit_rows(db) == []


names = st.one_of(
    st.none(), st.text(max_size=30), st.sampled_from(["", " ", "김민준", "a\x00b", "x" * 201])
)
locales = st.one_of(
    st.none(),
    st.sampled_from(["", "ko", "en-GB", "ko_KR", "zz", "\x00", "e" * 50]),
    st.text(max_size=10),
)
role_lists = st.lists(
    st.one_of(st.sampled_from(["admin", "viewer", "support", "lead"]), st.text(max_size=10)),
    max_size=3,
)
passwords = st.one_of(st.text(max_size=12), st.text(min_size=8, max_size=20), st.just("p" * 1001))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.one_of(st.just(UNSET), names),
    locale=st.one_of(st.just(UNSET), locales),
    roles=st.one_of(st.just(UNSET), role_lists),
    active=st.one_of(st.just(UNSET), st.booleans()),
    password=st.one_of(st.just(UNSET), passwords),
)
def test_any_change_is_applied_whole_or_refused_naming_each_bad_field(
    db: Database,
    people: dict[str, Actor],
    name: Any,
    locale: Any,
    roles: Any,
    active: Any,
    password: Any,
) -> None:
    vic = people["vic"]
    assert vic.id is not None
    change = UserChange(roles=roles, name=name, locale=locale, active=active, password=password)
    bad: set[str] = set()
    if isinstance(name, str) and ("\x00" in name or len(name.strip()) > 200):
        bad.add("name")
    if isinstance(roles, list):
        cleaned = {r.strip() for r in roles}
        if not cleaned or not cleaned <= {"admin", "editor", "viewer", "support", "lead"}:
            bad.add("roles")
    if isinstance(password, str) and not 8 <= len(password) <= 1000:
        bad.add("password")
    with db.engine.connect() as conn:
        tx = conn.begin()
        before = accounts(conn).user(vic.id)
        try:
            after = accounts(conn).update_user(vic.id, change)
        except ValidationFailed as exc:
            fields = {f.field for f in exc.faults}
            assert bad <= fields <= bad | {"locale"}, exc.faults
            assert accounts(conn).user(vic.id) == before
            assert conn.execute(sa.select(sa.func.count()).select_from(tables.audit)).scalar() == 0
        else:
            assert not bad, f"accepted {change}"
            if isinstance(name, str) or name is None:
                assert after.name == ((name or "").strip() or None)
            if isinstance(roles, list):
                assert set(after.roles) == {r.strip() for r in roles}
            if isinstance(active, bool):
                assert after.active is active
            if locale is None or (isinstance(locale, str) and not locale.strip()):
                assert after.locale is None
        finally:
            tx.rollback()
