"""Reversing an import: delete the records it created, restore the ones it updated.

What an import wrote is read back from the audit trail (its rows carry
``import:<id>``). The undo is one transaction through the record service, so
it is audited, ``onDelete`` rules apply, and it happens whole or not at all.
A record changed since the import (by anyone, or deleted) is not the import's
to undo any more: the whole undo is refused, naming those records.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from xrm.entities.imports import BadImport, store
from xrm.entities.records import RecordService
from xrm.platform import tables
from xrm.platform.identity import Actor

_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Undone:
    """What an undo did."""

    import_id: str
    deleted: int
    restored: int


def undo(service: RecordService, actor: Actor, import_id: str) -> Undone:
    """Undo import ``import_id``; ``BadImport`` when it cannot be undone (nothing changes)."""
    with service.db.read() as conn:
        row = store.get(conn, import_id)
    if row is None:
        raise BadImport(f"there is no import {import_id!r} (see `xrm imports list`)")
    if row.status == store.UNDONE:
        raise BadImport(f"import {row.id} was undone already")
    audit = tables.audit
    with service.session(actor, "import", request_id=f"undo:{row.id}") as session:
        conn = session.conn
        mine = conn.execute(
            sa.select(audit.c.id, audit.c.record_id, audit.c.action)
            .where(audit.c.request_id == row.request_id, audit.c.entity == row.entity)
            .order_by(audit.c.id)
        ).all()
        created: list[str] = []
        updated: dict[str, int] = {}  # record -> id of the import's first audit row for it
        last: dict[str, int] = {}
        for audit_id, record_id, action in mine:
            if record_id is None:
                continue
            if action == "create":
                created.append(record_id)
            elif action == "update" and record_id not in created:
                updated.setdefault(record_id, audit_id)
            last[record_id] = audit_id
        changed: list[str] = []
        touched = list(last)
        for start in range(0, len(touched), 500):
            chunk = touched[start : start + 500]
            latest = conn.execute(
                sa.select(audit.c.record_id, sa.func.max(audit.c.id))
                .where(audit.c.entity == row.entity, audit.c.record_id.in_(chunk))
                .group_by(audit.c.record_id)
            )
            changed.extend(r for r, newest in latest if newest != last[r])
        if changed:
            shown = ", ".join(sorted(changed)[:_SHOWN])
            more = f" and {len(changed) - _SHOWN} more" if len(changed) > _SHOWN else ""
            raise BadImport(
                f"import {row.id} cannot be undone: {len(changed)} of its records were changed "
                f"or deleted since ({shown}{more}); nothing was undone"
            )
        for record_id in created:
            session.delete(row.entity, record_id)
        for record_id, first in updated.items():
            before = conn.execute(
                sa.select(sa.func.count())
                .select_from(audit)
                .where(
                    audit.c.entity == row.entity,
                    audit.c.record_id == record_id,
                    audit.c.action.in_(("create", "update")),
                    audit.c.id < first,
                )
            ).scalar_one()
            if before:
                session.restore(row.entity, record_id, int(before))
        store.mark(conn, row.id, store.UNDONE)
    return Undone(row.id, len(created), len(updated))
