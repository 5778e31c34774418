"""Reading across types at once: how many records of each, and the latest changes to any.

A dashboard asks these for every type the actor may read. Asking type by
type would cost one round trip per type, so ``counts`` reads every count in
one statement (one scalar subquery per type), and ``recent`` reads the audit
trail newest first, across types, in pages, until it has enough entries the
actor may see. Both narrow to the rows the actor may read; ``recent`` leaves
out changes to hidden fields, as ``history`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from xrm.entities.records.access import AccessMixin
from xrm.entities.records.pages import Record
from xrm.platform import tables as platform

RECENT_BATCH = 200  # audit rows read per round while looking for entries the actor may see
RECENT_ROUNDS = 10  # then stop: a reader who may see almost nothing gets what was found


class OverviewMixin(AccessMixin):
    """``counts`` and ``recent``."""

    def readable_types(self) -> list[str]:
        """The user-facing types the actor may read, by name."""
        return sorted(
            name
            for name, et in self.catalog.types.items()
            if not et.system and self.permissions.scope(name, "read") != "none"
        )

    def counts(self, entities: Iterable[str]) -> dict[str, int]:
        """The number of records of each type the actor may read, in one statement.

        Raises FORBIDDEN for a type the actor may not read (ask ``readable_types`` first).
        """
        wanted = sorted(set(entities))
        if not wanted:
            return {}
        parts = []
        for index, entity in enumerate(wanted):
            table = self.catalog.tables[entity]
            readable = self.rows(entity, table)
            count = sa.select(sa.func.count()).select_from(table)
            if readable is not None:
                count = count.where(readable)
            parts.append(count.scalar_subquery().label(f"n{index}"))
        row = self.conn.execute(sa.select(*parts)).one()
        return {entity: int(row[i] or 0) for i, entity in enumerate(wanted)}

    def recent(self, limit: int = 20) -> list[Record]:
        """The latest changes to records the actor may read, newest first, at most ``limit``.

        Each entry: ``entity``, ``record_id``, ``at``, ``actor`` (e-mail),
        ``action``, ``changes`` (keyed by property name; hidden fields left
        out, and updates that changed nothing else left out) and ``channel``.
        Entries about records the actor may read only if they own them are
        kept only while the record exists and is theirs (a deleted record's
        owner is no longer known).
        """
        entities = self.readable_types()
        if not entities or limit <= 0:
            return []
        table = platform.audit
        out: list[Record] = []
        before: int | None = None
        for _ in range(RECENT_ROUNDS):
            query = (
                sa.select(
                    table.c.id,
                    table.c.entity,
                    table.c.record_id,
                    table.c.at,
                    table.c.actor_email,
                    table.c.action,
                    table.c.changes,
                    table.c.channel,
                )
                .where(table.c.entity.in_(entities), table.c.record_id.is_not(None))
                .order_by(table.c.id.desc())
                .limit(RECENT_BATCH)
            )
            if before is not None:
                query = query.where(table.c.id < before)
            rows = list(self.conn.execute(query))
            if not rows:
                break
            before = int(rows[-1].id)
            out.extend(self._visible(rows))
            if len(out) >= limit or len(rows) < RECENT_BATCH:
                break
        return out[:limit]

    def _visible(self, rows: list[Any]) -> list[Record]:
        """The audit rows the actor may see, as entries, in the order given."""
        own: dict[str, set[str]] = {}
        for row in rows:
            if self.permissions.scope(row.entity, "read") == "own":
                own.setdefault(row.entity, set()).add(str(row.record_id))
        theirs = {entity: self._existing(entity, sorted(ids)) for entity, ids in own.items()}
        found: list[Record] = []
        for row in rows:
            if row.entity in theirs and str(row.record_id) not in theirs[row.entity]:
                continue
            changes = row.changes
            hidden = self.permissions.hidden(row.entity)
            if hidden and isinstance(changes, dict):
                changes = {k: v for k, v in changes.items() if k not in hidden}
                if not changes and row.action == "update":
                    continue
            found.append(
                {
                    "entity": row.entity,
                    "record_id": str(row.record_id),
                    "at": row.at,
                    "actor": row.actor_email,
                    "action": row.action,
                    "changes": changes,
                    "channel": row.channel,
                }
            )
        return found
