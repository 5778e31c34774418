"""A list's address is clean: no empty parameter, no default, whatever form or link led there.

A filter form sent without JavaScript names every input, empty or not
(``?q=&sort=&status.eq=...``); the list answers with a 303 to the address that
says only what is asked, so that is what gets bookmarked and shared. An htmx
request is answered in place, with ``HX-Push-Url`` naming the clean address for
the address bar. Server tests through the real application, on SQLite or
PostgreSQL as the run is configured.
"""

from __future__ import annotations

import html as htmlmod
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_record_filters import contracts  # noqa: F401 (fixture)
from test_record_screens import service  # noqa: F401 (fixture)

pytest_plugins = ["admin_clients"]

LIST = "/admin/records/contract"
HTMX = {"HX-Request": "true"}
# What the filter form of the contract list sends without JavaScript when nothing is chosen.
EMPTY_FORM = [
    ("status.eq", ""),
    ("billing_cycle.eq", ""),
    ("auto_renew.eq", ""),
    ("q", ""),
    ("sort", "title"),
    ("dir", "asc"),
    ("value.min", ""),
    ("value.max", ""),
    ("signed_on.from", ""),
    ("title.contains", ""),
    ("customer.tier", ""),
]


def ids_in(html: str) -> list[str]:
    return re.findall(r'<tr data-record="([^"]+)"', html)


def problems(html: str) -> list[str]:
    """The problems shown on the page (refused filters, an old page), in order."""
    found = re.findall(r'<p class="(?:field-)?error"[^>]*>([^<]*)</p>', html)
    return [htmlmod.unescape(p) for p in found]


def test_an_empty_filter_form_sent_without_javascript_lands_on_the_bare_list(
    ann: TestClient,
    contracts: list[dict[str, Any]],  # noqa: F811
) -> None:
    sent = ann.get(f"{LIST}?{urlencode(EMPTY_FORM)}")
    assert sent.status_code == 303
    assert sent.headers["location"] == LIST
    assert len(ids_in(ann.get(LIST).text)) == len(contracts)
    htmx = ann.get(f"{LIST}?{urlencode(EMPTY_FORM)}", headers=HTMX)
    assert htmx.status_code == 200 and htmx.headers["HX-Push-Url"] == LIST
    assert len(ids_in(htmx.text)) == len(contracts)


def test_what_was_asked_stays_and_only_that(
    ann: TestClient,
    contracts: list[dict[str, Any]],  # noqa: F811
) -> None:
    form = dict(EMPTY_FORM) | {"q": "  a ", "value.min": "100", "sort": "updated_at", "dir": "desc"}
    sent = ann.get(f"{LIST}?{urlencode(form)}")
    assert sent.status_code == 303
    assert parse_qsl(urlsplit(sent.headers["location"]).query) == [
        ("value.min", "100"),
        ("q", "a"),
        ("sort", "updated_at"),
        ("dir", "desc"),
    ]
    # A refused filter stays in the address with its problem, to be corrected there.
    refused = ann.get(f"{LIST}?{urlencode(dict(EMPTY_FORM) | {'value.min': 'lots'})}")
    assert refused.headers["location"] == f"{LIST}?value.min=lots"
    page = ann.get(refused.headers["location"])
    assert page.status_code == 200
    assert "Enter a number of at most 28 digits." in problems(page.text)
    # The list's own links are clean already: sorting and removing a chip do not redirect.
    for link in re.findall(r'href="(/admin/records/contract\?[^"]*)"', page.text):
        assert ann.get(htmlmod.unescape(link)).status_code == 200, link


KEYS = [
    "q",
    "sort",
    "dir",
    "columns",
    "after",
    "deleted",
    "status.eq",
    "status",
    "auto_renew.eq",
    "value.min",
    "signed_on.to",
    "title.contains",
    "customer.tier",
    "customer.id",
    "customer",
    "bogus.min",
]
VALUES = [
    "",
    " ",
    "asc",
    "desc",
    "title",
    "value",
    "updated_at",
    "status",
    "title,value",
    "active",
    "draft",
    "1",
    "0",
    "2",
    "100",
    "2026-02-28",
    "gold",
    "a",
    "lots",
    "01a24c73-c5e5-72fd-864b-0dc95c69e147",
    "x\x00",
    "<b>&",
]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    query=st.lists(
        st.tuples(
            st.sampled_from(KEYS) | st.text(max_size=6),
            st.sampled_from(VALUES) | st.text(max_size=12),
        ),
        max_size=6,
    )
)
def test_the_clean_address_shows_what_the_raw_one_shows_and_stays_clean(
    ann: TestClient,
    contracts: list[dict[str, Any]],  # noqa: F811
    query: list[tuple[str, str]],
) -> None:
    raw = f"{LIST}?{urlencode(query)}" if query else LIST
    asked = ann.get(raw, headers=HTMX)  # answered in place, as the raw address reads
    assert asked.status_code == 200, asked.text[:300]
    clean = asked.headers.get("HX-Push-Url", raw)
    plain = ann.get(raw)
    if clean == raw:
        assert plain.status_code == 200
    else:
        assert plain.status_code == 303 and plain.headers["location"] == clean
    params = parse_qsl(urlsplit(clean).query, keep_blank_values=True)
    assert all(value for _name, value in params), clean  # no empty parameter left
    assert ("dir", "asc") not in params  # the default direction is never spelled out
    landed = ann.get(clean)
    assert landed.status_code == 200  # cleaning a clean address changes nothing
    assert ids_in(landed.text) == ids_in(asked.text)
    assert problems(landed.text) == problems(asked.text)
    again = ann.get(clean, headers=HTMX)
    assert "HX-Push-Url" not in again.headers
