"""The search over all records, /admin/search?q=: display fields of every readable type.

Records are made through the record service; the search runs through the
real application as a signed-in user, so the access rules are the ones that
user has (Sam, a sales role, reads customers and partners but no revenue,
and no grievance).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_signin import PASSWORD

from xrm.admin_ui import search as search_screen
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_user, find_user
from xrm.platform.settings import Settings

pytest_plugins = ["admin_clients"]

SALES_ROLE = {
    "role": "sales",
    "title": "Sales",
    "entities": {
        "customer": {"read": "own", "fields": {"revenue": "hidden"}},
        "partner": {"read": "all"},
    },
}


def make(service: RecordService, db: Database, by: str, entity: str, **values: Any) -> str:
    with db.read() as conn:
        who = find_user(conn, by)
    assert who is not None
    with service.session(who, "api") as records:
        return str(records.create(entity, values)["id"])


def found(html: str) -> dict[str, list[str]]:
    """{type: [record id]} of the results on a search page."""
    out: dict[str, list[str]] = {}
    for entity, body in re.findall(
        r'<section class="found" data-type="(\w+)"(.*?)</section>', html, re.S
    ):
        out[entity] = re.findall(rf'href="/admin/records/{entity}/([0-9a-f-]+)"', body)
    return out


@pytest.fixture
def service(app_settings: Settings, db: Database, registry: Registry) -> RecordService:
    return RecordService(db, registry, app_settings)


@pytest.fixture
def sam(app_settings: Settings, registry: Registry, db: Database) -> Iterator[TestClient]:
    from admin_clients import client_for

    registry.apply([SALES_ROLE])
    with db.write() as conn:
        create_user(conn, "sam@example.com", ("sales",), password=PASSWORD)
    yield from client_for(app_settings, "sam@example.com")


def test_matches_are_grouped_by_type_with_labels_and_links(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    acme = make(service, db, "ann@example.com", "customer", name="Acme Corp")
    partner = make(service, db, "ann@example.com", "partner", name="ACME Partners")
    grievance = make(service, db, "ann@example.com", "grievance", subject="Acme late again")
    make(service, db, "ann@example.com", "customer", name="Borealis")
    page = ann.get("/admin/search?q=acme")
    assert page.status_code == 200
    assert found(page.text) == {
        "customer": [acme],
        "grievance": [grievance],
        "partner": [partner],
    }
    assert '<h2 id="found-customer">Customer</h2>' in page.text
    assert f'<a href="/admin/records/customer/{acme}">Acme Corp</a>' in page.text
    assert 'value="acme"' in page.text.split("</header>", 1)[0]  # the header box keeps the text
    korean = ann.get("/admin/search?q=acme", headers={"Accept-Language": "ko"}).text
    assert '<h2 id="found-customer">고객</h2>' in korean
    nothing = ann.get("/admin/search?q=zzz").text
    assert found(nothing) == {} and "No record's name contains “zzz”." in nothing
    assert found(ann.get("/admin/search").text) == {}


def test_at_most_a_few_per_type_with_a_link_to_the_searched_list(
    ann: TestClient, service: RecordService, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_screen, "PER_TYPE", 2)
    names = ["Delta One", "Delta Two", "Delta Three"]
    for name in names:
        make(service, db, "ann@example.com", "customer", name=name)
    page = ann.get("/admin/search?q=delta").text
    assert len(found(page)["customer"]) == 2
    more = re.search(
        r'<a href="(/admin/records/customer\?q=delta)">All matching Customer records', page
    )
    assert more, page
    assert len(re.findall(r"<tr data-record=", ann.get(more.group(1)).text)) == 3


def test_the_access_rules_hold(sam: TestClient, service: RecordService, db: Database) -> None:
    theirs = make(service, db, "ann@example.com", "customer", name="Orbit Ltd")
    make(service, db, "ann@example.com", "grievance", subject="Orbit broke")
    partner = make(service, db, "ann@example.com", "partner", name="Orbit Partners")
    page = sam.get("/admin/search?q=orbit").text
    # Sam reads only his own customers (none) and no grievance; every partner.
    assert found(page) == {"partner": [partner]}
    assert theirs not in page and "Orbit broke" not in page


def test_fields_hidden_from_the_user_are_not_searched(
    sam: TestClient, service: RecordService, db: Database, registry: Registry
) -> None:
    registry.apply(
        [{**SALES_ROLE, "entities": {"partner": {"read": "all", "fields": {"name": "hidden"}}}}]
    )
    make(service, db, "ann@example.com", "partner", name="Zircon", email="z@example.com")
    page = sam.get("/admin/search?q=zircon").text
    assert found(page) == {} and "Zircon" not in page


HOSTILE = st.one_of(
    st.sampled_from(
        [
            "%",
            "_",
            "%%",
            "a_c",
            "'",
            '"',
            "' OR 1=1 --",
            "\\",
            "\x00",
            "a\x00b",
            "ÄCME",
            "에이",
            "🙂",
        ]
    ),
    st.text(max_size=40),
    st.text(min_size=190, max_size=260),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(q=HOSTILE)
@example(q="Acme")
@example(q="%cme")
@example(q="100%")
@example(q="a_c")
def test_any_text_is_searched_as_typed_and_never_shows_what_the_user_may_not_read(
    sam: TestClient, service: RecordService, db: Database, q: str
) -> None:
    """The model: a customer, a partner and a grievance, of which Sam reads only the partners.
    The results are exactly the partners whose name contains q as typed (``%`` and ``_`` are
    no wildcards; ASCII case ignored), and nothing else; no text makes the page fail."""
    partners = model(service, db)
    page = sam.get("/admin/search", params={"q": q})
    assert page.status_code == 200
    assert "Traceback" not in page.text and "sqlalchemy" not in page.text.lower()
    results = found(page.text)
    assert set(results) <= {"partner"}
    query = q.strip()
    searched = bool(query) and len(query) <= search_screen.MAX_LENGTH and "\x00" not in query
    expected = [
        rid for rid, name in partners if searched and ascii_lower(query) in ascii_lower(name)
    ]
    assert sorted(results.get("partner", [])) == sorted(expected)


def ascii_lower(text: str) -> str:
    return text.translate(str.maketrans(string.ascii_uppercase, string.ascii_lowercase))


PARTNERS = ("Acme 100% Partners", "a_c Holdings", "에이스 파트너스", "Plain 'Co'")


def model(service: RecordService, db: Database) -> list[tuple[str, str]]:
    """The model's records, made by Ann on the first example (hypothesis keeps the database
    of a test for all its examples): [(id, name)] of the partners."""
    with db.read() as conn:
        ann = find_user(conn, "ann@example.com")
    assert ann is not None
    with service.session(ann, "api") as records:
        shown = records.query("partner", first=50, with_total=False).items
    if not shown:
        for name in PARTNERS:
            make(service, db, "ann@example.com", "partner", name=name)
        make(service, db, "ann@example.com", "customer", name="Acme Secret")
        make(service, db, "ann@example.com", "grievance", subject="Acme broke")
        return model(service, db)
    return [(str(r["id"]), str(r["name"])) for r in shown]
