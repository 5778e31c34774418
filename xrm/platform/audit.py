"""The append-only audit trail, written in the same transaction as the change it records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.engine import Connection

from xrm.platform import tables
from xrm.platform.identity import Actor

CHANNELS = ("api", "admin", "import", "workflow", "plugin", "cli", "system")


def entry(
    actor: Actor,
    channel: str,
    action: str,
    entity: str | None,
    record_id: str | None,
    changes: Mapping[str, Any] | None,
    request_id: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """One audit row, ready for :func:`write`."""
    return {
        "at": at or dt.datetime.now(dt.UTC),
        "actor_id": actor.id,
        "actor_email": actor.email,
        "channel": channel,
        "request_id": request_id,
        "action": action,
        "entity": entity,
        "record_id": record_id,
        "changes": dict(changes) if changes is not None else None,
    }


def write(conn: Connection, entries: Iterable[Mapping[str, Any]]) -> None:
    """Append rows to the trail (one ``executemany`` for a batch)."""
    rows = list(entries)
    if rows:
        conn.execute(tables.audit.insert(), rows)
