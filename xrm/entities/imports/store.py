"""The ``xrm_imports`` rows: what an import read, how it was told to map it, how far it got.

An import's progress (``batches_done`` and its counts) is written in the same
transaction as each batch's records, with a compare-and-set on
``batches_done``: after a crash the row says exactly which batches are in,
and two processes can never both write the same batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm.platform import tables
from xrm.platform.identity import Actor
from xrm.platform.ids import new_id
from xrm.schemas.formats import uuid_text

# draft: uploaded in the admin UI, not started (its mapping is still being chosen).
DRAFT, RUNNING, DONE, UNDONE = "draft", "running", "done", "undone"


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One import as stored (without its file's bytes)."""

    id: str
    entity: str
    file_name: str
    file_sha256: str
    options: Mapping[str, Any]
    status: str
    batch_size: int
    batches_done: int
    total_rows: int
    created: int
    updated: int
    rejected: int
    actor_id: str | None
    actor_email: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def request_id(self) -> str:
        """What the audit rows of its writes carry in ``request_id``."""
        return f"import:{self.id}"


@dataclass(frozen=True, slots=True)
class Flag:
    """A row that duplicates a stored record (``record``, shown as ``name``) or an earlier row
    of its file (``other_row``) under ``rule``; ``merged`` when it was written into it."""

    row: int
    rule: str
    score: float
    record: str | None
    name: str | None
    other_row: int | None
    merged: bool = False


_COLUMNS = [c for c in tables.imports.c if c.name != "source"]


def _row(mapping: Any) -> ImportRow:
    return ImportRow(**{c.name: mapping[c.name] for c in _COLUMNS if c.name in ImportRow.__slots__})


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def start(
    conn: Connection,
    *,
    entity: str,
    file_name: str,
    source: bytes,
    options: Mapping[str, Any],
    batch_size: int,
    total_rows: int,
    actor: Actor,
    status: str = RUNNING,
) -> ImportRow:
    """Record a new import (running, or a draft to be configured), nothing done yet."""
    now = _now()
    values = {
        "id": new_id(),
        "entity": entity,
        "file_name": file_name,
        "file_sha256": sha256(source),
        "source": source,
        "options": dict(options),
        "status": status,
        "batch_size": batch_size,
        "batches_done": 0,
        "total_rows": total_rows,
        "created": 0,
        "updated": 0,
        "rejected": 0,
        "actor_id": actor.id,
        "actor_email": actor.email,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
    }
    conn.execute(tables.imports.insert().values(values))
    return _row(values)


def get(conn: Connection, import_id: str) -> ImportRow | None:
    try:
        key = uuid_text(import_id)
    except ValueError:
        return None
    row = conn.execute(sa.select(*_COLUMNS).where(tables.imports.c.id == key)).mappings().first()
    return _row(row) if row is not None else None


def source(conn: Connection, import_id: str) -> bytes:
    data = conn.execute(
        sa.select(tables.imports.c.source).where(tables.imports.c.id == import_id)
    ).scalar_one()
    return bytes(data)


def unfinished(conn: Connection, entity: str, digest: str) -> ImportRow | None:
    """The newest import of this very file into ``entity`` that did not finish."""
    t = tables.imports
    row = (
        conn.execute(
            sa.select(*_COLUMNS)
            .where(t.c.entity == entity, t.c.file_sha256 == digest, t.c.status == RUNNING)
            .order_by(t.c.created_at.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return _row(row) if row is not None else None


def listing(conn: Connection, limit: int = 100) -> list[ImportRow]:
    """Imports, newest first."""
    t = tables.imports
    rows = conn.execute(
        sa.select(*_COLUMNS).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
    ).mappings()
    return [_row(r) for r in rows]


def advance(
    conn: Connection,
    import_id: str,
    done_before: int,
    *,
    created: int,
    updated: int,
    rejects: list[tuple[int, list[str], str]],
    finished: bool,
    flags: list[Flag] | None = None,
) -> bool:
    """Count one more batch in (with its rejected rows); False when another process got there
    first (``batches_done`` moved), and the caller must roll the batch back."""
    t = tables.imports
    now = _now()
    values: dict[str, Any] = {
        "batches_done": t.c.batches_done + 1,
        "created": t.c.created + created,
        "updated": t.c.updated + updated,
        "rejected": t.c.rejected + len(rejects),
        "updated_at": now,
    }
    if finished:
        values.update(status=DONE, finished_at=now)
    done = conn.execute(
        t.update()
        .where(t.c.id == import_id, t.c.batches_done == done_before, t.c.status == RUNNING)
        .values(values)
    )
    if done.rowcount != 1:
        return False
    if rejects:
        conn.execute(
            tables.import_rejects.insert(),
            [
                {"import_id": import_id, "row_number": n, "cells": cells, "reason": reason}
                for n, cells, reason in rejects
            ],
        )
    if flags:
        conn.execute(
            tables.import_flags.insert(),
            [
                {
                    "import_id": import_id,
                    "row_number": f.row,
                    "rule": f.rule,
                    "score": f.score,
                    "record_id": f.record,
                    "record_name": f.name,
                    "other_row": f.other_row,
                    "merged": f.merged,
                }
                for f in flags
            ],
        )
    return True


def finish(conn: Connection, import_id: str) -> None:
    """Mark an import whose every batch is in as done (an import of an empty file)."""
    t = tables.imports
    now = _now()
    conn.execute(
        t.update()
        .where(t.c.id == import_id, t.c.status == RUNNING)
        .values(status=DONE, finished_at=now, updated_at=now)
    )


def configure(
    conn: Connection, import_id: str, options: Mapping[str, Any], total_rows: int
) -> bool:
    """Start a draft with the options chosen for it; False when it is no draft any more."""
    t = tables.imports
    done = conn.execute(
        t.update()
        .where(t.c.id == import_id, t.c.status == DRAFT)
        .values(status=RUNNING, options=dict(options), total_rows=total_rows, updated_at=_now())
    )
    return done.rowcount == 1


def mark(conn: Connection, import_id: str, status: str) -> None:
    t = tables.imports
    conn.execute(t.update().where(t.c.id == import_id).values(status=status, updated_at=_now()))


def rejects(conn: Connection, import_id: str) -> list[tuple[int, list[str], str]]:
    """The rejected rows, in file order: (row number, cells, reason)."""
    t = tables.import_rejects
    rows = conn.execute(
        sa.select(t.c.row_number, t.c.cells, t.c.reason)
        .where(t.c.import_id == import_id)
        .order_by(t.c.row_number)
    )
    return [(int(n), list(cells), str(reason)) for n, cells, reason in rows]


def flags(conn: Connection, import_id: str) -> list[Flag]:
    """The rows found to duplicate a record or an earlier row, in file order."""
    t = tables.import_flags
    rows = conn.execute(
        sa.select(t).where(t.c.import_id == import_id).order_by(t.c.row_number)
    ).mappings()
    return [
        Flag(
            int(r["row_number"]),
            str(r["rule"]),
            float(r["score"]),
            None if r["record_id"] is None else str(r["record_id"]),
            r["record_name"],
            r["other_row"],
            bool(r["merged"]),
        )
        for r in rows
    ]
