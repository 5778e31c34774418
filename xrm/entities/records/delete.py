"""Removing records, and going back in time: the ``onDelete`` cascade engine, erasure, restore.

``delete`` works out the closure of ``cascade`` rules, refuses while a
record that would survive still refers to a doomed one by a ``restrict``
reference, clears ``set_null`` references of survivors (audited updates with
their own events) and retired ones, and only then deletes. ``erase`` is a
delete followed by redacting the audit trail; ``restore`` is an update built
by replaying that trail (``_versions``). They sit here, on top of update,
because erase is a delete, restore is an update, and both work on the audit
rows that writes leave.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from xrm.entities.events import WriteEvent, reference_name
from xrm.entities.records.pages import Record, chunks
from xrm.entities.records.update import UpdateMixin
from xrm.errors import Fault, Restricted, ValidationFailed
from xrm.platform import tables as platform
from xrm.schemas.formats import json_value
from xrm.schemas.model import EntityType, Property

ERASED = "[erased]"  # what an erased value reads as in the audit trail


class DeleteMixin(UpdateMixin):
    """``delete`` with its cascades, ``erase``, and ``restore`` from the audit trail."""

    def delete(self, entity: str, record_id: str) -> bool:
        """Delete a record, applying every ``onDelete`` rule that points at it, transitively.

        ``restrict`` refuses (``RESTRICTED``, naming the blocking references);
        ``cascade`` deletes the referring records too; ``set_null`` clears the
        reference. Retired references are cleared, since their target is gone.
        """
        et = self.catalog.entity(entity)
        row = self._locked_row(et, record_id)
        self._may(entity, "delete", row["owner_id"])
        doomed: dict[str, set[str]] = {entity: {row["id"]}}
        frontier: list[tuple[str, list[str]]] = [(entity, [row["id"]])]
        # 1. The closure of cascades.
        while frontier:
            target, ids = frontier.pop()
            for referrer, prop in self.catalog.referrers.get(target, ()):
                assert prop.ref is not None
                if prop.ref.on_delete != "cascade":
                    continue
                found = self._referring(referrer, prop.column, ids)
                new = [i for i in found if i not in doomed.setdefault(referrer, set())]
                if new:
                    doomed[referrer].update(new)
                    frontier.append((referrer, new))
        # 2. Restrictions from records that would survive.
        blockers: list[str] = []
        for target, doomed_ids in doomed.items():
            for referrer, prop in self.catalog.referrers.get(target, ()):
                assert prop.ref is not None
                if prop.ref.on_delete != "restrict":
                    continue
                found = [
                    i
                    for i in self._referring(referrer, prop.column, sorted(doomed_ids))
                    if i not in doomed.get(referrer, set())
                ]
                if found:
                    blockers.append(f"{len(found)} {referrer} record(s) by {prop.name}")
        if blockers:
            raise Restricted(
                f"cannot delete {entity} {record_id}: still referenced by " + "; ".join(blockers),
                references=blockers,
            )
        gone = self._doomed_records(row["id"], entity, doomed)
        self._before(gone)
        now = dt.datetime.now(dt.UTC)
        cleared: list[WriteEvent] = []
        # 3. set_null on survivors, and on retired references to anything doomed.
        for target, doomed_ids in doomed.items():
            for et_other in self.catalog.types.values():
                retired = [
                    p
                    for p in et_other.retired.values()
                    if p.ref is not None and p.ref.entity == target
                ]
                live = [
                    p
                    for p in et_other.references
                    if p.ref is not None
                    and p.ref.entity == target
                    and p.ref.on_delete == "set_null"
                ]
                for prop in [*live, *retired]:
                    cleared += self._set_null(
                        et_other,
                        prop,
                        sorted(doomed_ids),
                        doomed.get(et_other.name, set()),
                        now,
                        audited=prop in live,
                    )
        # 4. References between doomed records are cleared first, so order never matters.
        for name, doomed_ids in doomed.items():
            doomed_et = self.catalog.types[name]
            table = self.catalog.tables[name]
            for prop in [*doomed_et.references, *doomed_et.retired.values()]:
                if prop.ref is not None and prop.ref.entity in doomed:
                    for chunk in chunks(sorted(doomed_ids)):
                        self.conn.execute(
                            table.update().where(table.c.id.in_(chunk)).values({prop.column: None})
                        )
        for name, doomed_ids in doomed.items():
            doomed_et = self.catalog.types[name]
            table = self.catalog.tables[name]
            for chunk in chunks(sorted(doomed_ids)):
                olds = (
                    self.conn.execute(
                        sa.select(*self._columns(doomed_et, table)).where(table.c.id.in_(chunk))
                    )
                    .mappings()
                    .all()
                )
                for old in olds:
                    values = self._record(doomed_et, old)
                    changes = {
                        p: [json_value(values[p]), None]
                        for p in doomed_et.properties
                        if values[p] is not None
                    }
                    self._note("delete", name, old["id"], changes)
        for name, doomed_ids in doomed.items():
            table = self.catalog.tables[name]
            for chunk in chunks(sorted(doomed_ids)):
                self.conn.execute(table.delete().where(table.c.id.in_(chunk)))
        self._flush_audit()
        self._after(gone)
        self._after(cleared)
        return True

    def _doomed_records(
        self, first: str, entity: str, doomed: Mapping[str, set[str]]
    ) -> list[WriteEvent]:
        """The ``delete`` (and reference ``unlink``) events of every record a delete removes,
        cascades included (directus#24589), the record asked for first; none without a
        listener that wants them."""
        if self.listener is None:
            return []
        events: list[WriteEvent] = []
        for name, ids in doomed.items():
            et = self.catalog.types[name]
            wanted = self._listening("delete", name) is not None
            if not wanted and not any(
                self._listening("unlink", name, reference_name(name, p.name)) is not None
                for p in et.references
            ):
                continue
            table = self.catalog.tables[name]
            order = sorted(ids, key=lambda i: (i != first, i))
            for chunk in chunks(order):
                rows = self.conn.execute(sa.select(table).where(table.c.id.in_(chunk))).mappings()
                found = {str(r["id"]): self._record(et, r) for r in rows}
                for key in chunk:
                    if (old := found.get(str(key))) is None:
                        continue
                    if wanted:
                        events.append(WriteEvent("delete", name, old, old))
                    events.extend(self._reference_events(et, None, old))
        return events

    def _referring(self, entity: str, column: str, ids: Sequence[str]) -> list[str]:
        table = self.catalog.tables[entity]
        out: list[str] = []
        for chunk in chunks(ids):
            out.extend(
                str(r[0])
                for r in self.conn.execute(sa.select(table.c.id).where(table.c[column].in_(chunk)))
            )
        return out

    def _set_null(
        self,
        et: EntityType,
        prop: Property,
        target_ids: Sequence[str],
        skip: set[str],
        now: dt.datetime,
        *,
        audited: bool,
    ) -> list[WriteEvent]:
        """Clear ``prop`` where it points at a doomed record; the ``update`` and ``unlink``
        events of the records it changes (already told ``before``) are for after the delete."""
        table = self.catalog.tables[et.name]
        events: list[WriteEvent] = []
        for chunk in chunks(target_ids):
            rows = self.conn.execute(
                sa.select(table.c.id, table.c[prop.column]).where(table.c[prop.column].in_(chunk))
            ).all()
            ids = [r[0] for r in rows if r[0] not in skip]
            if not ids:
                continue
            if audited:
                events += self._cleared_events(et, prop, ids)
            values: dict[str, Any] = {prop.column: None}
            if audited:
                values.update(version=table.c.version + 1, updated_at=now, updated_by=self.actor.id)
            self.conn.execute(table.update().where(table.c.id.in_(ids)).values(values))
            if audited:
                for record_id, old in rows:
                    if record_id not in skip:
                        self._note("update", et.name, record_id, {prop.name: [str(old), None]})
        return events

    def _cleared_events(
        self, et: EntityType, prop: Property, ids: Sequence[str]
    ) -> list[WriteEvent]:
        """A ``set_null`` rule clearing ``prop`` is an update and an unlink like any other:
        rules watching them are told ``before`` (and may refuse), the events returned."""
        name = reference_name(et.name, prop.name)
        if self.listener is None or (
            self._listening("update", et.name) is None
            and self._listening("unlink", et.name, name) is None
        ):
            return []
        table = self.catalog.tables[et.name]
        events: list[WriteEvent] = []
        for row in self.conn.execute(sa.select(table).where(table.c.id.in_(ids))).mappings():
            old = self._record(et, row)
            new = {**old, prop.name: None, "version": old["version"] + 1}
            if self._listening("update", et.name) is not None:
                events.append(WriteEvent("update", et.name, new, old, frozenset({prop.name})))
            events.extend(self._reference_events(et, new, old))
        self._before(events)
        return events

    def _versions(self, entity: str, record_id: str) -> list[dict[str, Any]]:
        """The record's state after each create or update, oldest first (index 0 = version 1).

        Every change that bumps a record's version writes exactly one such audit
        entry, so replaying them gives every version back.
        """
        table = platform.audit
        rows = self.conn.execute(
            sa.select(table.c.changes)
            .where(
                table.c.entity == entity,
                table.c.record_id == record_id,
                table.c.action.in_(("create", "update")),
            )
            .order_by(table.c.id)
        )
        state: dict[str, Any] = {}
        out: list[dict[str, Any]] = []
        for (changes,) in rows:
            for name, pair in (changes or {}).items():
                if isinstance(pair, list) and len(pair) == 2:
                    state[name] = pair[1]
            out.append(dict(state))
        return out

    def restore(
        self, entity: str, record_id: str, version: int, *, expected_version: int | None = None
    ) -> Record:
        """Bring the record's fields back to how they were at ``version``: a new, audited update.

        Owner and fields no longer defined are left as they are; fields the actor
        may not write are FORBIDDEN as in any update.
        """
        et = self.catalog.entity(entity)
        row = self._locked_row(et, record_id)
        versions = self._versions(entity, row["id"])
        if not 1 <= version <= len(versions):
            raise ValidationFailed(
                [Fault("version", f"{entity} {record_id} has versions 1 to {len(versions)}")]
            )
        then = versions[version - 1]
        current = self._record(et, row)
        patch = {
            name: then.get(name)
            for name in et.properties
            if json_value(current.get(name)) != then.get(name)
        }
        return self.update(entity, row["id"], patch, expected_version=expected_version)

    def erase(self, entity: str, record_id: str) -> bool:
        """Delete a record and redact its values everywhere the audit trail kept them.

        What stays is a tombstone: who erased which record of which type, when,
        and the names (not the values) of its fields. Records removed by a
        cascade are deleted as usual, not erased. Needs the right ``erase_records``.
        """
        self.permissions.require_right("erase_records")
        et = self.catalog.entity(entity)
        key = self._locked_row(et, record_id)["id"]
        self.delete(entity, key)  # onDelete rules apply; RESTRICTED stops the erasure
        table = platform.audit
        mine = sa.and_(table.c.entity == entity, table.c.record_id == key)
        links = [
            sa.and_(
                table.c.entity == rel.name,
                sa.or_(
                    table.c.record_id.startswith(f"{key}:"), table.c.record_id.endswith(f":{key}")
                ),
            )
            for rel in self.catalog.relationships.values()
            if entity in (rel.from_entity, rel.to_entity)
        ]
        fields: set[str] = set()
        redacted_links = 0
        rows = self.conn.execute(
            sa.select(table.c.id, table.c.entity, table.c.changes).where(sa.or_(mine, *links))
        ).all()
        for audit_id, where, changes in rows:
            if not changes:
                continue
            if where == entity:
                fields.update(changes)
            else:
                redacted_links += 1
            self.conn.execute(
                table.update()
                .where(table.c.id == audit_id)
                .values(changes=dict.fromkeys(changes, ERASED))
            )
        self._note("erase", entity, key, {"fields": sorted(fields), "links": redacted_links})
        self._flush_audit()
        return True
