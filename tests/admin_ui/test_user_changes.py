"""Changing users on the admin users screen: roles, name, language, activity, password.

Issue 10, point 26 (the screen's half; the CLI's is in tests/test_cli_users.py),
and point 28: the errors come back in the page's language, and the menu only
leads where the user may go.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_signin import PASSWORD, csrf_of, sign_in
from test_users import api_status, new_token, post, user_id

from xrm.app import create_app
from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.identity import check_password, find_user
from xrm.platform.settings import Settings

pytest_plugins = ["admin_clients"]

KOREAN = {"Accept-Language": "ko-KR,ko;q=0.9"}
HANGUL = re.compile("[가-힣]")


def user_audit(db: Database, email: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(tables.audit)
            .where(tables.audit.c.entity == "user", tables.audit.c.record_id == user_id(db, email))
            .order_by(tables.audit.c.id)
        ).mappings()
        return [dict(r) for r in rows]


def sessions_of(db: Database, email: str) -> int:
    with db.read() as conn:
        query = sa.select(sa.func.count()).where(tables.sessions.c.user_id == user_id(db, email))
        return int(conn.execute(query).scalar_one())


def errors_of(html: str) -> list[str]:
    """The error items of a page, as text."""
    items = re.findall(r"<li( data-untranslated)?>(.*?)</li>", html.split('role="alert"', 1)[-1])
    assert all(not flag for flag, _text in items), items
    return [re.sub("<[^>]+>", "", text) for _flag, text in items]


def test_a_user_manager_changes_roles_name_language_and_password(
    ann: TestClient, vic: TestClient, db: Database, app_settings: Settings
) -> None:
    vics = f"/admin/users/{user_id(db, 'vic@example.com')}"
    saved = post(
        ann,
        vics,
        vics,
        name="Vic Park",
        locale="ko",
        roles_shown="1",
        roles="editor",
        password="a brand new password",
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{vics}?saved=1"
    page = ann.get(saved.headers["location"]).text
    assert 'role="status"' in page and "data-name>Vic Park<" in page
    assert "data-roles>Editor<" in page and 'data-locale="ko"' in page
    with db.read() as conn:
        vic_now = find_user(conn, "vic@example.com")
        assert vic_now is not None and vic_now.roles == ("editor",)
        assert check_password(conn, "vic@example.com", "a brand new password") is not None
        assert check_password(conn, "vic@example.com", PASSWORD) is None
    # A new password shuts out whoever signed in with the old one.
    assert vic.get("/admin/").status_code == 303
    [entry] = [e for e in user_audit(db, "vic@example.com") if e["action"] == "update"]
    assert (entry["actor_email"], entry["channel"]) == ("ann@example.com", "admin")
    assert entry["changes"]["roles"] == [["viewer"], ["editor"]]
    assert entry["changes"]["name"] == [None, "Vic Park"]
    assert entry["changes"]["locale"] == [None, "ko"]
    assert entry["changes"]["password"] == ["set", "set"]
    assert "a brand new password" not in str(entry["changes"])
    # The page shows that history in words, in Vic's own language once he signs in again.
    with TestClient(create_app(app_settings), follow_redirects=False) as again:
        assert sign_in(again, "vic@example.com", "a brand new password").status_code == 303
        mine = again.get(vics).text
    assert '<html lang="ko">' in mine and "역할: 편집자" in mine and "비밀번호 변경" in mine


def test_users_change_their_own_name_and_language_but_not_their_rights(
    vic: TestClient, db: Database
) -> None:
    vics = f"/admin/users/{user_id(db, 'vic@example.com')}"
    assert 'name="roles"' not in vic.get(vics).text  # no role boxes for a non-manager
    saved = post(vic, vics, vics, name="Vic", locale="en-GB")
    assert saved.status_code == 303
    with db.read() as conn:
        row = conn.execute(
            sa.select(tables.users.c.name, tables.users.c.locale).where(
                tables.users.c.email == "vic@example.com"
            )
        ).one()
    assert tuple(row) == ("Vic", "en-GB")
    # A hand-made form that asks for more is refused, and changes nothing.
    for extra in ({"roles_shown": "1", "roles": "admin"}, {"password": "taken over now"}):
        refused = post(vic, vics, vics, name="Vicious", **extra)
        assert refused.status_code == 403
    with db.read() as conn:
        vic_now = find_user(conn, "vic@example.com")
        assert vic_now is not None and vic_now.roles == ("viewer",)
        assert check_password(conn, "vic@example.com", "taken over now") is None
        assert (
            conn.execute(
                sa.select(tables.users.c.name).where(tables.users.c.email == "vic@example.com")
            ).scalar()
            == "Vic"
        )


def test_nobody_takes_away_their_own_right_to_manage_users(ann: TestClient, db: Database) -> None:
    anns = f"/admin/users/{user_id(db, 'ann@example.com')}"
    refused = post(ann, anns, anns, roles_shown="1", roles="viewer")
    assert refused.status_code == 400
    assert errors_of(refused.text) == [
        "Roles: You cannot take away your own right to manage users."
    ]
    with db.read() as conn:
        ann_now = find_user(conn, "ann@example.com")
    assert ann_now is not None and ann_now.roles == ("admin",)


def test_deactivating_ends_sessions_for_good_and_tokens_while_inactive(
    ann: TestClient, vic: TestClient, db: Database
) -> None:
    vics = f"/admin/users/{user_id(db, 'vic@example.com')}"
    token = new_token(post(vic, f"{vics}/tokens", vics, name="script"))
    assert sessions_of(db, "vic@example.com") == 1
    assert post(ann, f"{vics}/active", vics, active="0").status_code == 303
    assert sessions_of(db, "vic@example.com") == 0
    assert api_status(vic, token) == "UNAUTHENTICATED"
    assert post(ann, f"{vics}/active", vics, active="1").status_code == 303
    # Activated again: the old session stays over; the token (never revoked) works again.
    assert vic.get("/admin/").status_code == 303
    assert api_status(vic, token) == "OK"
    changes = [e["changes"] for e in user_audit(db, "vic@example.com")]
    assert {"active": [True, False], "sessions": [1, 0]} in changes
    assert {"active": [False, True]} in changes


def test_errors_on_the_user_screens_are_in_the_pages_language(ann: TestClient) -> None:
    ann.headers.update(KOREAN)
    with_locale = ann.get("/admin/users")
    assert '<html lang="ko">' in with_locale.text
    for form, english in (
        ({"email": "not-an-email", "roles": "viewer"}, "is not an e-mail address"),
        ({"email": "vic@example.com", "roles": "viewer"}, "exists already"),
        ({"email": "x@example.com", "roles": "overlord"}, "no role named"),
        ({"email": "x@example.com"}, "at least one role"),
        ({"email": "x@example.com", "roles": "viewer", "password": "short"}, "characters"),
        ({"email": "x@example.com", "roles": "viewer", "locale": "klingon"}, "locale"),
        ({"email": "x@example.com", "roles": "viewer", "name": "a\x00b"}, "may not contain"),
    ):
        refused = post(ann, "/admin/users", "/admin/users", **form)
        assert refused.status_code == 400
        [error] = errors_of(refused.text)
        assert HANGUL.search(error) and english not in error, error
    # A form from another session (an old tab) is refused in Korean too.
    refused = ann.post("/admin/users", data={"csrf": "forged", "email": "x@example.com"})
    assert refused.status_code == 403 and HANGUL.search(refused.text)
    assert "CSRF" not in refused.text


def test_the_menu_leads_only_where_the_user_may_go(ann: TestClient, vic: TestClient) -> None:
    for client, expected in (
        (
            ann,
            [
                "/admin/",
                "/admin/types",
                "/admin/users",
                "/admin/roles",
                "/admin/workflows",
                "/admin/plugins",
                "/admin/users/",
            ],
        ),
        (vic, ["/admin/", "/admin/roles", "/admin/users/"]),
    ):
        home = client.get("/admin/").text
        nav = home.split("<nav", 1)[1].split("</nav>", 1)[0]
        links = re.findall(r'href="([^"]+)"', nav)
        assert [re.sub(r"/admin/users/[0-9a-f-]+$", "/admin/users/", h) for h in links] == expected
        for href in links:
            assert client.get(href).status_code == 200, href


@pytest.fixture
def korean_ann(ann: TestClient) -> Iterator[TestClient]:
    ann.headers.update(KOREAN)
    yield ann


NAMES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "  ", "김민준", "a\x00b", "x" * 250, "<script>", "Robert'); --"]),
)
LOCALES = st.one_of(
    st.sampled_from(["", "ko", "en", "en-GB", "ko_KR", "zz", "klingon", "\x00", "e" * 30]),
    st.text(max_size=12),
)
ROLES = st.lists(
    st.one_of(st.sampled_from(["admin", "editor", "viewer"]), st.text(max_size=12)), max_size=3
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=NAMES, locale=LOCALES, roles=ROLES)
def test_any_account_form_is_saved_or_refused_in_korean_naming_the_field(
    korean_ann: TestClient, db: Database, name: str, locale: str, roles: list[str]
) -> None:
    """Whatever is typed, the answer is a save or a 400 listing translated faults per field;
    what is saved is what was typed, trimmed (never a 500, never half a change)."""
    vics = f"/admin/users/{user_id(db, 'vic@example.com')}"
    html = korean_ann.get(vics).text
    form = {
        "csrf": csrf_of(html),
        "name": name,
        "locale": locale,
        "roles_shown": "1",
        "roles": roles,
    }
    with db.read() as conn:
        before = conn.execute(
            sa.select(tables.users).where(tables.users.c.email == "vic@example.com")
        ).one()
    try:
        response = korean_ann.post(vics, data=form)
    except (httpx.InvalidURL, UnicodeEncodeError):
        return  # not sendable as a form at all (e.g. lone surrogates)
    with db.read() as conn:
        after = conn.execute(
            sa.select(tables.users).where(tables.users.c.email == "vic@example.com")
        ).one()
        held = find_user(conn, "vic@example.com")
    assert response.status_code in (303, 400), response.text
    if response.status_code == 400:
        assert after == before
        errors = errors_of(response.text)
        assert errors and all(HANGUL.search(e) for e in errors)
        labels = {"이름", "언어", "역할"}
        assert all(e.split(":", 1)[0] in labels for e in errors), errors
    else:
        assert after.name == (name.strip() or None)
        assert held is not None and set(held.roles) == {r.strip() for r in roles if r.strip()}
