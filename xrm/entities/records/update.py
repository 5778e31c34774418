"""Changing records: the given fields only, under optimistic locking.

``_locked_row`` finds the record (one the actor cannot read does not exist
for it) and locks it on PostgreSQL; delete, restore and erase start from it
too. An update that changes nothing writes nothing and fires nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from xrm.entities.events import WriteEvent
from xrm.entities.records.checks import lost_race, numbered_faults
from xrm.entities.records.duplicates import DuplicatesMixin
from xrm.entities.records.pages import Record
from xrm.entities.records.shape import OWNER, formats_uuid
from xrm.entities.records.write_events import WriteEventsMixin
from xrm.errors import Conflict, Fault, NotFound, ValidationFailed
from xrm.schemas.formats import json_value
from xrm.schemas.model import EntityType


class UpdateMixin(DuplicatesMixin, WriteEventsMixin):
    """``update``, and the locked read every change of a stored record starts from."""

    def _locked_row(self, et: EntityType, record_id: str) -> Any:
        table = self.catalog.tables[et.name]
        try:
            key = formats_uuid(record_id)
        except ValueError:
            raise NotFound(
                f"no {et.name} with id {record_id}", entity=et.name, id=record_id
            ) from None
        query = sa.select(table).where(table.c.id == key)
        if self.dialect == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        if row is None or (
            self.permissions.require(et.name, "read") == "own" and row["owner_id"] != self.actor.id
        ):
            # A record the actor may not read does not exist for it.
            raise NotFound(f"no {et.name} with id {record_id}", entity=et.name, id=record_id)
        return row

    def update(
        self,
        entity: str,
        record_id: str,
        patch: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> Record:
        """Change the given fields only; a stale ``expected_version`` is a ``CONFLICT``."""
        et = self.catalog.entity(entity)
        table = self.catalog.tables[entity]
        row = self._locked_row(et, record_id)
        self._may(entity, "update", row["owner_id"])
        self._writable(entity, patch)
        # Whoever may change a record may also hand it to someone else (and lose it).
        if expected_version is not None and row["version"] != expected_version:
            raise Conflict(
                f"{entity} {record_id} is at version {row['version']}, not {expected_version}: "
                "someone else changed it; reload and try again",
                currentVersion=row["version"],
            )
        old = self._record(et, row)
        listener = self._listening("update", entity)
        if listener is not None:
            touched = self._touched(et, old, patch)
            if touched:  # an update that changes nothing fires nothing
                event = WriteEvent("update", entity, {**old, **patch}, old, touched)
                patch = self._changed_by_rules(listener, event, patch, et)
        faults = self._unknown_fields(et, patch, "")
        faults.extend(numbered_faults([p for p in et.properties.values() if p.autonumber], patch))
        clean, own = self.catalog.validators[entity].for_patch(
            {k: v for k, v in patch.items() if k in et.properties}, stored=old
        )
        faults.extend(own)
        if OWNER in patch:
            if patch[OWNER] is None:
                faults.append(Fault(OWNER, "a record always has an owner"))
            else:
                [owner], owner_faults = self._check_owners([patch[OWNER]], [""])
                faults.extend(owner_faults)
                clean[OWNER] = owner
        if not faults:
            faults.extend(self._check_references(et, [clean], [""]))
        if faults:
            raise ValidationFailed(faults)
        changed = {k: v for k, v in clean.items() if old.get(k) != v}
        if not changed:
            self._mask(entity, [old])
            return old
        merged = {**old, **changed}
        if any(set(g) & set(changed) for g in et.unique):
            self._check_unique(et, [merged], [""], exclude=row["id"])
        if any({m.field for m in rule.match} & set(changed) for rule in et.duplicates):
            self._check_duplicates(et, [merged], [""], exclude=row["id"])
        links = self._reference_events(et, merged, old) if self.listener is not None else []
        self._before(links)
        now = dt.datetime.now(dt.UTC)
        values = {
            ("owner_id" if k == OWNER else et.properties[k].column): v for k, v in changed.items()
        }
        values.update(version=row["version"] + 1, updated_at=now, updated_by=self.actor.id)
        try:
            with self.conn.begin_nested():
                done = self.conn.execute(
                    table.update()
                    .where(table.c.id == row["id"], table.c.version == row["version"])
                    .values(values)
                )
        except sa.exc.IntegrityError as exc:
            if (known := lost_race(entity, exc)) is None:
                raise
            raise known from None
        if done.rowcount != 1:
            raise Conflict(f"{entity} {record_id} changed meanwhile; reload and try again")
        self._note(
            "update",
            entity,
            row["id"],
            {k: [json_value(old.get(k)), json_value(v)] for k, v in changed.items()},
        )
        self._flush_audit()
        merged.update(version=row["version"] + 1, updated_at=now, updated_by=self.actor.id)
        if self.listener is not None:
            self._after([WriteEvent("update", entity, dict(merged), old, frozenset(changed))])
            self._after(links)
        self._mask(entity, [merged])
        return merged

    def _touched(
        self, et: EntityType, old: Mapping[str, Any], patch: Mapping[str, Any]
    ) -> frozenset[str]:
        """The fields ``patch`` would change, judged on normalised values (``"1.50"`` does not
        change ``1.5``); a patch that does not validate touches every field it names, since a
        ``before`` rule may be what mends it."""
        clean, faults = self.catalog.validators[et.name].for_patch(
            {k: v for k, v in patch.items() if k in et.properties}, stored=old
        )
        if faults or any(k not in et.properties and k != OWNER for k in patch):
            return frozenset(patch)
        touched = {k for k, v in clean.items() if old.get(k) != v}
        if OWNER in patch and patch[OWNER] != old.get(OWNER):
            touched.add(OWNER)
        return frozenset(touched)
