"""Rows to records and back: the system fields, the columns a select reads, canonical ids.

A record is a plain dict keyed by property name plus the system keys
(``SYSTEM_KEYS``); its row is keyed by column (``SYSTEM_COLUMNS`` and each
property's column). Every read and write converts through here, so the
mapping, and its per-session cache of shapes, exists once.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from xrm.entities.records.pages import Record
from xrm.entities.records.state import SessionState
from xrm.schemas.formats import uuid_text
from xrm.schemas.model import EntityType

OWNER = "owner"  # the one system field a caller may write (reassigning the record)
SYSTEM_KEYS = ("id", "version", "created_at", "updated_at", "created_by", "updated_by", "owner")
SYSTEM_COLUMNS = (
    "id",
    "version",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "owner_id",
)


def formats_uuid(value: Any) -> str:
    """An id in its one canonical form (lowercase, hyphenated); ValueError otherwise."""
    return str(uuid_text(value))


class ShapeMixin(SessionState):
    """Records from rows, and the columns (in select order) that make them."""

    def _record(self, et: EntityType, row: Any) -> Record:
        out: Record = {
            "id": row["id"],
            "version": row["version"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "created_by": row["created_by"],
            "updated_by": row["updated_by"],
            "owner": row["owner_id"],
        }
        for prop in et.properties.values():
            out[prop.name] = row[prop.column]
        return out

    def _shape(
        self, et: EntityType, fields: frozenset[str] | None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Record keys and their columns, in select order: all, or ``id`` plus ``fields``.

        Cached per type and field set: built per row otherwise.
        """
        cache_key = (et.name, fields)
        found = self._shape_cache.get(cache_key)
        if found is None:
            pairs = [*zip(SYSTEM_KEYS, SYSTEM_COLUMNS, strict=True)]
            pairs.extend((p.name, p.column) for p in et.properties.values())
            if fields is not None:  # record keys, or column names (an ordering's)
                pairs = [(k, c) for k, c in pairs if k == "id" or k in fields or c in fields]
            found = self._shape_cache[cache_key] = (
                tuple(k for k, _ in pairs),
                tuple(c for _, c in pairs),
            )
        return found

    def _keys(self, et: EntityType, fields: frozenset[str] | None = None) -> tuple[str, ...]:
        """Record keys in the order of ``_columns``."""
        return self._shape(et, fields)[0]

    def _from_row(self, et: EntityType, row: Any, fields: frozenset[str] | None = None) -> Record:
        """A record from a result row whose first columns are ``_columns(et, ..., fields)``."""
        return dict(zip(self._shape(et, fields)[0], row, strict=False))

    def _columns(
        self, et: EntityType, table: sa.FromClause, fields: frozenset[str] | None = None
    ) -> list[Any]:
        """Every column of a record, or (``fields``) only ``id`` and those fields' columns.

        Reading only what a caller selects spares converting the rest of
        every row (dates, decimals, JSON): most of a large list's cost.
        """
        return [table.c[n] for n in self._shape(et, fields)[1]]
