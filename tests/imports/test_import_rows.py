"""Importing rows through the record service: mapping, values, keys, dry runs, rejects, undo.

What an operator relies on when a spreadsheet of customers goes in: Korean
and English headers find their fields, values in everyday spellings are
understood, a key matches the customer however its e-mail was typed, a dry
run writes nothing, a bad row is rejected with the field and the problem
(and the rest still goes in), and an import can be taken back.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from import_support import count, csv_bytes, records, run_import, xlsx_bytes

from xrm.entities.imports import BadFile, BadImport
from xrm.entities.imports.mapping import suggest
from xrm.entities.imports.run import rejected_csv
from xrm.entities.imports.undo import undo
from xrm.entities.records import RecordService
from xrm.platform.identity import Actor

KOREAN = ["고객명", "이메일", "전화번호", "등급", "연 매출", "거래 시작일", "직원 수"]


def test_columns_find_their_fields_by_name_or_label_in_either_language(
    catalog_service: RecordService,
) -> None:
    et = catalog_service.registry.current().entity("customer")
    headers = ["고객명", " E-Mail ", "PHONE", "Annual revenue", "등급", "customer_since", "Fax"]
    mapping = suggest(et, headers)
    assert mapping.fields == {
        0: "name",
        1: "email",
        2: "phone",
        3: "revenue",
        4: "tier",
        5: "since",  # the label "Customer since", spelled as a name
    }
    assert set(mapping.ignored) == {6}  # no field is called Fax
    mapped = suggest(et, headers, {"Fax": "notes", "PHONE": ""})
    assert mapped.fields[6] == "notes" and 2 not in mapped.fields
    with pytest.raises(BadImport, match="customer has no field 'fax_number'"):
        suggest(et, headers, {"Fax": "fax_number"})
    with pytest.raises(BadImport, match="no column 'Telex'"):
        suggest(et, headers, {"Telex": "phone"})
    with pytest.raises(BadImport, match="both fill the field email"):
        suggest(et, ["Email", "이메일"])


def test_everyday_spellings_become_values(catalog_service: RecordService, admin: Actor) -> None:
    data = csv_bytes(
        [
            KOREAN,
            [
                "Acme",
                " LEAD7@Example.COM ",
                "010-1234-5678",
                "골드",
                "1,234,567.50",
                "2024. 3. 5.",
                "1,200",
            ],
            ["Beta", "beta@example.com", "+82 2 123 4567", "VIP", "", "2024년 3월 5일", ""],
        ]
    )
    outcome = run_import(catalog_service, admin, "customer", "c.csv", data)
    assert (outcome.created, outcome.rejected) == (2, 0)
    by_name = {r["name"]: r for r in records(catalog_service, admin, "customer")}
    acme = by_name["Acme"]
    assert acme["email"] == "lead7@example.com"
    assert acme["phone"] == "+821012345678"
    assert acme["tier"] == "gold"
    assert str(acme["revenue"]) == "1234567.50"
    assert acme["since"].isoformat() == "2024-03-05"
    assert acme["employee_count"] == 1200
    assert by_name["Beta"]["tier"] == "vip" and by_name["Beta"]["phone"] == "+8221234567"


def test_a_dry_run_writes_nothing_and_reports_each_bad_row(
    catalog_service: RecordService, admin: Actor, snapshot: Any
) -> None:
    data = csv_bytes([["name", "email"], ["A", "a@x.com"], ["B", "not mail"], ["", "c@x.com"]])
    before = snapshot()
    outcome = run_import(catalog_service, admin, "customer", "c.csv", data, dry_run=True)
    assert snapshot() == before
    assert (outcome.created, outcome.rejected, outcome.import_id) == (1, 2, None)
    reasons = {n: r for n, _, r in outcome.rejects}
    assert reasons[3].startswith("email: 'not mail' is not an e-mail address")
    assert reasons[4] == "name: is required"


def test_a_key_matches_however_the_value_was_typed(
    catalog_service: RecordService, admin: Actor
) -> None:
    with catalog_service.session(admin) as s:
        kept = s.create("customer", {"name": "Old name", "email": "lead7@example.com"})
    data = csv_bytes(
        [["name", "email"], ["New name", "  LEAD7@Example.COM "], ["Other", "o@x.com"]]
    )
    first = run_import(catalog_service, admin, "customer", "c.csv", data, key="email")
    assert (first.created, first.updated) == (1, 1)
    again = run_import(catalog_service, admin, "customer", "c.csv", data, key="email")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)  # idempotent
    assert count(catalog_service, "customer") == 2
    with catalog_service.session(admin, write=False) as s:
        assert s.get("customer", kept["id"])["name"] == "New name"


def test_a_key_repeated_in_the_file_updates_the_record_its_first_row_created(
    catalog_service: RecordService, admin: Actor
) -> None:
    data = csv_bytes([["name", "email"], ["First", "k@x.com"], ["Second", "K@X.COM"]])
    outcome = run_import(catalog_service, admin, "customer", "c.csv", data, key="email")
    assert (outcome.created, outcome.updated) == (1, 1)
    [only] = records(catalog_service, admin, "customer")
    assert only["name"] == "Second"


def test_references_are_matched_by_name_unique_field_or_id(
    catalog_service: RecordService, admin: Actor
) -> None:
    with catalog_service.session(admin) as s:
        acme = s.create("customer", {"name": "Acme", "email": "acme@x.com"})
        s.create("customer", {"name": "Twin", "email": "t1@x.com"})
        s.create("customer", {"name": "Twin", "email": "t2@x.com"})
    data = csv_bytes(
        [
            ["full_name", "소속 고객"],
            ["By name", "Acme"],
            ["By email", " ACME@x.com"],
            ["By id", acme["id"]],
            ["Ambiguous", "Twin"],
            ["Missing", "Nobody"],
        ]
    )
    outcome = run_import(catalog_service, admin, "contact", "p.csv", data)
    assert outcome.created == 3
    linked = {r["full_name"]: r["customer"] for r in records(catalog_service, admin, "contact")}
    assert linked == dict.fromkeys(["By name", "By email", "By id"], acme["id"])
    reasons = {n: r for n, _, r in outcome.rejects}
    assert reasons[5] == "customer: 2 customer records match 'Twin'; use the id or a unique field"
    assert reasons[6].startswith("customer: no customer is 'Nobody'")


def test_the_rejected_rows_file_keeps_the_columns_and_says_why(
    catalog_service: RecordService, admin: Actor
) -> None:
    data = csv_bytes(
        [["name", "email", "등급"], ["Good", "g@x.com", "gold"], ['=HYPERLINK("x")', "bad", "nope"]]
    )
    outcome = run_import(catalog_service, admin, "customer", "c.csv", data)
    assert outcome.created == 1
    [header, row] = list(csv.reader(io.StringIO(rejected_csv(outcome.headers, outcome.rejects))))
    assert header == ["name", "email", "등급", "reason"]
    assert row[:3] == ['\'=HYPERLINK("x")', "bad", "nope"]  # never a live formula
    assert row[3].startswith("row 3: email: 'bad' is not an e-mail address")
    assert "tier: 'nope' is not one of: standard, gold, vip" in row[3]


def test_a_workbook_imports_formulas_as_text_and_reads_the_named_sheet(
    catalog_service: RecordService, admin: Actor
) -> None:
    data = xlsx_bytes([["Name", "Email", "Employees"], ["=1+1", "w@x.com", 12]], sheet="고객")
    with pytest.raises(BadFile, match="has no sheet 'Other'"):
        run_import(catalog_service, admin, "customer", "c.xlsx", data, sheet="Other")
    outcome = run_import(catalog_service, admin, "customer", "c.xlsx", data, sheet="고객")
    assert outcome.created == 1
    [record] = records(catalog_service, admin, "customer")
    assert (record["name"], record["employee_count"]) == ("=1+1", 12)


@pytest.mark.parametrize(
    ("encoding", "prefix"), [("cp949", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16", b"")]
)
def test_korean_files_in_every_common_encoding(
    catalog_service: RecordService, admin: Actor, encoding: str, prefix: bytes
) -> None:
    data = prefix + csv_bytes([["고객명", "이메일"], ["김민준 상사", "kim@x.com"]], encoding)
    outcome = run_import(catalog_service, admin, "customer", "c.csv", data)
    assert (outcome.created, outcome.rejected) == (1, 0)
    assert records(catalog_service, admin, "customer")[0]["name"] == "김민준 상사"


def test_undo_deletes_what_it_created_and_restores_what_it_updated(
    catalog_service: RecordService, admin: Actor
) -> None:
    with catalog_service.session(admin) as s:
        old = s.create("customer", {"name": "Before", "email": "b@x.com", "tier": "gold"})
    data = csv_bytes(
        [["name", "email", "tier"], ["After", "b@x.com", "vip"], ["New", "n@x.com", ""]]
    )
    outcome = run_import(catalog_service, admin, "customer", "c.csv", data, key="email")
    assert outcome.import_id is not None
    done = undo(catalog_service, admin, outcome.import_id)
    assert (done.deleted, done.restored) == (1, 1)
    [back] = records(catalog_service, admin, "customer")
    assert (back["id"], back["name"], back["tier"]) == (old["id"], "Before", "gold")
    with pytest.raises(BadImport, match="undone already"):
        undo(catalog_service, admin, outcome.import_id)


def test_undo_refuses_when_a_record_changed_since(
    catalog_service: RecordService, admin: Actor, snapshot: Any
) -> None:
    data = csv_bytes([["name", "email"], ["One", "1@x.com"], ["Two", "2@x.com"]])
    outcome = run_import(catalog_service, admin, "customer", "c.csv", data)
    assert outcome.import_id is not None
    with catalog_service.session(admin) as s:
        one = next(r for r in records(catalog_service, admin, "customer") if r["name"] == "One")
        s.update("customer", one["id"], {"name": "Edited"})
    before = snapshot()
    with pytest.raises(BadImport, match=f"1 of its records were changed.*{one['id']}"):
        undo(catalog_service, admin, outcome.import_id)
    assert snapshot() == before


def test_a_value_repeated_in_the_file_names_the_row_it_repeats(
    catalog_service: RecordService, admin: Actor
) -> None:
    with catalog_service.session(admin) as s:
        s.create("customer", {"name": "Stored", "email": "taken@x.com"})
    data = csv_bytes(
        [
            ["name", "email"],
            ["A", "a@x.com"],
            ["B", "b@x.com"],
            ["C", " A@X.com"],
            ["D", "taken@x.com"],
        ]
    )
    outcome = run_import(catalog_service, admin, "customer", "c.csv", data)
    assert outcome.created == 2
    reasons = {n: r for n, _, r in outcome.rejects}
    assert reasons[4] == "email: must be unique; repeats row 2"
    assert reasons[5].startswith("email: must be unique; is already taken")
