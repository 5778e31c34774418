"""Export and import are each other's inverse, and an export is safe to open in a spreadsheet.

An operator exports a list, edits it in Excel, and imports it back: every value
must survive the trip exactly (decimals as written, dates, lists, phones with
their ``+``, text that looks like a formula), and no exported cell may run as a
formula when the file is opened.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import Any

import pytest
from import_support import count, records, run_import

from xrm.entities.imports import BadImport, export
from xrm.entities.records import RecordService
from xrm.platform.identity import Actor

SAMPLES: list[dict[str, Any]] = [
    {
        "name": '=HYPERLINK("http://evil")',
        "email": "a@x.com",
        "phone": "010-1234-5678",
        "tier": "gold",
        "revenue": "1234.50",
        "since": "2024-03-05",
        "tags": ["b2b", "seoul"],
        "employee_count": 1200,
        "notes": 'line one\nline two, with a comma and "quotes"',
    },
    {"name": "김민준 상사", "email": "kim@x.com", "tier": "vip", "notes": "-5 +5 @home"},
    {"name": "Plain", "country": "US"},
]


def _fields(rows: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    return sorted(
        ({n: r.get(n) for n in names} for r in rows), key=lambda r: json.dumps(r, default=str)
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_imported_again_gives_the_same_records(
    catalog_service: RecordService, admin: Actor, fmt: str
) -> None:
    with catalog_service.session(admin) as s:
        for values in SAMPLES:
            s.create("customer", values)
    et = catalog_service.registry.current().entity("customer")
    names = list(et.properties)
    before = _fields(records(catalog_service, admin, "customer"), names)
    _, rows = export.records(catalog_service, admin, "customer", None)
    if fmt == "csv":
        text = io.StringIO()
        export.write_csv(et, rows, text)
        data = text.getvalue().encode()
    else:
        binary = io.BytesIO()
        export.write_xlsx(et, rows, binary)
        data = binary.getvalue()
    with catalog_service.session(admin) as s:
        for record in records(catalog_service, admin, "customer"):
            s.delete("customer", record["id"])
    outcome = run_import(catalog_service, admin, "customer", f"customers.{fmt}", data)
    assert (outcome.created, outcome.rejected) == (len(SAMPLES), 0), outcome.rejects
    assert _fields(records(catalog_service, admin, "customer"), names) == before


def test_no_exported_cell_runs_as_a_formula(catalog_service: RecordService, admin: Actor) -> None:
    with catalog_service.session(admin) as s:
        for values in SAMPLES:
            s.create("customer", values)
    et, rows = export.records(catalog_service, admin, "customer", None)
    text = io.StringIO()
    export.write_csv(et, rows, text)
    cells = [c for row in csv.reader(io.StringIO(text.getvalue())) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert '\'=HYPERLINK("http://evil")' in cells and "'+821012345678" in cells


def test_an_export_pages_through_every_record_of_the_filter(
    catalog_service: RecordService, admin: Actor
) -> None:
    small = dataclasses.replace(catalog_service.settings, max_page_size=2)
    paged = RecordService(catalog_service.db, catalog_service.registry, small)
    with paged.session(admin) as s:
        for n in range(7):
            s.create("customer", {"name": f"C{n}", "tier": "gold" if n % 2 else "vip"})
    et, rows = export.records(paged, admin, "customer", {"tier": {"eq": "vip"}})
    text = io.StringIO()
    assert export.write_json(et, rows, text) == 4
    assert sorted(r["name"] for r in json.loads(text.getvalue())) == ["C0", "C2", "C4", "C6"]
    with pytest.raises(BadImport, match="JSON object"):
        export.parse_filter("[1]")
    with pytest.raises(BadImport, match="no entity type 'nothing'"):
        export.records(paged, admin, "nothing", None)


def test_an_export_with_key_id_imports_as_unchanged(
    catalog_service: RecordService, admin: Actor
) -> None:
    with catalog_service.session(admin) as s:
        for values in SAMPLES:
            s.create("customer", values)
    et, rows = export.records(catalog_service, admin, "customer", None)
    text = io.StringIO()
    export.write_csv(et, rows, text)
    outcome = run_import(
        catalog_service, admin, "customer", "c.csv", text.getvalue().encode(), key="id"
    )
    assert (outcome.unchanged, outcome.created, outcome.updated) == (len(SAMPLES), 0, 0)
    assert count(catalog_service, "customer") == len(SAMPLES)
