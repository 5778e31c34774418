"""The user and token screens: user managers manage everyone, everyone manages their own tokens."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa
from starlette.testclient import TestClient
from test_signin import PASSWORD, csrf_of, sign_in

from xrm.app import create_app
from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.identity import find_user
from xrm.platform.settings import Settings

# The signed-in clients (a conftest.py here would shadow the root conftest module).
pytest_plugins = ["admin_clients"]


def user_id(db: Database, email: str) -> str:
    with db.read() as conn:
        found = find_user(conn, email)
    assert found is not None and found.id is not None
    return found.id


def post(client: TestClient, path: str, page: str, **form: str) -> httpx.Response:
    """Submit a form from ``page`` (its CSRF token) to ``path``."""
    html = client.get(page).text
    return client.post(path, data={"csrf": csrf_of(html), **form})


def api_status(client: TestClient, token: str) -> str:
    body = client.post(
        "/graphql",
        json={"query": "{ customers { totalCount } }"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    return str(body["errors"][0]["extensions"]["code"]) if "errors" in body else "OK"


def new_token(response: httpx.Response) -> str:
    found = re.search(r"<code data-new-token>([^<]+)</code>", response.text)
    assert found, response.text
    return found.group(1)


def test_a_user_manager_creates_users_and_it_is_audited(ann: TestClient, db: Database) -> None:
    page = ann.get("/admin/users")
    assert page.status_code == 200 and 'data-user="vic@example.com"' in page.text
    made = post(
        ann,
        "/admin/users",
        "/admin/users",
        email="New.Person@Example.com",
        name="New Person",
        role="editor",
        password="long enough password",
    )
    assert made.status_code == 303
    detail = ann.get(made.headers["location"])
    assert "new.person@example.com" in detail.text and "editor" in detail.text
    with db.read() as conn:
        rows = (
            conn.execute(sa.select(tables.audit).where(tables.audit.c.entity == "user"))
            .mappings()
            .all()
        )
    assert [(r["action"], r["channel"], r["actor_email"]) for r in rows] == [
        ("create", "admin", "ann@example.com")
    ]
    for bad, says in (
        ({"email": "not-an-email", "role": "viewer"}, "is not an e-mail address"),
        ({"email": "vic@example.com", "role": "viewer"}, "exists already"),
        ({"email": "x@example.com", "role": "overlord"}, "no role named &#39;overlord&#39;"),
        ({"email": "x@example.com"}, "Choose at least one role."),
        ({"email": "x@example.com", "role": "viewer", "password": "short"}, "8 characters"),
    ):
        refused = post(ann, "/admin/users", "/admin/users", **bad)
        assert refused.status_code == 400 and says in refused.text, refused.text


def test_a_new_users_language_is_chosen_for_them(ann: TestClient, app_settings: Settings) -> None:
    made = post(
        ann,
        "/admin/users",
        "/admin/users",
        email="min@example.com",
        role="viewer",
        locale="ko",
        password=PASSWORD,
    )
    assert made.status_code == 303
    assert 'data-locale="ko"' in ann.get(made.headers["location"]).text
    with TestClient(create_app(app_settings), follow_redirects=False) as min_client:
        min_client.headers["Accept-Language"] = "en-US,en;q=0.9"
        assert sign_in(min_client, "min@example.com").status_code == 303
        assert '<html lang="ko">' in min_client.get("/admin/").text
    refused = post(
        ann, "/admin/users", "/admin/users", email="x@example.com", role="viewer", locale="klingon"
    )
    assert refused.status_code == 400 and "locale" in refused.text and "klingon" in refused.text


def test_tokens_are_shown_once_work_and_can_be_revoked(vic: TestClient, db: Database) -> None:
    mine = f"/admin/users/{user_id(db, 'vic@example.com')}"
    created = post(vic, f"{mine}/tokens", mine, name="laptop", expires_in="30")
    assert created.status_code == 200
    token = new_token(created)
    assert api_status(vic, token) == "OK"
    again = vic.get(mine)
    assert token not in again.text and "laptop" in again.text
    token_id = re.search(r'data-token="([^"]+)"', again.text).group(1)  # type: ignore[union-attr]
    revoked = post(vic, f"{mine}/tokens/{token_id}/revoke", mine)
    assert revoked.status_code == 303
    assert api_status(vic, token) == "UNAUTHENTICATED"
    assert "revoked" in vic.get(mine).text


def test_others_users_and_tokens_are_out_of_reach(
    vic: TestClient, ann: TestClient, db: Database
) -> None:
    anns = f"/admin/users/{user_id(db, 'ann@example.com')}"
    token = new_token(post(ann, f"{anns}/tokens", anns, name="ann's"))
    token_id = re.search(r'data-token="([^"]+)"', ann.get(anns).text).group(1)  # type: ignore[union-attr]
    assert vic.get("/admin/users").status_code == 403
    assert vic.get(anns).status_code == 403
    mine = f"/admin/users/{user_id(db, 'vic@example.com')}"
    csrf = csrf_of(vic.get(mine).text)
    for path in (
        f"{anns}/tokens/{token_id}/revoke",
        f"{anns}/tokens",
        f"{anns}/active",
        "/admin/users",
    ):
        response = vic.post(path, data={"csrf": csrf, "email": "z@example.com", "role": "admin"})
        assert response.status_code == 403, path
    # Nor through one's own page with someone else's token id.
    vic.post(f"{mine}/tokens/{token_id}/revoke", data={"csrf": csrf})
    assert api_status(ann, token) == "OK"
    with db.read() as conn:
        assert find_user(conn, "z@example.com") is None


def test_forms_without_the_csrf_token_change_nothing(ann: TestClient, db: Database) -> None:
    vics = f"/admin/users/{user_id(db, 'vic@example.com')}"
    for path, form in (
        ("/admin/users", {"email": "z@example.com", "role": "admin"}),
        (f"{vics}/active", {"active": "0"}),
        (f"{vics}/tokens", {"name": "x"}),
    ):
        for csrf in ({}, {"csrf": "forged"}):
            assert ann.post(path, data={**form, **csrf}).status_code == 403
    with db.read() as conn:
        assert find_user(conn, "z@example.com") is None
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.tokens)).scalar() == 0
    assert "data-status>active<" in ann.get(vics).text


def test_disabling_a_user_ends_their_sessions_and_tokens(
    ann: TestClient, vic: TestClient, db: Database
) -> None:
    mine = f"/admin/users/{user_id(db, 'vic@example.com')}"
    token = new_token(post(vic, f"{mine}/tokens", mine, name="script"))
    assert post(ann, f"{mine}/active", mine, active="0").status_code == 303
    assert vic.get("/admin/").status_code == 303  # signed out
    assert api_status(vic, token) == "UNAUTHENTICATED"
    assert post(ann, f"{mine}/active", mine, active="1").status_code == 303
    assert api_status(vic, token) == "OK"  # the token itself was never revoked
    # Nobody deactivates themselves.
    anns = f"/admin/users/{user_id(db, 'ann@example.com')}"
    refused = post(ann, f"{anns}/active", anns, active="0")
    assert refused.status_code == 400 and "You cannot deactivate yourself." in refused.text
    assert ann.get("/admin/").status_code == 200
