"""Signing in to the admin UI, and every way of getting in without the right to.

Through the whole ASGI application: real cookies, real forms, real redirects.
(tests/e2e/test_admin_browser.py does the same in a real browser.)
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform import tables, throttle
from xrm.platform.db import Database
from xrm.platform.identity import create_user
from xrm.platform.keys import sign
from xrm.platform.settings import Settings

PASSWORD = "correct horse battery"


@pytest.fixture
def app_settings(settings: Settings, registry: Registry, db: Database) -> Settings:
    registry.apply(definitions())
    with db.write() as conn:
        create_user(conn, "ann@example.com", ("admin",), name="Ann", password=PASSWORD)
        create_user(conn, "nopass@example.com", ("viewer",))
        create_user(conn, "gone@example.com", ("viewer",), password=PASSWORD)
        conn.execute(
            tables.users.update()
            .where(tables.users.c.email == "gone@example.com")
            .values(active=False)
        )
    return settings


def browser(settings: Settings, address: str = "203.0.113.7") -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False, client=(address, 50000)) as c:
        yield c


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    yield from browser(app_settings)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(
    client: TestClient, email: str = "ann@example.com", password: str = PASSWORD, **extra: str
) -> httpx.Response:
    page = client.get("/admin/login")
    assert page.status_code == 200
    form = {"email": email, "password": password, "csrf": csrf_of(page.text), **extra}
    return client.post("/admin/login", data=form)


def test_the_sign_in_page_has_the_one_form_of_the_contract(client: TestClient) -> None:
    page = client.get("/admin/login", headers={"Accept-Language": "en-US,en;q=0.8"})
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert page.text.count("<form") == 1
    assert 'name="email"' in page.text and 'name="password"' in page.text
    cookie = page.headers["set-cookie"]
    assert "xrm_login=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert page.headers["cache-control"] == "no-store"


def test_signing_in_and_out(client: TestClient) -> None:
    assert client.get("/admin/").headers["location"] == "/admin/login?next=/admin/"
    done = sign_in(client)
    assert done.status_code == 303 and done.headers["location"] == "/admin/"
    cookie = done.headers["set-cookie"]
    assert "xrm_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = client.get("/admin/")
    assert home.status_code == 200
    assert "ann@example.com" in home.text
    assert 'data-type="customer"' in home.text
    # Already signed in: the sign-in page sends one on.
    assert client.get("/admin/login").status_code == 303
    out = client.post("/admin/logout", data={"csrf": csrf_of(home.text)})
    assert out.status_code == 303 and out.headers["location"] == "/admin/login"
    assert client.get("/admin/").status_code == 303


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ann@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("gone@example.com", PASSWORD),  # disabled
        ("nopass@example.com", ""),  # has no password at all
        ("", ""),
    ],
)
def test_every_failed_sign_in_looks_the_same(client: TestClient, email: str, password: str) -> None:
    response = sign_in(client, email, password)
    assert response.status_code == 401
    assert "Wrong e-mail or password." in response.text
    assert "xrm_session" not in client.cookies
    assert client.get("/admin/").status_code == 303


def test_a_sign_in_without_the_forms_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/admin/login")
    for csrf in (None, "", "forged"):
        form = {"email": "ann@example.com", "password": PASSWORD}
        if csrf is not None:
            form["csrf"] = csrf
        response = client.post("/admin/login", data=form)
        assert response.status_code == 403
        assert "xrm_session" not in client.cookies
    # A token from another browser (another cookie) does not fit this one either.
    other = TestClient(client.app, follow_redirects=False)
    stolen = csrf_of(other.get("/admin/login").text)
    response = client.post(
        "/admin/login", data={"email": "ann@example.com", "password": PASSWORD, "csrf": stolen}
    )
    assert response.status_code == 403


def test_sign_out_needs_the_sessions_csrf_token(client: TestClient) -> None:
    sign_in(client)
    for form in ({}, {"csrf": "forged"}):
        assert client.post("/admin/logout", data=form).status_code == 403
    assert client.get("/admin/").status_code == 200  # still signed in


def test_forged_and_replayed_session_cookies_get_nowhere(
    client: TestClient, app_settings: Settings
) -> None:
    for forged in ("garbage", "abc.def", sign(b"another key", "token", "xrm_session")):
        client.cookies.set("xrm_session", forged, path="/admin")
        assert client.get("/admin/").status_code == 303
    client.cookies.clear()
    sign_in(client)
    stolen = client.cookies.get("xrm_session")
    home = client.get("/admin/")
    client.post("/admin/logout", data={"csrf": csrf_of(home.text)})
    for c in browser(app_settings, "198.51.100.9"):
        c.cookies.set("xrm_session", stolen, path="/admin")
        assert c.get("/admin/").status_code == 303  # signed out means gone, everywhere


def test_a_disabled_user_loses_open_sessions(client: TestClient, db: Database) -> None:
    sign_in(client)
    assert client.get("/admin/").status_code == 200
    with db.write() as conn:
        conn.execute(
            tables.users.update()
            .where(tables.users.c.email == "ann@example.com")
            .values(active=False)
        )
    assert client.get("/admin/").status_code == 303


def test_failed_sign_ins_slow_down_but_never_lock_out(
    client: TestClient, app_settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The throttle's clock is held still: the first wait is one second, which a loaded
    # machine could spend between the guesses and the right password.
    still = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    monkeypatch.setattr(throttle, "_now", lambda: still)
    for _ in range(4):  # three free failures, then a wait begins
        assert sign_in(client, password="guess").status_code == 401
    refused = sign_in(client)  # even the right password waits its turn
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "xrm_session" not in client.cookies
    # The same account from another address is not locked out by this one's guesses.
    for other in browser(app_settings, "198.51.100.20"):
        assert sign_in(other).status_code == 303
    # Once the wait is over, the right password works here too.
    with db.write() as conn:
        conn.execute(
            tables.signin_failures.update().values(blocked_until=still - dt.timedelta(seconds=1))
        )
    assert sign_in(client).status_code == 303


def test_the_wait_doubles_and_has_a_ceiling(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    still = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)  # the throttle's clock, held still
    monkeypatch.setattr(throttle, "_now", lambda: still)
    waits = []
    for _ in range(14):  # 2 ** 10 seconds would be past the ceiling
        sign_in(client, password="guess")
        with db.read() as conn:
            row = conn.execute(
                sa.select(tables.signin_failures.c.blocked_until).where(
                    tables.signin_failures.c.key == "pair:ann@example.com|203.0.113.7"
                )
            ).scalar()
        waits.append(None if row is None else (row - still).total_seconds())
        with db.write() as conn:  # let the next attempt through to count it
            conn.execute(tables.signin_failures.update().values(blocked_until=None))
    assert waits[:3] == [None, None, None]
    assert waits[3:8] == [1, 2, 4, 8, 16]
    assert waits[-1] == throttle.PAIR.ceiling.total_seconds() == 15 * 60


def test_the_next_page_stays_inside_the_admin_ui(client: TestClient) -> None:
    assert sign_in(client, next="/admin/records/customer").headers["location"] == (
        "/admin/records/customer"
    )
    client.cookies.clear()
    for evil in ("https://evil.example/", "//evil.example/admin/", "/admin/\\evil", "/graphql"):
        assert sign_in(client, next=evil).headers["location"] == "/admin/"
        client.cookies.clear()


def test_the_page_language_follows_the_user_then_the_browser(
    client: TestClient, db: Database
) -> None:
    korean = {"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"}
    page = client.get("/admin/login", headers=korean)
    assert '<html lang="ko">' in page.text and "로그인" in page.text
    assert page.headers["content-language"] == "ko"
    assert '<html lang="en">' in client.get("/admin/login", headers={"Accept-Language": "fr"}).text
    sign_in(client)
    assert "엔터티 유형" in client.get("/admin/", headers=korean).text
    with db.write() as conn:
        conn.execute(tables.users.update().values(locale="en-GB"))
    assert '<html lang="en">' in client.get("/admin/", headers=korean).text


def test_right_passwords_never_count_against_the_address(client: TestClient) -> None:
    """Each attempt is counted before its password is checked; a right one takes that back."""
    for _ in range(throttle.ADDRESS.free + 2):
        assert sign_in(client).status_code == 303
        client.cookies.clear()
    for _ in range(throttle.PAIR.free):  # the free wrong guesses are all still there
        assert sign_in(client, password="guess").status_code == 401
    assert sign_in(client).status_code == 303
