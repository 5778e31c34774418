"""The record screens: list, search, sort, pages, forms, errors beside their fields, history.

Every test goes through the real application with a signed-in cookie, on
SQLite or PostgreSQL as the run is configured; writes go through the record
service as the signed-in user on channel ``admin``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from test_signin import PASSWORD, csrf_of

from xrm.admin_ui import record_views
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_user, find_user
from xrm.platform.settings import Settings

pytest_plugins = ["admin_clients"]

SALES_ROLE = {
    "role": "sales",
    "title": "Sales",
    "entities": {
        "customer": {
            "read": "all",
            "create": "all",
            "update": "all",
            "fields": {"revenue": "hidden", "tier": "read_only"},
        },
        "partner": {"read": "all"},
    },
}


def client_for(settings: Settings, email: str) -> Iterator[TestClient]:
    """``admin_clients.client_for``, imported once pytest has loaded it as this module's plugin."""
    from admin_clients import client_for as signed_in_client

    return signed_in_client(settings, email)


def actor(db: Database, email: str) -> Actor:
    with db.read() as conn:
        found = find_user(conn, email)
    assert found is not None
    return found


def make(service: RecordService, db: Database, entity: str, **values: Any) -> dict[str, Any]:
    with service.session(actor(db, "ann@example.com"), "api") as records:
        return records.create(entity, values)


@pytest.fixture
def service(app_settings: Settings, db: Database, registry: Registry) -> RecordService:
    return RecordService(db, registry, app_settings)


@pytest.fixture
def sam(app_settings: Settings, registry: Registry, db: Database) -> Iterator[TestClient]:
    """A user whose role reads customers (without revenue) and partners, and nothing else."""
    registry.apply([SALES_ROLE])
    with db.write() as conn:
        create_user(conn, "sam@example.com", ("sales",), password=PASSWORD)
    yield from client_for(app_settings, "sam@example.com")


def submit(client: TestClient, page: str, action: str | None = None, **form: Any) -> httpx.Response:
    """Post a form with the CSRF token of ``page`` (to ``page`` itself unless ``action``)."""
    html = client.get(page).text
    return client.post(action or page, data={"csrf": csrf_of(html), **form})


def field_error(html: str, name: str) -> str:
    """The error shown beside the input ``name`` ('' when none)."""
    block = re.search(rf'<div class="field[^"]*" data-field="{name}">(.*?)</div>', html, re.S)
    assert block, name
    found = re.search(r'<p class="field-error" id="e-[a-z_]+">([^<]*)</p>', block.group(1))
    return found.group(1) if found else ""


def input_value(html: str, name: str) -> str:
    found = re.search(rf'<input id="f-{name}" name="{name}" [^>]*value="([^"]*)"', html)
    assert found, name
    return found.group(1)


def names_in_list(html: str) -> list[str]:
    return re.findall(r'<th scope="row" data-label="[^"]*"><a href="[^"]+">([^<]+)</a>', html)


# --- the home page and access ------------------------------------------------------------------


def test_the_home_page_links_each_readable_type_by_its_label(ann: TestClient) -> None:
    home = ann.get("/admin/", headers={"Accept-Language": "ko"})
    link = '<a href="/admin/records/customer"><span class="name">고객</span>'
    assert f'<li data-type="customer">{link}' in home.text
    assert 'data-type="grievance"' in home.text


def test_a_type_the_role_cannot_read_is_not_offered_and_its_pages_are_refused(
    sam: TestClient, service: RecordService, db: Database
) -> None:
    home = sam.get("/admin/").text
    assert 'data-type="customer"' in home and 'data-type="grievance"' not in home
    grievance = make(service, db, "grievance", subject="Late delivery")
    for path in (
        "/admin/records/grievance",
        "/admin/records/grievance/new",
        f"/admin/records/grievance/{grievance['id']}",
    ):
        assert sam.get(path).status_code == 403, path
    refused = submit(
        sam, "/admin/records/customer/new", "/admin/records/grievance/new", subject="x"
    )
    assert refused.status_code == 403
    assert sam.get("/admin/records/no_such_type").status_code == 404


