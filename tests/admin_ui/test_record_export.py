"""Exporting a list as CSV: the whole filtered list, the ticked records, labels and names as
shown, limits, and cells a spreadsheet must never run as formulas.

The model is the record service's own answer for the same user and filter.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_record_screens import actor, make, sam, service  # noqa: F401 (fixtures)
from test_signin import csrf_of

from xrm.admin_ui import record_export
from xrm.entities.records import RecordService
from xrm.errors import XrmError
from xrm.platform.db import Database

pytest_plugins = ["admin_clients"]


def table(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(text[1:])))


def column(rows: list[list[str]], label: str) -> list[str]:
    at = rows[0].index(label)
    return [r[at] for r in rows[1:]]


@pytest.fixture
def customers(service: RecordService, db: Database) -> list[dict[str, Any]]:  # noqa: F811
    partner = make(service, db, "partner", name="Hanbit Partners")
    return [
        make(service, db, "customer", name="Acme", tier="gold", partner=partner["id"]),
        make(service, db, "customer", name="Bolt", tier="standard", revenue="1234.50"),
        make(service, db, "customer", name="Core", tier="gold"),
        make(service, db, "customer", name="Dawn", tier="vip"),
    ]


def test_the_whole_filtered_list_is_exported_as_shown_in_the_record_services_order(
    ann: TestClient,
    customers: list[dict[str, Any]],
    service: RecordService,  # noqa: F811
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(record_export, "PAGE", 1)  # one record per read: the pages are joined
    rows = table(ann.get("/admin/records/customer/export.csv?tier=gold&sort=name&dir=desc"))
    with service.session(actor(db, "ann@example.com"), "api") as records:
        model = records.query(
            "customer", filter={"tier": {"eq": "gold"}}, order_by=[{"name": "DESC"}]
        ).items
    assert rows[0][:3] == ["Name", "Email", "Phone"]
    assert rows[0][-1] == "Last changed"
    assert column(rows, "Name") == [r["name"] for r in model] == ["Core", "Acme"]
    assert column(rows, "Tier") == ["Gold", "Gold"]  # enum labels, not values
    assert column(rows, "Partner") == ["", "Hanbit Partners"]  # names, not ids
    assert all(len(r) == len(rows[0]) for r in rows)
    korean = table(
        ann.get("/admin/records/customer/export.csv?tier=gold", headers={"Accept-Language": "ko"})
    )
    assert korean[0][0] == "고객명" and column(korean, "등급") == ["골드", "골드"]
    assert "1,234.50" in column(
        table(ann.get("/admin/records/customer/export.csv")), "Annual revenue"
    )


def test_the_ticked_records_are_exported_with_the_forms_token(
    ann: TestClient, customers: list[dict[str, Any]]
) -> None:
    listing = ann.get("/admin/records/customer").text
    assert 'action="/admin/records/customer/export.csv"' in listing
    assert 'href="/admin/records/customer/export.csv"' in listing
    ids = [customers[3]["id"], customers[0]["id"]]
    assert ann.post("/admin/records/customer/export.csv", data={"ids": ids}).status_code == 403
    rows = table(
        ann.post("/admin/records/customer/export.csv", data={"csrf": csrf_of(listing), "ids": ids})
    )
    assert column(rows, "Name") == ["Dawn", "Acme"]
    none = ann.post("/admin/records/customer/export.csv", data={"csrf": csrf_of(listing)})
    assert none.status_code == 400 and "Tick the records to export first." in none.text


def test_a_hidden_field_is_not_exported_and_a_list_too_big_is_refused(
    sam: TestClient,  # noqa: F811
    customers: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = table(sam.get("/admin/records/customer/export.csv"))
    assert "Annual revenue" not in rows[0] and "1,234.50" not in str(rows)
    assert len(rows) == 5
    monkeypatch.setattr(record_export, "MAX_ROWS", 3)
    refused = sam.get("/admin/records/customer/export.csv")
    assert refused.status_code == 413
    assert "at most 3 can be exported at once" in refused.text
    assert sam.get("/admin/records/customer/export.csv?tier=gold").status_code == 200
    assert sam.get("/admin/records/grievance/export.csv").status_code == 403


@pytest.fixture
def ticked(ann: TestClient) -> Iterator[str]:
    yield csrf_of(ann.get("/admin/records/customer").text)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.one_of(
        st.sampled_from(["=1+2", "+SUM(A1)", "-3", "@cmd", '=HYPERLINK("http://x")', "a=b"]),
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20),
    )
)
def test_no_cell_can_become_a_formula_and_the_text_comes_back_whole(
    ann: TestClient,
    ticked: str,
    service: RecordService,  # noqa: F811
    db: Database,
    name: str,
) -> None:
    try:
        record = make(service, db, "customer", name=name)
    except XrmError:  # a name the record service refuses has nothing to export
        return
    stored = record["name"]
    rows = table(
        ann.post("/admin/records/customer/export.csv", data={"csrf": ticked, "ids": [record["id"]]})
    )
    cell = column(rows, "Name")[0]
    if stored[:1] in ("=", "+", "-", "@", "\t", "\r"):
        assert cell == "'" + stored
    else:
        assert cell == stored


def test_the_list_and_the_ticked_records_export_as_an_excel_workbook_of_text(
    ann: TestClient,
    customers: list[dict[str, Any]],
    service: RecordService,  # noqa: F811
    db: Database,
) -> None:
    import openpyxl

    formula = make(service, db, "customer", name="=1+2", tier="gold")

    def sheet(response: Any) -> list[list[Any]]:
        assert response.status_code == 200, response.text[:300]
        assert response.headers["content-disposition"] == 'attachment; filename="customer.xlsx"'
        book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
        return [list(r) for r in book.active.iter_rows(values_only=True)]

    rows = sheet(ann.get("/admin/records/customer/export.xlsx?tier=gold&sort=name"))
    assert rows[0][:2] == ["Name", "Email"]
    assert [r[0] for r in rows[1:]] == ["'=1+2", "Acme", "Core"]  # text, never a formula
    assert rows[1][rows[0].index("Tier")] == "Gold"
    listing = ann.get("/admin/records/customer").text
    assert 'formaction="/admin/records/customer/export.xlsx"' in listing
    ticked = ann.post(
        "/admin/records/customer/export.xlsx",
        data={"csrf": csrf_of(listing), "ids": [formula["id"], customers[1]["id"]]},
    )
    assert [r[0] for r in sheet(ticked)[1:]] == ["'=1+2", "Bolt"]
