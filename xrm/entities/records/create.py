"""Creating records, one or many, all or nothing, with gap-free auto-numbers.

A create runs the ``before`` rules on the values given (with the new ids),
checks rights, fields, owners, references and uniqueness, numbers what the
sequences number, inserts every row in one statement and notes its audit
rows, then tells the ``after`` rules. Auto-numbers live here because only a
create gives them out (or, for an import that keeps its old numbers, moves
their sequence past the numbers kept); an update may not set one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from xrm.entities.events import WriteEvent
from xrm.entities.records.checks import lost_race, numbered_faults
from xrm.entities.records.duplicates import DuplicatesMixin
from xrm.entities.records.pages import Record, chunks
from xrm.entities.records.shape import OWNER
from xrm.entities.records.write_events import WriteEventsMixin
from xrm.errors import Fault, ValidationFailed
from xrm.platform import tables as platform
from xrm.platform.ids import new_id
from xrm.schemas.formats import json_value
from xrm.schemas.model import EntityType, Property
from xrm.schemas.validate import RecordValidator

_AUTONUMBER = re.compile(r"\{seq(?::(\d+))?\}")


def autonumber_text(template: str, value: int) -> str:
    """``"GRV-{seq:6}"`` with 42 gives ``"GRV-000042"``."""
    return _AUTONUMBER.sub(lambda m: str(value).zfill(int(m.group(1) or 0)), template)


def autonumber_pattern(template: str) -> re.Pattern[str]:
    """What ``autonumber_text`` makes of ``template``, with the (first) number as group 1."""
    parts = _AUTONUMBER.split(template)[::2]  # the text between the {seq} placeholders
    return re.compile("^" + r"(\d+)".join(re.escape(p) for p in parts) + "$")


class CreateMixin(DuplicatesMixin, WriteEventsMixin):
    """``create`` and ``create_many``, and the auto-number sequences they draw from."""

    def create(
        self, entity: str, values: Mapping[str, Any], *, keep_numbers: bool = False
    ) -> Record:
        """Create one record; every failing field is reported at once (``VALIDATION_FAILED``).

        Auto-numbers are the sequence's alone: a value for one is refused,
        unless ``keep_numbers`` (an import keeping its old numbers) says so;
        the sequence then moves past every number kept.
        """
        return self._create(entity, [values], bulk=False, keep_numbers=keep_numbers)[0]

    def create_many(
        self,
        entity: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        prefix: str = "inputs",
        keep_numbers: bool = False,
        duplicates_checked: bool = False,
    ) -> list[Record]:
        """Create records all or nothing; faults are named ``inputs.<index>.<field>``.

        ``duplicates_checked`` is for an importer that has matched these very rows
        against the type's duplicate rules in this transaction (and acted on what
        matched): the rules are not run a second time, unless a ``before`` rule
        could have changed the values since.
        """
        return self._create(
            entity,
            rows,
            bulk=True,
            prefix=prefix,
            keep_numbers=keep_numbers,
            duplicates_checked=duplicates_checked,
        )

    def _create(
        self,
        entity: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        bulk: bool,
        prefix: str = "inputs",
        keep_numbers: bool = False,
        duplicates_checked: bool = False,
    ) -> list[Record]:
        et = self.catalog.entity(entity)
        if et.system:
            raise ValidationFailed([Fault("", f"{entity} records are read-only here")])
        self.permissions.require(entity, "create")  # authorization comes before validation
        if not rows:
            return []
        # Ids come first: a ``before`` rule sees the record's id (CONTRACT §5).
        ids = [new_id() for _ in rows]
        listener = self._listening("create", entity)
        if listener is not None:
            rows = [
                self._changed_by_rules(
                    listener, WriteEvent("create", entity, {**values, "id": key}), values, et
                )
                if isinstance(values, Mapping)
                else values
                for values, key in zip(rows, ids, strict=True)
            ]
        requested = [v.get(OWNER) if isinstance(v, Mapping) else None for v in rows]
        for values in rows:
            if isinstance(values, Mapping):
                self._writable(entity, values)
        self._may_assign(entity, (str(o) for o in requested if o is not None))
        numbered = [p for p in et.properties.values() if p.autonumber]
        validator: RecordValidator = self.catalog.validators[entity]
        prefixes = [f"{prefix}.{i}." if bulk else "" for i in range(len(rows))]
        faults: list[Fault] = []
        clean_rows: list[dict[str, Any]] = []
        for values, here in zip(rows, prefixes, strict=True):
            if not isinstance(values, Mapping):
                faults.append(Fault(here.rstrip("."), "a record is an object"))
                clean_rows.append({})
                continue
            faults.extend(self._unknown_fields(et, values, here))
            if not keep_numbers:
                faults.extend(numbered_faults(numbered, values, here))
            clean, own = validator.for_create(
                {k: v for k, v in values.items() if k in et.properties}, here
            )
            faults.extend(own)
            clean_rows.append(clean)
        owners, owner_faults = self._check_owners(requested, prefixes)
        faults.extend(owner_faults)
        if not faults:
            faults.extend(self._check_references(et, clean_rows, prefixes))
        if faults:
            raise ValidationFailed(faults)
        self._check_unique(et, clean_rows, prefixes)
        if et.duplicates and not (duplicates_checked and listener is None):
            self._check_duplicates(et, clean_rows, prefixes)
        for prop in numbered:
            if keep_numbers:
                self._keep_numbers(et, prop, {r.get(prop.name) for r in clean_rows})
            self._number(et, prop, clean_rows)
        now = dt.datetime.now(dt.UTC)
        table = self.catalog.tables[entity]
        inserts: list[dict[str, Any]] = []
        records: list[Record] = []
        for clean, owner, record_id in zip(clean_rows, owners, ids, strict=True):
            row: dict[str, Any] = {
                "id": record_id,
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "created_by": self.actor.id,
                "updated_by": self.actor.id,
                "owner_id": owner or self.actor.id,
            }
            row.update({p.column: clean.get(p.name) for p in et.properties.values()})
            inserts.append(row)
            records.append(self._record(et, row))
            changes = {k: [None, json_value(v)] for k, v in clean.items() if v is not None}
            if owner is not None and owner != self.actor.id:
                changes[OWNER] = [None, owner]
            self._note("create", entity, record_id, changes)
        links = [e for r in records for e in self._reference_events(et, r, None)]
        self._before(links)
        self._insert(et, table, inserts)
        self._flush_audit()
        if self.listener is not None:
            self._after(WriteEvent("create", entity, dict(r)) for r in records)
            self._after(links)
        self._mask(entity, records)
        return records

    def _insert(self, et: EntityType, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(table.insert(), rows)
        except sa.exc.IntegrityError as exc:
            if (known := lost_race(et.name, exc)) is None:
                raise
            raise known from None

    def _next_numbers(self, et: EntityType, prop: Property, count: int) -> list[int]:
        """Reserve ``count`` numbers of the autonumber sequence, in this transaction.

        The counter row is updated (and so locked) inside the record's own
        transaction: a rolled-back create gives its numbers back, and
        concurrent creates queue on the row, so numbers never skip or repeat.
        """
        name = f"{et.name}.{prop.name}"
        seq = platform.sequences
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(seq)
        self.conn.execute(insert.values(name=name, value=0).on_conflict_do_nothing())
        last = self.conn.execute(
            seq.update()
            .where(seq.c.name == name)
            .values(value=seq.c.value + count)
            .returning(seq.c.value)
        ).scalar_one()
        return list(range(last - count + 1, last + 1))

    def _number(self, et: EntityType, prop: Property, rows: Sequence[dict[str, Any]]) -> None:
        """Give the rows without a value the sequence's next numbers.

        Where the numbers are unique, a number some record already holds (set
        by hand before numbers were the sequence's alone) is passed over, so
        a database left with one is not stuck at it.
        """
        assert prop.autonumber is not None
        missing = [r for r in rows if r.get(prop.name) is None]
        column = self.catalog.tables[et.name].c[prop.column]
        guarded = (prop.name,) in et.unique
        while missing:
            texts = [
                autonumber_text(prop.autonumber, n)
                for n in self._next_numbers(et, prop, len(missing))
            ]
            taken: set[str] = set()
            if guarded:
                for chunk in chunks(texts):
                    taken.update(
                        r[0] for r in self.conn.execute(sa.select(column).where(column.in_(chunk)))
                    )
            for text in texts:
                if text not in taken:
                    missing.pop(0)[prop.name] = text

    def _keep_numbers(self, et: EntityType, prop: Property, given: Iterable[Any]) -> None:
        """Move the sequence past the numbers an import keeps, so none is handed out again."""
        assert prop.autonumber is not None
        pattern = autonumber_pattern(prop.autonumber)
        found = [int(m.group(1)) for v in given if v is not None and (m := pattern.match(str(v)))]
        kept = [n for n in found if autonumber_text(prop.autonumber, n) in given]
        if not kept:
            return
        seq = platform.sequences
        name = f"{et.name}.{prop.name}"
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(seq)
        self.conn.execute(insert.values(name=name, value=0).on_conflict_do_nothing())
        self.conn.execute(
            seq.update().where(seq.c.name == name, seq.c.value < max(kept)).values(value=max(kept))
        )