def test_hidden_fields_are_nowhere_and_read_only_ones_cannot_be_changed(
    sam: TestClient, service: RecordService, db: Database
) -> None:
    acme = make(service, db, "customer", name="Acme", revenue="1000000", tier="gold")
    listing = sam.get("/admin/records/customer").text
    assert 'data-column="revenue"' not in listing and "1000000" not in listing
    page = sam.get(f"/admin/records/customer/{acme['id']}").text
    assert 'data-field="revenue"' not in page and "1000000" not in page
    assert '<input id="f-tier" type="text" value="Gold" readonly>' in page
    saved = submit(sam, f"/admin/records/customer/{acme['id']}", name="Acme Ltd", tier="vip")
    assert saved.status_code == 303
    with service.session(actor(db, "ann@example.com")) as records:
        stored = records.get("customer", acme["id"])
    assert stored is not None and (stored["name"], stored["tier"]) == ("Acme Ltd", "gold")
    history = sam.get(f"/admin/records/customer/{acme['id']}").text
    assert "Annual revenue" not in history


# --- the list ----------------------------------------------------------------------------------


def test_the_list_shows_labels_names_and_enum_labels_not_raw_values(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    partner = make(service, db, "partner", name="한빛 파트너스")
    make(service, db, "customer", name="Acme", tier="vip", partner=partner["id"])
    page = ann.get("/admin/records/customer", headers={"Accept-Language": "ko"}).text
    assert '<th scope="col" data-column="name"' in page and "고객명" in page
    make(service, db, "customer", name="Zeta", revenue="1234567.50", phone="+8223123456")
    english = ann.get("/admin/records/customer").text
    assert ">VIP<" in english
    assert '<td data-label="Annual revenue" class="num">1,234,567.50</td>' in english
    assert '<td data-label="Phone" class="nowrap">+82 2-312-3456</td>' in english
    grievance = make(service, db, "grievance", subject="Noise", status="in_progress")
    grievances = ann.get("/admin/records/grievance", headers={"Accept-Language": "ko"}).text
    assert '<td data-label="상태">처리 중</td>' in grievances
    assert ">in_progress<" not in grievances
    assert grievance["id"] in grievances  # the link to its page
    customer = make(service, db, "customer", name="Borealis")
    make(service, db, "contract", title="Support 2025", customer=customer["id"])
    contracts = ann.get("/admin/records/contract").text
    row = re.search(r"<tr data-record.*?</tr>", contracts, re.S)
    assert row and '<td data-label="Customer">Borealis</td>' in row.group(0)
    assert customer["id"] not in contracts


def test_sorting_by_a_column_both_ways(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    for name in ("Cedar", "apple", "Banana"):
        make(service, db, "customer", name=name)
    up = names_in_list(
        ann.get("/admin/records/customer?sort=name&dir=asc", follow_redirects=True).text
    )
    down = names_in_list(ann.get("/admin/records/customer?sort=name&dir=desc").text)
    assert up == ["Banana", "Cedar", "apple"]  # code point order, as on both databases
    assert down == list(reversed(up))
    page = ann.get("/admin/records/customer?sort=name&dir=desc").text
    assert 'aria-sort="descending"' in page
    # A field that cannot be sorted (or does not exist) falls back to the name.
    assert (
        names_in_list(ann.get("/admin/records/customer?sort=tags", follow_redirects=True).text)
        == up
    )


def test_search_looks_in_every_text_field(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    make(service, db, "customer", name="Acme", email="sales@acme.example")
    make(service, db, "customer", name="Borealis", notes="partner of ACME in Busan")
    make(service, db, "customer", name="Cedar")
    found = names_in_list(ann.get("/admin/records/customer?q=acme").text)
    assert found == ["Acme", "Borealis"]
    none = ann.get("/admin/records/customer?q=zzz").text
    assert "No records match your search." in none


def test_the_list_narrows_to_an_enum_value_and_keeps_it_while_sorting(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    make(service, db, "grievance", subject="Noise", status="open", severity="high")
    make(service, db, "grievance", subject="Leak", status="open", severity="low")
    make(service, db, "grievance", subject="Dust", status="closed", severity="high")
    page = ann.get("/admin/records/grievance?status=open", follow_redirects=True).text
    assert names_in_list(page) == ["Leak", "Noise"]
    assert '<option value="open" selected>Open</option>' in page
    sort = re.search(r'<a href="([^"]+)">Subject', page)
    assert sort and "status.eq=open" in sort.group(1)  # the filter, kept in its own form
    both = ann.get(
        "/admin/records/grievance?status=open&severity=high&q=noi", follow_redirects=True
    ).text
    assert names_in_list(both) == ["Noise"]
    korean = ann.get(
        "/admin/records/grievance?status=bogus",
        headers={"Accept-Language": "ko"},
        follow_redirects=True,
    )
    assert names_in_list(korean.text) == ["Dust", "Leak", "Noise"]  # an unknown value: no filter
    assert '<option value="closed">종결</option>' in korean.text


def test_the_columns_are_chosen_in_the_address(
    ann: TestClient, sam: TestClient, service: RecordService, db: Database
) -> None:
    make(service, db, "customer", name="Acme", industry="retail", revenue="10")
    page = ann.get(
        "/admin/records/customer?columns=name&columns=industry", follow_redirects=True
    ).text
    assert re.findall(r'data-column="(\w+)"', page) == ["name", "industry", "updated_at"]
    assert '<td data-label="Industry">Retail</td>' in page
    assert 'name="columns" value="name,industry"' in page  # kept by the search
    sort = re.search(r'<a href="([^"]+)">Industry', page)
    assert sort and "columns=name%2Cindustry" in sort.group(1)
    assert 'value="notes" >' not in page and 'name="columns" value="notes"' in page
    # Hidden fields cannot be asked for; nothing valid asked: the usual columns.
    hidden = sam.get("/admin/records/customer?columns=revenue", follow_redirects=True).text
    assert 'data-column="revenue"' not in hidden and 'data-column="name"' in hidden


def test_pages_follow_the_record_services_cursors(
    app_settings: Settings, service: RecordService, db: Database
) -> None:
    for index in range(5):
        make(service, db, "customer", name=f"Customer {index}")
    small = dataclasses.replace(app_settings, default_page_size=2)
    seen: list[str] = []
    for client in client_for(small, "ann@example.com"):
        path = "/admin/records/customer"
        while path:
            page = client.get(path).text
            seen.extend(names_in_list(page))
            found = re.search(r'<a href="([^"]+)" rel="next">', page)
            path = found.group(1).replace("&amp;", "&") if found else ""
        bogus = client.get("/admin/records/customer?after=bogus").text
        assert "That page no longer exists" in bogus and names_in_list(bogus)[:1] == ["Customer 0"]
    assert seen == [f"Customer {i}" for i in range(5)]


# --- create, edit, delete ----------------------------------------------------------------------


def test_creating_needs_the_csrf_token(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    refused = ann.post("/admin/records/customer/new", data={"name": "Forged"})
    assert refused.status_code == 403
    wrong = ann.post("/admin/records/customer/new", data={"name": "Forged", "csrf": "x"})
    assert wrong.status_code == 403
    assert "Forged" not in ann.get("/admin/records/customer").text


def test_a_new_record_with_errors_keeps_what_was_typed_and_says_why_beside_each_field(
    ann: TestClient, db: Database
) -> None:
    refused = submit(
        ann,
        "/admin/records/customer/new",
        name="Acme",
        email="not-an-address",
        employee_count="-3",
        country="Korea",
        tier="gold",
    )
    assert refused.status_code == 400
    html = refused.text
    assert "not an e-mail address" in field_error(html, "email")
    assert field_error(html, "employee_count") == "Enter 0 or more."
    assert "not in the expected form" in field_error(html, "country")
    assert field_error(html, "name") == ""
    assert input_value(html, "email") == "not-an-address"
    assert input_value(html, "name") == "Acme"
    assert '<option value="gold" selected>' in html
    korean = submit(ann, "/admin/records/customer/new", name="", email="x")
    assert korean.status_code == 400


def test_create_then_edit_then_see_the_history_in_words(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    partner = make(service, db, "partner", name="Hanbit Partners")
    made = submit(
        ann,
        "/admin/records/customer/new",
        name="Acme",
        tier="standard",
        partner=partner["id"],
        since="2024-03-01",
        tags="key account\nexport",
        address="1 Main St\r\nSeoul",
    )
    assert made.status_code == 303
    path = made.headers["location"].split("?")[0]
    with service.session(actor(db, "ann@example.com")) as records:
        record_id = path.rsplit("/", 1)[1]
        stored = records.get("customer", record_id)
        history = records.history("customer", [record_id])[record_id]
    assert stored is not None
    assert stored["tags"] == ["key account", "export"] and stored["address"] == "1 Main St\nSeoul"
    assert stored["partner"] == partner["id"] and history[0]["channel"] == "admin"
    page = ann.get(path).text
    assert f'<option value="{partner["id"]}" selected>Hanbit Partners</option>' in page
    changed = submit(ann, path, name="Acme", tier="gold", partner="", since="2024-03-01")
    assert changed.status_code == 303
    page = ann.get(path).text
    assert "Tier: Standard → Gold" in page
    assert "Partner: Hanbit Partners → —" in page
    assert "Name: Acme" in page  # the creation, in words
    assert "ann@example.com" in page and "admin screens" in page
    korean = ann.get(path, headers={"Accept-Language": "ko"}).text
    assert "등급: 일반 → 골드" in korean


def test_a_stale_version_is_merged_and_what_both_changed_is_shown_with_both_values(
    ann: TestClient, bob: TestClient, service: RecordService, db: Database
) -> None:
    acme = make(service, db, "customer", name="Acme", tier="standard", country="KR")
    path = f"/admin/records/customer/{acme['id']}"
    ann_form = ann.get(path).text
    # Bob saves first: the tier and the employees.
    saved = submit(bob, path, name="Acme", tier="vip", country="KR", employee_count="40")
    assert saved.status_code == 303
    # Ann, from the form she opened at version 1: the tier too, and the country.
    mine = {"version": "1", "name": "Acme", "tier": "gold", "country": "US"}
    late = ann.post(path, data={"csrf": csrf_of(ann_form), **mine})
    assert late.status_code == 409
    assert "Someone else saved this record" in late.text
    assert "Their changes are in the form now: Employees." in late.text
    conflict = re.search(r"<table class=\"conflict\".*?</table>", late.text, re.S)
    assert conflict and '<th scope="row">Tier</th><td>VIP</td><td>Gold</td>' in conflict.group(0)
    assert "Country" not in conflict.group(0)  # only she changed it
    assert '<option value="gold" selected>' in late.text  # her value is kept
    assert input_value(late.text, "country") == "US"
    assert input_value(late.text, "employee_count") == "40"  # his is taken in, not undone
    assert 'name="version" value="2"' in late.text
    again = {
        "version": "2",
        "name": "Acme",
        "tier": "gold",
        "country": "US",
        "employee_count": "40",
    }
    assert ann.post(path, data={"csrf": csrf_of(late.text), **again}).status_code == 303
    with service.session(actor(db, "ann@example.com")) as records:
        stored = records.get("customer", acme["id"])
    assert stored is not None
    assert (stored["tier"], stored["country"], stored["employee_count"]) == ("gold", "US", 40)


def test_an_earlier_version_is_restored_from_the_history(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    acme = make(service, db, "customer", name="Acme", tier="standard")
    path = f"/admin/records/customer/{acme['id']}"
    assert submit(ann, path, name="Acme Ltd", tier="gold").status_code == 303
    page = ann.get(path).text
    assert "Restore version 1" in page and "Restore version 2" not in page  # 2 is current
    assert ann.post(f"{path}/restore", data={"restore": "1", "version": "2"}).status_code == 403
    done = submit(ann, path, f"{path}/restore", restore="1", version="2")
    assert done.status_code == 303 and done.headers["location"].endswith("?restored=1")
    page = ann.get(done.headers["location"]).text
    assert "Version 1 is restored" in page and input_value(page, "name") == "Acme"
    assert "Tier: Gold → Standard" in page
    stale = submit(ann, path, f"{path}/restore", restore="2", version="2")
    assert stale.status_code == 409 and "changed this record meanwhile" in stale.text


def test_delete_needs_the_token_and_the_confirmation(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    acme = make(service, db, "customer", name="Acme")
    path = f"/admin/records/customer/{acme['id']}"
    assert ann.post(f"{path}/delete", data={"confirm": "1"}).status_code == 403
    unconfirmed = submit(ann, path, f"{path}/delete")
    assert unconfirmed.status_code == 400 and "Tick the box" in unconfirmed.text
    done = submit(ann, path, f"{path}/delete", confirm="1")
    assert done.status_code == 303 and done.headers["location"].endswith("?deleted=1")
    assert ann.get(path).status_code == 404


def test_ticked_records_are_deleted_together_or_not_at_all(
    ann: TestClient, vic: TestClient, service: RecordService, db: Database
) -> None:
    partner = make(service, db, "partner", name="Hanbit Partners")
    loose = make(service, db, "partner", name="Gaon Partners")
    spare = make(service, db, "partner", name="Nuri Partners")
    make(service, db, "customer", name="Acme", partner=partner["id"])
    listing = "/admin/records/partner?sort=name&dir=desc"
    page = ann.get(listing).text
    assert f'name="ids" value="{loose["id"]}" form="bulk"' in page
    assert 'formaction="/admin/records/partner/delete"' in page
    # A viewer ticks records only to export them: no delete button.
    assert 'formaction="/admin/records/partner/delete"' not in vic.get(listing).text
    ids = [loose["id"], partner["id"]]
    assert (
        ann.post("/admin/records/partner/delete", data={"ids": ids, "confirm": "1"}).status_code
        == 403
    )
    blocked = submit(ann, listing, "/admin/records/partner/delete", ids=ids, confirm="1")
    assert blocked.status_code == 409 and "Nothing was deleted" in blocked.text
    assert names_in_list(ann.get(listing).text) == [
        "Nuri Partners",
        "Hanbit Partners",
        "Gaon Partners",
    ]
    unconfirmed = submit(ann, listing, "/admin/records/partner/delete", ids=[loose["id"]])
    assert unconfirmed.status_code == 400
    done = submit(
        ann,
        listing,
        "/admin/records/partner/delete",
        ids=[loose["id"], spare["id"]],
        confirm="1",
        back=listing,
    )
    assert done.status_code == 303 and done.headers["location"] == f"{listing}&deleted=2"
    after = ann.get(done.headers["location"]).text
    assert "2 records are deleted." in after and names_in_list(after) == ["Hanbit Partners"]


def test_a_delete_blocked_by_references_says_so(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    partner = make(service, db, "partner", name="Hanbit Partners")
    make(service, db, "customer", name="Acme", partner=partner["id"])
    path = f"/admin/records/partner/{partner['id']}"
    blocked = submit(ann, path, f"{path}/delete", confirm="1")
    assert blocked.status_code == 409 and "other records still refer to it" in blocked.text


def test_a_viewer_sees_the_values_but_no_form(
    vic: TestClient, service: RecordService, db: Database
) -> None:
    acme = make(service, db, "customer", name="Acme", tier="gold")
    page = vic.get(f"/admin/records/customer/{acme['id']}").text
    assert '<dd data-field="tier">Gold</dd>' in page
    assert '<form method="post" action="/admin/records' not in page
    assert "New record" not in vic.get("/admin/records/customer").text
    assert vic.get("/admin/records/customer/new").status_code == 403


def test_a_rule_rejection_is_shown_on_the_form(ann: TestClient, service: RecordService) -> None:
    """A real ``before`` rule refuses the write; its message, in the user's language when it
    has one, is shown on the form, which keeps what was typed."""
    service.registry.apply(
        [
            {
                "name": "needs_description",
                "entity": "grievance",
                "on": ["create"],
                "stage": "before",
                "when": "not record.get('description')",
                "actions": [{"type": "reject", "message": "A grievance needs a description."}],
            }
        ]
    )
    refused = submit(ann, "/admin/records/grievance/new", subject="Noise")
    assert refused.status_code == 400
    assert "A grievance needs a description." in refused.text
    assert input_value(refused.text, "subject") == "Noise"
    made = submit(ann, "/admin/records/grievance/new", subject="Noise", description="Loud")
    assert made.status_code == 303


def test_a_reference_with_many_records_is_typed_by_name(
    ann: TestClient, service: RecordService, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record_views, "MAX_OPTIONS", 1)
    make(service, db, "partner", name="Hanbit Partners")
    gaon = make(service, db, "partner", name="Gaon Partners")
    form = ann.get("/admin/records/customer/new").text
    box = '<input id="f-partner" name="partner" type="text" value=""'
    assert f'{box} data-picker="/admin/records/partner"' in form
    unknown = submit(ann, "/admin/records/customer/new", name="Acme", partner="Nobody")
    assert unknown.status_code == 400
    assert field_error(unknown.text, "partner") == "No record is named Nobody."
    made = submit(ann, "/admin/records/customer/new", name="Acme", partner="Gaon Partners")
    assert made.status_code == 303
    page = ann.get(made.headers["location"]).text
    assert 'value="Gaon Partners"' in page and gaon["id"] not in page.split("<form")[1][:2000]


def test_a_record_page_lists_the_records_that_refer_to_it(
    ann: TestClient, service: RecordService, db: Database
) -> None:
    acme = make(service, db, "customer", name="Acme")
    other = make(service, db, "customer", name="Borealis")
    for title in ("Support 2025", "Lease 2024"):
        make(service, db, "contract", title=title, customer=acme["id"])
    make(service, db, "contract", title="Elsewhere", customer=other["id"])
    page = ann.get(f"/admin/records/customer/{acme['id']}", headers={"Accept-Language": "ko"})
    section = re.search(
        r'<section [^>]*data-related="contract"[^>]*>.*?</section>', page.text, re.S
    )
    assert section, page.text
    assert re.findall(r'<li><a href="[^"]+">([^<]+)</a></li>', section.group(0)) == [
        "Lease 2024",
        "Support 2025",
    ]
    assert "<h3>계약</h3>" in section.group(0)  # the reference's inverse label
    # "Show all" is the contract list narrowed to Acme, searchable within it.
    narrowed = ann.get(f"/admin/records/contract?customer={acme['id']}", follow_redirects=True).text
    assert names_in_list(narrowed) == ["Lease 2024", "Support 2025"]
    assert "Customer: <strong>Acme</strong>" in narrowed
    assert f'href="/admin/records/contract/new?customer={acme["id"]}">New record' in narrowed
    searched = ann.get(
        f"/admin/records/contract?customer={acme['id']}&q=lease", follow_redirects=True
    ).text
    assert names_in_list(searched) == ["Lease 2024"]
    # "Add one" opens a new contract with the customer chosen already.
    new = ann.get(f"/admin/records/contract/new?customer={acme['id']}").text
    assert f'<option value="{acme["id"]}" selected>Acme</option>' in new


def test_a_reference_to_a_user_is_chosen_and_shown_by_name(ann: TestClient, db: Database) -> None:
    """A task's assignee is a platform user, not a record: the form lists users by name, the
    record, its list and its history name them, and the pages never fail on them."""
    with db.write() as conn:
        bo = create_user(conn, "bo@example.com", ("editor",), name="Bo Kim")
        create_user(conn, "cy@example.com", ("editor",))  # no name: shown by e-mail
    form = ann.get("/admin/records/task/new")
    assert form.status_code == 200
    assert f'<option value="{bo.id}">Bo Kim</option>' in form.text
    assert ">cy@example.com</option>" in form.text
    saved = submit(ann, "/admin/records/task/new", title="Call back", assignee=bo.id)
    assert saved.status_code == 303
    task = saved.headers["location"].split("?")[0]
    page = ann.get(task)
    assert page.status_code == 200 and "Bo Kim" in page.text
    listing = ann.get("/admin/records/task?columns=title,assignee")
    assert listing.status_code == 200 and "Bo Kim" in listing.text
    cy = find_user_id(db, "cy@example.com")
    assert submit(ann, task, title="Call back", assignee=cy).status_code == 303
    history = ann.get(task)
    assert history.status_code == 200
    assert "Assignee: Bo Kim → cy@example.com" in history.text


def find_user_id(db: Database, email: str) -> str:
    return actor(db, email).id
