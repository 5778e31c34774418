"""Exporting a list as CSV or XLSX: the whole filtered list (GET) or the ticked records (POST).

The file holds what the list shows, as the user sees it: a column per field
they may see, headed by its label in the page's language, values in words
(references by name, enum labels, yes/no). The whole list is read a page at
a time through the record service's keyset cursors, each page in its own
short transaction, and streamed out as it is read: no giant query, no file
held in memory (an XLSX workbook is written at the end, through openpyxl's write-only mode).
Its size is checked first (a count, which an export asks
for), and a list over ``MAX_ROWS`` is refused with a page saying to narrow it.

A cell that a spreadsheet would run as a formula (starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) is written with a leading ``'``, so
a record's text can never become a formula in the file's reader (CSV
injection, OWASP).
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from xrm.admin_ui import record_views as rv
from xrm.admin_ui.auth import admin_form, admin_view, message
from xrm.admin_ui.pages import gettext_for, language
from xrm.admin_ui.record_fields import field_label, shown_value, when
from xrm.admin_ui.records import in_session, readable_type, refused_page
from xrm.entities.records import RecordSession, formats_uuid
from xrm.errors import Forbidden, NotFound
from xrm.platform import sessions
from xrm.schemas.model import EntityType, Property

Gettext = Callable[[str], str]

MAX_ROWS = 100_000  # a bigger export is a job for `xrm export`, not a browser download
MAX_TICKED = 1_000
PAGE = 500  # records per read (the record service's page limit is 500 by default)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs it."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _fields(session: RecordSession, et: EntityType) -> list[Property]:
    hidden = session.hidden(et.name)
    return [p for p in et.properties.values() if p.name not in hidden and p.kind != "object"]


def header(fields: Iterable[Property], lang: str, _: Gettext) -> list[str]:
    return [*(field_label(p, lang) for p in fields), _("Last changed")]


def rows_of(
    session: RecordSession,
    fields: list[Property],
    records: list[dict[str, Any]],
    lang: str,
    _: Gettext,
) -> list[list[str]]:
    """Records as the list shows them; names of a page's references read at once."""
    names = rv.page_names(session, fields, records, _)
    out = []
    for record in records:
        cells = []
        for prop in fields:
            value = record.get(prop.name)
            empty = value is None or value == "" or value == []
            cells.append("" if empty else shown_value(prop, value, lang, _, names))
        cells.append(when(record["updated_at"]) + " UTC" if record.get("updated_at") else "")
        out.append([safe_cell(c) for c in cells])
    return out


def csv_text(rows: Iterable[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def _download(name: str, body: AsyncIterator[str] | str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    media = "text/csv; charset=utf-8"
    if isinstance(body, str):
        return Response("\ufeff" + body, media_type=media, headers=headers)
    return StreamingResponse(body, media_type=media, headers=headers)


async def xlsx_of(pages: list[list[list[str]]], sheet: str) -> bytes:
    """A workbook of one sheet holding ``pages``' rows as text, built in openpyxl's write-only
    mode (rows go to a temporary file, not memory), off the event loop."""

    def build() -> bytes:
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        page = book.create_sheet(sheet[:31])
        for rows in pages:
            for row in rows:
                page.append(row)  # text only, formula-escaped: nothing runs when opened
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

    return await run_in_threadpool(build)


def _download_xlsx(name: str, body: bytes) -> Response:
    return Response(
        body,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


@admin_view
async def export_list(request: Request, session: sessions.Session) -> Response:
    """The whole list as its address narrows it (``?q=``, filters, sort), as CSV."""
    entity = request.path_params["entity"]
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)
    params = request.query_params

    def count(records: RecordSession) -> int:
        et = readable_type(records, entity)
        asked = rv.read_list_query(records, et, params, lang, _)
        page = records.query(entity, filter=asked.filter, first=0, with_total=True)
        return int(page.total_count or 0)

    try:
        total = await in_session(request, session, count, write=False)
    except (NotFound, Forbidden) as exc:
        return refused_page(request, session, exc)
    if total > MAX_ROWS:
        said = _(
            "This list holds %(n)s records; at most %(max)s can be exported at once. "
            "Narrow the list with filters and export again."
        ) % {"n": f"{total:,}", "max": f"{MAX_ROWS:,}"}
        return message(request, session, said, 413)

    def read(
        records: RecordSession, after: str | None, first: bool
    ) -> tuple[list[list[str]], str | None, bool]:
        """One page of the list's rows (with the header first), and where it goes on."""
        et = readable_type(records, entity)
        asked = rv.read_list_query(records, et, params, lang, _)
        fields = _fields(records, et)
        page = records.query(
            entity,
            filter=asked.filter,
            order_by=asked.order,
            first=PAGE,
            after=after,
            with_total=False,
            fields=frozenset({*(p.name for p in fields), "updated_at"}),
        )
        rows = rows_of(records, fields, page.items, lang, _)
        if first:
            rows.insert(0, header(fields, lang, _))
        return rows, page.end_cursor, page.has_next_page

    async def pages() -> AsyncIterator[list[list[str]]]:
        after: str | None = None
        first = True
        while True:
            rows, after, more = await in_session(
                request, session, functools.partial(read, after=after, first=first), write=False
            )
            yield rows
            first = False
            if not more:
                return

    if request.url.path.endswith(".xlsx"):
        book = await xlsx_of([rows async for rows in pages()], entity)
        return _download_xlsx(entity, book)

    async def stream() -> AsyncIterator[str]:
        first = True
        async for rows in pages():
            text = csv_text(rows)
            yield ("\ufeff" + text) if first else text  # the mark lets Excel read UTF-8
            first = False

    return _download(entity, stream())


@admin_form
async def export_ticked(request: Request, session: sessions.Session, form: FormData) -> Response:
    """The records ticked in a list, in the list's order, as CSV."""
    entity = request.path_params["entity"]
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)
    ids = list(dict.fromkeys(str(i) for i in form.getlist("ids") if str(i)))
    if not ids:
        return message(request, session, _("Tick the records to export first."), 400)
    if len(ids) > MAX_TICKED:
        said = _("At most %(n)s ticked records can be exported at once.") % {"n": MAX_TICKED}
        return message(request, session, said, 413)

    def read(records: RecordSession) -> list[list[str]]:
        et = readable_type(records, entity)
        fields = _fields(records, et)
        found = records.fetch(entity, ids)
        ordered = [found[i] for i in (_canonical(i) for i in ids) if i in found]
        return [header(fields, lang, _), *rows_of(records, fields, ordered, lang, _)]

    try:
        rows = await in_session(request, session, read, write=False)
    except (NotFound, Forbidden) as exc:
        return refused_page(request, session, exc)
    if request.url.path.endswith(".xlsx"):
        return _download_xlsx(entity, await xlsx_of([rows], entity))
    return _download(entity, csv_text(rows))


def _canonical(record_id: str) -> str:
    try:
        return formats_uuid(record_id)
    except ValueError:
        return record_id
