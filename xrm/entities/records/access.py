"""Who may see and change what: the actor's permissions applied to rows, fields and records.

Reads narrow to the rows the actor may read (``rows``) and mask the fields
hidden from it (``hidden``, ``_mask``); ``rows`` and ``hidden`` are also the
``RowAccess`` the query compiler applies inside filters. Writes check the
record's owner (``_may``), read-only fields (``_writable``) and handing a
record to someone else (``_may_assign``). References and links only find
records the actor can see (``_existing``), so they cannot probe. One module,
so the rules of access are read in one place rather than in each kind of
read or write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from xrm.entities.records.pages import Record, chunks
from xrm.entities.records.state import SessionState
from xrm.errors import Forbidden
from xrm.platform.access import HIDDEN


class AccessMixin(SessionState):
    """What the actor may read and write: row scopes, hidden and read-only fields."""

    def rows(self, entity: str, table: sa.FromClause) -> ColumnElement[bool] | None:
        """The rows of ``entity`` the actor may read: None for all, else a condition."""
        if self.permissions.require(entity, "read") == "own":
            return table.c.owner_id == self.actor.id if self.actor.id else sa.false()
        return None

    def hidden(self, entity: str) -> frozenset[str]:
        """Fields of ``entity`` the actor may not read."""
        return self.permissions.hidden(entity)

    def _mask(self, entity: str, records: Iterable[Record]) -> None:
        hidden = self.permissions.hidden(entity)
        if hidden:
            for record in records:
                for name in hidden:
                    if name in record:
                        record[name] = HIDDEN

    def _may(self, entity: str, action: str, owner: str | None) -> None:
        """FORBIDDEN unless the actor may ``action`` this record (owned by ``owner``)."""
        if self.permissions.require(entity, action) == "own" and (
            owner is None or owner != self.actor.id
        ):
            raise Forbidden(
                f"{self.actor.email} may only {action} their own {entity} records",
                entity=entity,
                action=action,
            )

    def _writable(self, entity: str, names: Iterable[str]) -> None:
        blocked = sorted(set(names) & self.permissions.read_only(entity))
        if blocked:
            raise Forbidden(
                f"{self.actor.email} may not write {entity}." + f", {entity}.".join(blocked),
                entity=entity,
                fields=blocked,
            )

    def _may_read(self, entity: str, owner: str | None) -> bool:
        scope = self.permissions.scope(entity, "read")
        return scope == "all" or (scope == "own" and owner is not None and owner == self.actor.id)

    def _may_assign(self, entity: str, owners: Iterable[str | None]) -> None:
        """Making a record someone else's needs update on every record of the type."""
        if any(o is not None and o != self.actor.id for o in owners) and (
            self.permissions.scope(entity, "update") != "all"
        ):
            raise Forbidden(
                f"{self.actor.email} may not assign {entity} records to other users",
                entity=entity,
                action="assign",
            )

    def _existing(self, entity: str, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` the actor can see: a reference to an unreadable record
        fails exactly like one to a missing record, so references cannot probe."""
        table = self.catalog.table(entity)
        readable = None if entity == "user" else self.rows(entity, table)
        found: set[str] = set()
        for chunk in chunks(ids):
            query = sa.select(table.c.id).where(table.c.id.in_(chunk))
            if readable is not None:
                query = query.where(readable)
            found.update(str(r[0]) for r in self.conn.execute(query))
        return found
