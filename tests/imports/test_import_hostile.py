"""Hostile files never crash an import and never half-write one.

Whatever arrives (random bytes, a wrong encoding, NUL characters, huge
cells, formulas, duplicate or missing headers, ragged rows, an empty file),
``xrm import`` either refuses the file with a message that names the problem
and writes nothing, or accounts for every row: each one is a created record
or a rejected row with a reason, and nothing else changed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from import_support import count, csv_bytes, run_import, xlsx_bytes

from xrm.entities.imports import BadFile, BadImport
from xrm.entities.imports.reading import read_table
from xrm.entities.records import RecordService
from xrm.platform import tables
from xrm.platform.identity import Actor

HEADERS = ["name", "email", "고객명", "Email", "tier", "등급", "employee_count", "", "junk"]
CELLS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            '=HYPERLINK("http://evil","click")',
            "+821012345678",
            "@SUM(A1)",
            "-2+3",
            "a\x00b",
            "x" * 150_000,  # past the csv module's own field limit
            "gold",
            "골드",
            "1,200",
            "kim@x.com",
            "  KIM@X.COM ",
            "\ufeff",
            "",
        ]
    ),
)
ROWS = st.lists(st.lists(CELLS, max_size=6), max_size=6)


@st.composite
def files(draw: Any) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["bytes", "csv", "csv", "csv", "xlsx", "empty"]))
    if kind == "bytes":
        return "f.csv", draw(st.binary(max_size=400))
    if kind == "empty":
        return "f.csv", draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\n\n", b" , \n"]))
    headers = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=4))
    rows = [headers, *draw(ROWS)]
    if kind == "xlsx":
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        # A workbook's XML holds no NUL or other control characters, and 32k characters a cell.
        clean = [[ILLEGAL_CHARACTERS_RE.sub("", c)[:32_000] for c in r] for r in rows]
        return "f.xlsx", xlsx_bytes(clean)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp949", "latin-1"]))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    try:
        return "f.csv", csv_bytes(rows, encoding, delimiter)
    except UnicodeEncodeError:
        return "f.csv", csv_bytes(rows, "utf-8", delimiter)


def _state(service: RecordService) -> tuple[int, int, int]:
    with service.db.read() as conn:
        imports = conn.execute(sa.select(sa.func.count()).select_from(tables.imports)).scalar_one()
        rejects = conn.execute(
            sa.select(sa.func.count()).select_from(tables.import_rejects)
        ).scalar_one()
    return count(service, "customer"), int(imports), int(rejects)


@settings(
    max_examples=45, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(file=files())
def test_every_row_is_imported_or_rejected_with_a_reason_or_the_file_is_refused(
    catalog_service: RecordService, admin: Actor, file: tuple[str, bytes]
) -> None:
    name, data = file
    records, imports, rejects = _state(catalog_service)
    try:
        outcome = run_import(catalog_service, admin, "customer", name, data)
    except (BadFile, BadImport) as exc:
        event(f"refused: {type(exc).__name__}")
        assert exc.message and "\n" not in exc.message and "Traceback" not in exc.message
        assert _state(catalog_service) == (records, imports, rejects)  # nothing written
        return
    event(f"imported {name[-4:]}, rejected {'some' if outcome.rejects else 'none'}")
    table = read_table(name, data)
    assert outcome.total == len(table.rows)
    numbers = [n for n, _, _ in outcome.rejects]
    assert len(set(numbers)) == len(numbers) and set(numbers) <= set(table.numbers)
    assert all(reason.strip() for _, _, reason in outcome.rejects)
    assert outcome.created + outcome.rejected == outcome.total  # no key: nothing else to be
    assert _state(catalog_service) == (
        records + outcome.created,
        imports + 1,
        rejects + outcome.rejected,
    )
