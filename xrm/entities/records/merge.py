"""Merging two records of one type into one: the destructive half of duplicate handling.

``merge(entity, keep, remove, values)`` moves everything that points at
``remove`` onto ``keep`` and deletes ``remove``, in the session's one
transaction: every reference (live or retired) is re-pointed, with an audited
update of the referring record; every many-to-many link is moved, and where
``keep`` is already linked to the same record the two links become one (the
kept link's attributes win, the removed one's fill its gaps); a link between
the two records themselves disappears. Then ``remove`` is deleted (its own
delete is audited, so its history stays readable), ``keep`` gets an audit
entry ``merge`` naming the removed record, and ``values`` (the fields the
caller picked, by default the kept record's own) are written as an ordinary,
validated update. Access: update on ``keep``, delete on ``remove``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from xrm.entities.records.delete import DeleteMixin
from xrm.entities.records.pages import Record
from xrm.entities.records.shape import formats_uuid
from xrm.errors import Fault, ValidationFailed
from xrm.schemas.formats import json_value
from xrm.schemas.model import Relationship


class MergeMixin(DeleteMixin):
    """``merge``: two records become one, both histories kept."""

    def merge(
        self, entity: str, keep: str, remove: str, values: Mapping[str, Any] | None = None
    ) -> Record:
        """Merge ``remove`` into ``keep`` (see the module); answers the kept record."""
        et = self.catalog.entity(entity)
        faults = [
            Fault(f"values.{k}", f"{entity} has no field {k!r}")
            for k in values or {}
            if k not in et.properties
        ]
        try:
            same = formats_uuid(keep) == formats_uuid(remove)
        except ValueError:
            same = False
        if same:
            faults.append(Fault("remove", "a record cannot be merged into itself"))
        if faults:
            raise ValidationFailed(faults)
        # Locked in id order, so two merges of the same pair cannot deadlock.
        first, second = sorted((keep, remove))
        rows = {first: self._locked_row(et, first), second: self._locked_row(et, second)}
        kept, gone = rows[keep], rows[remove]
        self._may(entity, "update", kept["owner_id"])
        self._may(entity, "delete", gone["owner_id"])
        keep_id, gone_id = kept["id"], gone["id"]
        self._repoint_references(entity, keep_id, gone_id)
        for rel in self.catalog.relationships.values():
            self._move_links(entity, rel, keep_id, gone_id)
        shown = self._record(et, gone).get(et.display or "")
        self.delete(entity, gone_id)
        self._note("merge", entity, keep_id, {"mergedFrom": {"id": gone_id, "name": shown}})
        self._flush_audit()
        if values:
            try:
                return self.update(entity, keep_id, values)
            except ValidationFailed as exc:
                raise ValidationFailed(
                    Fault(f"values.{f.field}" if f.field else "values", f.message)
                    for f in exc.faults
                ) from None
        merged = self._record(et, self._locked_row(et, keep_id))
        self._mask(entity, [merged])
        return merged

    def _repoint_references(self, entity: str, keep_id: str, gone_id: str) -> None:
        """Every reference to ``gone_id`` (live or retired) now names ``keep_id``; each
        referring record gets a new version and an audited change."""
        now = dt.datetime.now(dt.UTC)
        for other in self.catalog.types.values():
            table = self.catalog.tables.get(other.name)
            if table is None:
                continue
            for prop in [*other.properties.values(), *other.retired.values()]:
                if prop.ref is None or prop.ref.entity != entity:
                    continue
                column = table.c[prop.column]
                ids = [
                    r[0]
                    for r in self.conn.execute(
                        sa.select(table.c.id).where(column == gone_id, table.c.id != gone_id)
                    )
                ]
                if not ids:
                    continue
                self.conn.execute(
                    table.update()
                    .where(column == gone_id, table.c.id != gone_id)
                    .values(
                        {
                            prop.column: keep_id,
                            "version": table.c.version + 1,
                            "updated_at": now,
                            "updated_by": self.actor.id,
                        }
                    )
                )
                for record_id in ids:
                    self._note("update", other.name, record_id, {prop.name: [gone_id, keep_id]})

    def _move_links(self, entity: str, rel: Relationship, keep_id: str, gone_id: str) -> None:
        """Move ``gone_id``'s links of ``rel`` to ``keep_id``, one link per pair."""
        table = self.catalog.link_tables[rel.name]
        attributes = [c for c in table.c if c.name not in ("from_id", "to_id")]
        for side, other_side, side_entity in (
            ("from_id", "to_id", rel.from_entity),
            ("to_id", "from_id", rel.to_entity),
        ):
            if side_entity != entity:
                continue
            mine, theirs = table.c[side], table.c[other_side]
            for link in list(self.conn.execute(sa.select(table).where(mine == gone_id)).mappings()):
                partner = link[other_side]
                old_pair = sa.and_(mine == gone_id, theirs == partner)
                self.conn.execute(table.delete().where(old_pair))
                self._note("unlink", rel.name, _pair(side, gone_id, partner), None)
                if rel.from_entity == rel.to_entity and partner in (keep_id, gone_id):
                    continue  # a link between the two merged records: it would link keep to itself
                new_pair = sa.and_(mine == keep_id, theirs == partner)
                held = self.conn.execute(sa.select(table).where(new_pair)).mappings().first()
                if held is None:
                    self.conn.execute(table.insert().values({**link, side: keep_id}))
                    changes = {_name(rel, c.name): json_value(link[c.name]) for c in attributes}
                else:
                    gaps = {
                        c.name: link[c.name]
                        for c in attributes
                        if held[c.name] is None and link[c.name] is not None
                    }
                    if not gaps:
                        continue
                    self.conn.execute(table.update().where(new_pair).values(gaps))
                    changes = {_name(rel, k): json_value(v) for k, v in gaps.items()}
                changes = {k: v for k, v in changes.items() if k in rel.properties}
                self._note("link", rel.name, _pair(side, keep_id, partner), changes)


def _pair(side: str, mine: str, partner: str) -> str:
    """The audit id of a link: ``<from id>:<to id>``."""
    return f"{mine}:{partner}" if side == "from_id" else f"{partner}:{mine}"


def _name(rel: Relationship, column: str) -> str:
    """The attribute a link table's column holds (its name, for the audit trail)."""
    for prop in rel.properties.values():
        if prop.column == column:
            return prop.name
    return column
