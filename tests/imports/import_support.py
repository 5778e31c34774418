"""Helpers shared by the import tests: files in memory, and an importer on a test database."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from xrm.entities.imports.run import Importer, Options, Outcome
from xrm.entities.records import RecordService
from xrm.platform.identity import Actor


def csv_bytes(
    rows: Sequence[Sequence[Any]], encoding: str = "utf-8", delimiter: str = ","
) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: Sequence[Sequence[Any]], sheet: str = "Sheet1") -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def run_import(
    service: RecordService,
    actor: Actor,
    entity: str,
    name: str,
    data: bytes,
    *,
    dry_run: bool = False,
    **options: Any,
) -> Outcome:
    importer = Importer(service, actor)
    plan = importer.prepare(name, data, Options(entity, **options))
    return importer.run(plan, dry_run=dry_run)


def records(service: RecordService, actor: Actor, entity: str) -> list[dict[str, Any]]:
    with service.session(actor, write=False) as session:
        return session.query(entity, first=500, with_total=False).items


def count(service: RecordService, entity: str) -> int:
    table = service.registry.current().tables[entity]
    with service.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
