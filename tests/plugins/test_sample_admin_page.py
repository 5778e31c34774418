"""A page a third-party plugin adds to the admin UI: in the menu and reachable only for users
with the right, inside the admin layout, its forms CSRF-checked before the plugin sees them."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_user
from xrm.platform.settings import Settings

pytest_plugins = ["plugin_fixtures"]

PASSWORD = "correct horse battery"
PAGE = "/admin/plugins/sample/stamps"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def signed_in(settings: Settings, email: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as client:
        form = {"email": email, "password": PASSWORD}
        form["csrf"] = csrf_of(client.get("/admin/login").text)
        assert client.post("/admin/login", data=form).status_code == 303
        yield client


@pytest.fixture
def people(sample_installed: None, settings: Settings, registry: Registry, db: Database) -> None:
    registry.apply(definitions())
    with db.write() as conn:
        create_user(conn, "ann@example.com", ("admin",), password=PASSWORD)
        create_user(conn, "vic@example.com", ("viewer",), password=PASSWORD)


def test_an_admin_finds_the_plugins_page_in_the_menu_in_her_language(
    people: None, settings: Settings
) -> None:
    from xrm_sample_plugin import STAMPED

    STAMPED[:] = [{"label": "<b>new</b>", "id": None}]
    for ann in signed_in(settings, "ann@example.com"):
        ann.headers["Accept-Language"] = "ko"
        home = ann.get("/admin/").text
        assert f'<a href="{PAGE}">스탬프</a>' in home
        page = ann.get(PAGE)
        assert page.status_code == 200
        assert "<h1>스탬프</h1>" in page.text and "<p data-stamps>1</p>" in page.text
        assert "&lt;b&gt;new&lt;/b&gt;" in page.text  # the plugin escaped what it shows
        forged = ann.post(PAGE, data={"csrf": "forged"})
        assert forged.status_code == 403 and STAMPED  # refused before the plugin ran
        cleared = ann.post(PAGE, data={"csrf": csrf_of(page.text)})
        assert cleared.status_code == 200 and STAMPED == []


def test_a_user_without_the_right_neither_sees_nor_opens_it(
    people: None, settings: Settings
) -> None:
    for vic in signed_in(settings, "vic@example.com"):
        assert PAGE not in vic.get("/admin/").text
        assert vic.get(PAGE).status_code == 403
        page = vic.get("/admin/")
        answer: httpx.Response = vic.post(PAGE, data={"csrf": csrf_of(page.text)})
        assert answer.status_code == 403
    with TestClient(create_app(settings), follow_redirects=False) as stranger:
        assert stranger.get(PAGE).status_code == 303  # to the sign-in page


def test_an_admin_installs_the_sample_pack_from_the_plugins_page(
    people: None, settings: Settings, registry: Registry
) -> None:
    for ann in signed_in(settings, "ann@example.com"):
        page = ann.get("/admin/plugins").text
        assert 'data-pack="sample_helpdesk"' in page
        assert "A tiny help desk" in page and "record types: 1, workflows: 1" in page
        installed = ann.post("/admin/plugins/packs/sample_helpdesk", data={"csrf": csrf_of(page)})
        assert installed.status_code == 200 and "A tiny help desk is installed." in installed.text
        catalog = registry.current()
        assert "sample_ticket" in catalog.types and "stamp_tickets" in catalog.workflows
        again = ann.post("/admin/plugins/packs/sample_helpdesk", data={"csrf": csrf_of(page)})
        assert again.status_code == 200  # nothing to change, nothing refused
        assert (
            ann.post("/admin/plugins/packs/nope", data={"csrf": csrf_of(page)}).status_code == 403
        )
    for vic in signed_in(settings, "vic@example.com"):
        home = vic.get("/admin/").text
        refused = vic.post("/admin/plugins/packs/sample_helpdesk", data={"csrf": csrf_of(home)})
        assert refused.status_code == 403
