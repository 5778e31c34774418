"""Finding one's way: breadcrumbs on every page, htmx partial lists, bookmarkable list addresses.

Server tests through the real application with a signed-in cookie. A list
fetched by htmx (``HX-Request: true``) answers only the list, a plain request
the whole page, both with the same records; filters are ``<field>.eq=`` in the
address so that a field called ``sort`` or ``q`` cannot be mistaken for the
list's own parameters, while older ``?status=open`` links keep working.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import find_user
from xrm.platform.settings import Settings

pytest_plugins = ["admin_clients"]

HTMX = {"HX-Request": "true"}

# A type whose fields are named like the list's own parameters.
TICKET = {
    "type": "object",
    "title": "Ticket",
    "x-xrm": {"name": "ticket", "plural": "tickets", "label": {"en": "Ticket", "ko": "티켓"}},
    "properties": {
        "title": {"type": "string", "maxLength": 100},
        "sort": {
            "type": "string",
            "enum": ["bug", "idea"],
            "x-xrm-label": {"en": "Sort", "ko": "종류"},
        },
        "q": {"type": "string", "enum": ["yes", "no"], "x-xrm-label": {"en": "Q", "ko": "질문"}},
        "status": {"type": "string", "enum": ["open", "closed"]},
    },
}


def make(service: RecordService, db: Database, entity: str, **values: Any) -> dict[str, Any]:
    with db.read() as conn:
        ann = find_user(conn, "ann@example.com")
    assert ann is not None
    with service.session(ann, "api") as records:
        return records.create(entity, values)


@pytest.fixture
def service(app_settings: Settings, db: Database, registry: Registry) -> RecordService:
    return RecordService(db, registry, app_settings)


def ids_in(html: str) -> list[str]:
    return re.findall(r'<tr data-record="([^"]+)"', html)


def crumbs_of(html: str) -> list[tuple[str | None, str]]:
    """The breadcrumb trail as (link or None for the current page, label)."""
    found = re.search(r'<nav class="crumbs" aria-label="[^"]+">(.*?)</nav>', html, re.S)
    assert found, html
    out: list[tuple[str | None, str]] = []
    for item in re.findall(r"<li>(.*?)</li>", found.group(1), re.S):
        link = re.fullmatch(r'<a href="([^"]+)">(.*)</a>', item)
        if link:
            out.append((link.group(1), link.group(2)))
        else:
            current = re.fullmatch(r'<span aria-current="page">(.*)</span>', item)
            assert current, item
            out.append((None, current.group(1)))
    return out


# --- breadcrumbs -------------------------------------------------------------------------------


def test_every_page_has_a_trail_from_home_to_itself(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    acme = make(service, db, "customer", name="Acme Corp")
    with db.read() as conn:
        ann_user = find_user(conn, "ann@example.com")
    assert ann_user is not None
    expected = {
        "/admin/": [(None, "Home")],
        "/admin/records/customer": [("/admin/", "Home"), (None, "Customer")],
        f"/admin/records/customer/{acme['id']}": [
            ("/admin/", "Home"),
            ("/admin/records/customer", "Customer"),
            (None, "Acme Corp"),
        ],
        "/admin/records/customer/new": [
            ("/admin/", "Home"),
            ("/admin/records/customer", "Customer"),
            (None, "New record"),
        ],
        "/admin/users": [("/admin/", "Home"), (None, "Users")],
        f"/admin/users/{ann_user.id}": [
            ("/admin/", "Home"),
            ("/admin/users", "Users"),
            (None, "ann@example.com"),
        ],
        "/admin/roles": [("/admin/", "Home"), (None, "Roles")],
        "/admin/roles/viewer": [("/admin/", "Home"), ("/admin/roles", "Roles"), (None, "viewer")],
        "/admin/jobs": [("/admin/", "Home"), (None, "Jobs")],
        "/admin/types": [("/admin/", "Home"), (None, "Types")],
        "/admin/types/customer": [
            ("/admin/", "Home"),
            ("/admin/types", "Types"),
            (None, "Customer"),
        ],
        "/admin/workflows": [("/admin/", "Home"), (None, "Workflows")],
        "/admin/plugins": [("/admin/", "Home"), (None, "Plugins")],
        "/admin/search?q=acme": [("/admin/", "Home"), (None, "Search")],
    }
    for path, trail in expected.items():
        page = ann.get(path)
        assert page.status_code == 200, path
        assert crumbs_of(page.text) == trail, path
    korean = ann.get(f"/admin/records/customer/{acme['id']}", headers={"Accept-Language": "ko"})
    assert crumbs_of(korean.text) == [
        ("/admin/", "홈"),
        ("/admin/records/customer", "고객"),
        (None, "Acme Corp"),
    ]


def test_every_page_declares_the_language_it_is_written_in(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    """``<html lang>`` is the language the page speaks (screen readers and fonts follow it)."""
    acme = make(service, db, "customer", name="Acme Corp")
    paths = [
        "/admin/",
        "/admin/records/customer",
        f"/admin/records/customer/{acme['id']}",
        "/admin/records/customer/new",
        "/admin/users",
        "/admin/roles",
        "/admin/jobs",
        "/admin/types/customer",
        "/admin/workflows",
        "/admin/plugins",
        "/admin/import",
        "/admin/search?q=acme",
    ]
    for asked, lang, home in (("ko-KR,ko;q=0.9", "ko", "홈"), ("en-GB", "en", "Home")):
        for path in paths:
            page = ann.get(path, headers={"Accept-Language": asked})
            assert page.status_code == 200, path
            assert page.text.startswith(f'<!doctype html>\n<html lang="{lang}">'), path
            assert page.headers["Content-Language"] == lang, path
            assert crumbs_of(page.text)[0][1] == home, path


def test_a_user_who_manages_nobody_sees_their_own_page_under_home(vic: TestClient) -> None:
    home = vic.get("/admin/").text
    own = re.search(r'href="(/admin/users/[^"]+)">My account', home)
    assert own
    assert crumbs_of(vic.get(own.group(1)).text) == [("/admin/", "Home"), (None, "vic@example.com")]


def test_every_signed_in_page_has_the_search_box_in_its_header(ann: TestClient) -> None:
    for path in ("/admin/", "/admin/roles", "/admin/records/customer"):
        header = ann.get(path).text.split("<header>", 1)[1].split("</header>", 1)[0]
        assert '<form method="get" action="/admin/search" class="find" role="search">' in header
        assert '<label for="find-q"' in header


# --- htmx ---------------------------------------------------------------------------------------


def test_htmx_is_served_from_the_npm_package_and_loaded_by_every_page(ann: TestClient) -> None:
    script = ann.get("/admin/vendor/htmx.min.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "htmx" in script.text[:2000]
    assert ann.get("/admin/vendor/htmx.js").status_code == 404  # only the listed files
    assert ann.get("/admin/vendor/..%2Fpackage.json").status_code == 404
    page = ann.get("/admin/records/customer").text
    assert '<script src="/admin/vendor/htmx.min.js" defer></script>' in page


def test_an_htmx_request_gets_only_the_list_and_a_plain_one_the_whole_page(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    for name in ("Acme", "Acorn", "Borealis"):
        make(service, db, "customer", name=name)
    whole = ann.get("/admin/records/customer?q=ac")
    part = ann.get("/admin/records/customer?q=ac", headers=HTMX)
    assert whole.status_code == part.status_code == 200
    assert "<html" in whole.text and "<header>" in whole.text
    assert "<html" not in part.text and "<header>" not in part.text
    assert part.text.lstrip().startswith("<div") and 'id="listing"' in part.text
    assert ids_in(part.text) == ids_in(whole.text) and len(ids_in(part.text)) == 2
    # The part keeps what the whole page's list has: the search form, the CSRF token for
    # the bulk delete, the filters, and is in the page's language.
    assert 'name="csrf"' in part.text and 'hx-get="/admin/records/customer"' in part.text
    korean = ann.get("/admin/records/customer", headers={**HTMX, "Accept-Language": "ko"})
    assert "검색" in korean.text
    # Going back in history restores a whole page.
    restore = ann.get(
        "/admin/records/customer?q=ac", headers={**HTMX, "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.text
    assert "HX-Request" in whole.headers["vary"]


def test_the_search_form_updates_the_list_in_place_and_keeps_the_address(
    ann: TestClient,
) -> None:
    page = ann.get("/admin/records/grievance").text
    form = re.search(r'<form method="get" action="/admin/records/grievance"[^>]*>', page)
    assert form, page
    tag = form.group(0)
    assert 'hx-target="#listing"' in tag and 'hx-push-url="true"' in tag
    assert 'hx-get="/admin/records/grievance"' in tag
    # Without JavaScript the same form is a plain GET to the same address.
    assert 'method="get"' in tag


# --- bookmarkable list addresses ---------------------------------------------------------------


def test_fields_named_like_the_lists_parameters_filter_through_dotted_names(
    ann: TestClient, service: RecordService, db: Database, registry: Registry
) -> None:
    registry.apply([TICKET])
    bug = make(service, db, "ticket", title="Crash", sort="bug", q="yes", status="open")
    idea = make(service, db, "ticket", title="Dark mode", sort="idea", q="no", status="open")
    closed = make(service, db, "ticket", title="Typo", sort="bug", q="no", status="closed")
    page = ann.get("/admin/records/ticket?sort.eq=bug").text
    assert set(ids_in(page)) == {bug["id"], closed["id"]}
    assert '<select id="filter-sort" name="sort.eq">' in page
    assert ids_in(ann.get("/admin/records/ticket?q.eq=no&q=dark").text) == [idea["id"]]
    # ?sort= is still the list's sort, not a filter on the field called sort.
    by_title = ann.get("/admin/records/ticket?sort=title&dir=desc").text
    assert ids_in(by_title) == [closed["id"], idea["id"], bug["id"]]
    # Sorting a filtered list keeps the filter in the address it links to.
    sorted_link = re.search(r'data-column="title"[^>]*><a href="([^"]+)"', page)
    assert sorted_link
    followed = ann.get(sorted_link.group(1).replace("&amp;", "&")).text
    assert set(ids_in(followed)) == {bug["id"], closed["id"]}
    # An old link (?status=open) still works for a field whose name collides with nothing.
    assert set(
        ids_in(ann.get("/admin/records/ticket?status=open", follow_redirects=True).text)
    ) == {
        bug["id"],
        idea["id"],
    }


def test_a_related_records_link_opens_the_narrowed_list(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    acme = make(service, db, "customer", name="Acme")
    other = make(service, db, "customer", name="Borealis")
    mine = make(service, db, "contract", title="Support", customer=acme["id"])
    make(service, db, "contract", title="Elsewhere", customer=other["id"])
    page = ann.get(f"/admin/records/customer/{acme['id']}").text
    more = re.search(r'href="(/admin/records/contract\?customer\.id=[^"]+)"', page)
    assert more, page
    assert ids_in(ann.get(more.group(1)).text) == [mine["id"]]
    # The old form of the same link still opens the same list.
    assert ids_in(
        ann.get(f"/admin/records/contract?customer={acme['id']}", follow_redirects=True).text
    ) == [mine["id"]]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["q", "sort", "dir", "after", "columns", "status.eq", "status", "x.eq", "customer.id"]
        )
        | st.text(max_size=8),
        st.text(max_size=30),
        max_size=4,
    )
)
def test_any_address_of_a_list_opens_it_or_says_why(
    ann: TestClient, params: dict[str, str]
) -> None:
    for headers in ({}, HTMX):
        page = ann.get(
            "/admin/records/grievance", params=params, headers=headers, follow_redirects=True
        )
        assert page.status_code == 200, (params, page.text[:500])
        assert len(page.history) <= 1  # at most one redirect, to the clean address
        assert "Traceback" not in page.text and "sqlalchemy" not in page.text.lower()
