"""Records out as CSV, XLSX or JSON: page by page, permission-checked, safe to open.

The records are read through the record service (the caller's rights, hidden
fields masked) in keyset pages inside one read transaction, so an export of
a million records holds one page in memory and sees one snapshot. A text that
a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return, as OWASP's CSV-injection advice lists) is written
with a leading apostrophe; an import strips it again, so a file exported and
imported gives back the same values.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import IO, Any

from xrm.entities.imports import BadImport
from xrm.entities.imports.mapping import ID
from xrm.entities.records import RecordService
from xrm.platform.identity import Actor
from xrm.schemas.formats import decimal_text, json_value
from xrm.schemas.model import EntityType

FORMATS = ("csv", "xlsx", "json")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def escape(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs it (OWASP's apostrophe prefix)."""
    return "'" + text if text.startswith(_FORMULA) else text


def parse_filter(text: str | None) -> dict[str, Any] | None:
    """``--filter``: a JSON object as the GraphQL API's filters take (docs/graphql.md)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BadImport(f"--filter is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadImport('--filter takes a JSON object, such as {"tier": {"eq": "gold"}}')
    return value


def records(
    service: RecordService, actor: Actor, entity: str, filter: Mapping[str, Any] | None
) -> tuple[EntityType, Iterator[dict[str, Any]]]:
    """The entity type and its records, read a page at a time in one transaction."""
    catalog = service.registry.current()
    et = catalog.types.get(entity)
    if et is None or et.system:
        names = ", ".join(n for n, e in catalog.types.items() if not e.system) or "none"
        raise BadImport(f"there is no entity type {entity!r} (types: {names})")

    def pages() -> Iterator[dict[str, Any]]:
        with service.session(actor, "import", write=False) as session:
            after = None
            while True:
                page = session.query(
                    entity,
                    filter=filter,
                    first=service.settings.max_page_size,
                    after=after,
                    with_total=False,
                )
                yield from page.items
                if not page.has_next_page or not page.items:
                    return
                after = page.end_cursor

    # The first page is read now, so a bad filter fails before anything is written out.
    stream = pages()
    first = next(stream, None)

    def chained() -> Iterator[dict[str, Any]]:
        if first is not None:
            yield first
            yield from stream

    return et, chained()


def _columns(et: EntityType) -> list[str]:
    return [ID, *et.properties]


def _cell_text(value: Any) -> str:
    """A value as one CSV cell (lists as ``a; b``, objects as JSON)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        if all(isinstance(v, (str, int, float)) and ";" not in str(v) for v in value):
            return escape("; ".join(str(v) for v in value))
        return escape(json.dumps(json_value(value), ensure_ascii=False))
    if isinstance(value, dict):
        return escape(json.dumps(json_value(value), ensure_ascii=False))
    return escape(str(value))


def write_csv(et: EntityType, rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """CSV with a header of field names (what an import maps back); returns the record count."""
    writer = csv.writer(out)
    columns = _columns(et)
    writer.writerow(columns)
    count = 0
    for record in rows:
        writer.writerow([_cell_text(record.get(c)) for c in columns])
        count += 1
    return count


def _xlsx_cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, dt.date):
        return value
    return _cell_text(value)  # decimals as text: exact, as written


def write_xlsx(et: EntityType, rows: Iterator[dict[str, Any]], out: IO[bytes]) -> int:
    """An XLSX workbook (one sheet named after the type), written in openpyxl's streaming mode."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title=et.plural[:31])
    columns = _columns(et)
    sheet.append(columns)
    count = 0
    for record in rows:
        sheet.append([_xlsx_cell(record.get(c)) for c in columns])
        count += 1
    with tempfile.TemporaryFile() as spool:  # a zip needs a seekable file; stdout is not
        book.save(spool)
        spool.seek(0)
        while chunk := spool.read(1 << 16):
            out.write(chunk)
    return count


def write_json(et: EntityType, rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """A JSON array of records (``id`` and the fields), one record per line."""
    columns = _columns(et)
    out.write("[")
    count = 0
    for record in rows:
        item = {c: json_value(record.get(c)) for c in columns}
        out.write(("\n" if count == 0 else ",\n") + json.dumps(item, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def export_text(et: EntityType, rows: Iterator[dict[str, Any]], fmt: str) -> str:
    """The whole export as text (for tests and small lists)."""
    out = io.StringIO()
    (write_csv if fmt == "csv" else write_json)(et, rows, out)
    return out.getvalue()
