"""The plugins screen: what is installed, webhook destinations (set up and removed through
CSRF-checked forms, refused with the field named in the page's language) and the delivery log."""

from __future__ import annotations

import dataclasses
import re

import httpx
import pytest
from conftest import TestDatabase
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_signin import csrf_of

from xrm.platform.db import Database
from xrm.platform.settings import PluginSettings, Settings
from xrm.plugins.webhook import store

pytest_plugins = ["admin_clients"]

ALLOWED = "http://127.0.0.1:9/"


@pytest.fixture
def settings(test_database: TestDatabase) -> Settings:
    """The test database, with one allowed webhook receiver (nothing is ever sent to it)."""
    return dataclasses.replace(
        test_database.settings(), plugins=PluginSettings(webhook_allow=(ALLOWED,))
    )


def post(client: TestClient, path: str, **form: object) -> httpx.Response:
    html = client.get("/admin/plugins").text
    return client.post(path, data={"csrf": csrf_of(html), **form})  # type: ignore[dict-item]


def destinations(db: Database) -> dict[str, store.Destination]:
    with db.read() as conn:
        return {d.name: d for d in store.list_destinations(conn)}


def test_an_admin_sees_every_plugin_with_version_and_what_it_provides(ann: TestClient) -> None:
    html = ann.get("/admin/plugins").text
    assert '<a href="/admin/plugins">Plugins</a>' in html  # in the menu
    row = re.search(r'<tr data-plugin="webhook">(.*?)</tr>', html, re.S)
    assert row is not None
    assert "Workflow actions: webhook" in row.group(1) and "Listens to record changes" in row.group(
        1
    )
    assert re.search(r"<td>\d+\.\d+", row.group(1))  # its version
    assert 'data-plugin="email"' in html
    assert "Nothing delivered yet." in html


def test_a_user_without_the_right_neither_sees_nor_opens_it(vic: TestClient) -> None:
    assert "/admin/plugins" not in vic.get("/admin/").text
    assert vic.get("/admin/plugins").status_code == 403
    response = vic.post("/admin/plugins/destinations", data={"csrf": "x", "name": "erp"})
    assert response.status_code == 403


def test_a_destination_is_set_up_shown_without_its_secret_and_removed(
    ann: TestClient, db: Database
) -> None:
    response = post(
        ann,
        "/admin/plugins/destinations",
        name="erp",
        url=ALLOWED + "orders",
        secret="x" * 20,
        entity="customer",
        events=["create", "delete"],
    )
    assert response.status_code == 303
    saved = destinations(db)["erp"]
    assert (saved.entity, saved.events, saved.secret) == (
        "customer",
        ("create", "delete"),
        "x" * 20,
    )
    html = ann.get("/admin/plugins").text
    assert "Customer: Created, Deleted" in html and "x" * 20 not in html
    assert post(ann, "/admin/plugins/destinations/erp/remove").status_code == 303
    assert destinations(db) == {}


def test_a_refused_destination_names_each_field_in_korean(ann: TestClient, db: Database) -> None:
    ann.headers["Accept-Language"] = "ko"
    response = post(
        ann,
        "/admin/plugins/destinations",
        name="erp",
        url="http://169.254.169.254/latest",
        secret="short",
        entity="customer",
    )
    assert response.status_code == 400
    errors = re.search(r'<div role="alert">(.*?)</div>', response.text, re.S)
    assert errors is not None
    shown = errors.group(1)
    assert "<strong>주소(URL)</strong>: 169.254.169.254 은(는) 웹훅 허용 목록" in shown
    assert "<strong>비밀 키</strong>: 비밀 키는 16자 이상" in shown
    assert "<strong>이벤트</strong>: 보낼 이벤트를 하나 이상" in shown
    assert "data-untranslated" not in shown
    assert 'value="http://169.254.169.254/latest"' in response.text  # what was typed stays
    assert destinations(db) == {}


def test_the_delivery_log_shows_results_in_words_and_records_by_type(
    ann: TestClient, db: Database
) -> None:
    with db.write() as conn:
        for attempt, status, error in ((1, 500, "answered 500"), (2, 200, None)):
            store.log_delivery(
                conn,
                destination="erp",
                url=ALLOWED,
                event="update",
                entity="customer",
                record_id="01a24943-0000-7000-8000-000000000001",
                attempt=attempt,
                status_code=status,
                duration_ms=12,
                error=error,
                job_id=None,
            )
    html = ann.get("/admin/plugins").text
    rows = re.findall(r"<tr data-delivery.*?</tr>", html, re.S)
    assert len(rows) == 2
    assert "Answered 500." in html and "Answered 200." in html and "Changed" in html
    assert 'href="/admin/records/customer/01a24943-0000-7000-8000-000000000001">Customer<' in html
    assert not re.search(r">\s*01a24943-0000", html)  # the id is a link target, never text


@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.one_of(
        st.sampled_from(["erp", "a" * 41, "Bad Name", "", "x\x00"]), st.text(max_size=12)
    ),
    url=st.one_of(
        st.sampled_from(
            [
                ALLOWED + "in",
                "http://127.0.0.1:10/",
                "http://localhost:9/",
                "file:///etc/passwd",
                "http://127.0.0.1:9@evil/",
                "javascript:alert(1)",
            ]
        ),
        st.text(max_size=40),
    ),
    secret=st.one_of(st.just(""), st.text(max_size=30)),
    entity=st.sampled_from(["", "customer", "nope", "<script>"]),
    events=st.lists(st.sampled_from(["create", "update", "delete", "drop", ""]), max_size=3),
)
def test_whatever_is_posted_only_valid_allow_listed_destinations_are_stored(
    ann: TestClient, db: Database, name: str, url: str, secret: str, entity: str, events: list[str]
) -> None:
    """The model: the answer is a redirect (stored) or a 400 page listing what is wrong, never
    a 500 or a traceback; whatever is stored is allow-listed, named well and subscribes sanely."""
    with db.write() as conn:
        for stored in store.list_destinations(conn):
            store.remove_destination(conn, stored.name)
    response = post(
        ann,
        "/admin/plugins/destinations",
        name=name,
        url=url,
        secret=secret,
        entity=entity,
        events=events,
    )
    assert response.status_code in (303, 400)
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()
    for stored in destinations(db).values():
        assert stored.url.startswith(ALLOWED)
        assert re.fullmatch(r"[a-z][a-z0-9_]*", stored.name)
        assert set(stored.events) <= {"create", "update", "delete"}
        assert (stored.entity is None) == (not stored.events)
        assert len(stored.secret) >= 16
