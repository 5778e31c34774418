"""An import: a file's rows written through the record service in batches, resumably.

Each batch is one transaction holding its records, their audit rows (which
carry ``import:<id>`` as their request id) and the import's progress, so a
crash or a kill leaves whole batches or nothing, and running the same file
again continues after the last committed batch. A row that fails is rolled
back to its own savepoint and rejected with a reason naming the field; it
never fails its batch. With ``key`` a row whose key (normalised as the field
normalises it) matches a record updates that record instead of creating one.
A dry run does all of it in one transaction and rolls it back.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from xrm.entities.duplicates import DuplicateMatch
from xrm.entities.imports import BadImport, store
from xrm.entities.imports.mapping import ID, ColumnMap, parse_overrides, suggest
from xrm.entities.imports.reading import Table, read_table
from xrm.entities.imports.store import Flag
from xrm.entities.imports.values import cell_value
from xrm.entities.records import RecordService, RecordSession
from xrm.entities.records.pages import chunks
from xrm.errors import FaultsError, XrmError
from xrm.platform import tables as platform
from xrm.platform.identity import Actor
from xrm.schemas.formats import uuid_text
from xrm.schemas.model import EntityType, Property
from xrm.schemas.validate import RecordValidator

Progress = Callable[[int, int], None]
Reject = tuple[int, list[str], str]
DUPLICATE_CHOICES = ("flag", "skip", "merge")


@dataclass(frozen=True, slots=True)
class Options:
    """How to read and map a file; kept with the import so a resume does the same."""

    entity: str
    mapping: Mapping[str, str] = field(default_factory=dict)
    key: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    # What a row that duplicates a record or an earlier row does: flag, skip or merge.
    duplicates: str = "flag"

    def stored(self) -> dict[str, Any]:
        return {
            "mapping": dict(self.mapping),
            "key": self.key,
            "encoding": self.encoding,
            "sheet": self.sheet,
            "duplicates": self.duplicates,
        }

    @classmethod
    def from_stored(cls, entity: str, stored: Mapping[str, Any]) -> Options:
        return cls(
            entity,
            dict(stored.get("mapping") or {}),
            stored.get("key"),
            stored.get("encoding"),
            stored.get("sheet"),
            str(stored.get("duplicates") or "flag"),
        )


@dataclass(slots=True)
class Outcome:
    """What an import did (or, for a dry run, would do)."""

    import_id: str | None
    total: int
    created: int = 0
    updated: int = 0
    rejects: list[Reject] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    resumed_batches: int = 0
    # Rows found to duplicate a record or an earlier row: flagged (written) or merged.
    flags: list[Flag] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    @property
    def unchanged(self) -> int:
        """Rows that matched a record by key and changed nothing in it."""
        return max(0, self.total - self.created - self.updated - self.rejected)


@dataclass(frozen=True, slots=True)
class Plan:
    """A file read and mapped, checked against the entity type, ready to run."""

    file_name: str
    data: bytes
    options: Options
    table: Table
    columns: ColumnMap
    entity: EntityType

    def ignored(self) -> dict[str, str]:
        shown = {}
        for index, why in self.columns.ignored.items():
            shown[self.table.headers[index] or f"column {index + 1}"] = why
        for index, name in self.columns.fields.items():
            if name == ID and self.options.key != ID:
                shown[self.table.headers[index]] = (
                    "record ids are given by xrm; --key id updates the records with these ids"
                )
        return shown


class _DryRun(Exception):
    """Leaves a dry run's transaction by rolling it back."""


class _Overtaken(XrmError):
    code = "CONFLICT"


def _shown(cell: Any) -> str:
    if cell is None:
        return ""
    if hasattr(cell, "isoformat"):
        return str(cell.isoformat())
    return str(cell)


def reason_of(exc: XrmError) -> str:
    """One line naming the field(s) and the problem, for the rejected-rows file."""
    if exc.code == "RULE_REJECTED":  # a workflow's reject(message): its author's words
        return f"rejected by a rule: {exc.message}"
    if isinstance(exc, FaultsError) and exc.faults:
        return "; ".join(f"{f.field}: {f.message}" if f.field else f.message for f in exc.faults)
    errors = exc.extensions.get("errors")
    if isinstance(errors, list) and errors:
        parts = [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors
            if isinstance(e, Mapping)
        ]
        if parts:
            return "; ".join(parts)
    return exc.message


class Importer:
    """Runs imports for one actor through one record service."""

    def __init__(self, service: RecordService, actor: Actor) -> None:
        self.service = service
        self.actor = actor
        self.settings = service.settings

    # -- preparing ---------------------------------------------------------------------------

    def prepare(self, file_name: str, data: bytes, options: Options) -> Plan:
        """Read and map the file; refuse (``BadFile``, ``BadImport``) before anything is written."""
        catalog = self.service.registry.current()
        if options.entity not in catalog.types or catalog.types[options.entity].system:
            names = ", ".join(n for n, e in catalog.types.items() if not e.system) or "none"
            raise BadImport(f"there is no entity type {options.entity!r} (types: {names})")
        et = catalog.types[options.entity]
        if options.duplicates not in DUPLICATE_CHOICES:
            raise BadImport(
                f"--duplicates {options.duplicates}: choose one of {', '.join(DUPLICATE_CHOICES)}"
            )
        if options.key is not None and options.key != ID and options.key not in et.properties:
            raise BadImport(
                f"--key {options.key}: {et.name} has no field {options.key!r} "
                f"(its fields: {', '.join(et.properties)})"
            )
        table = read_table(
            file_name,
            data,
            encoding=options.encoding,
            sheet=options.sheet,
            max_bytes=self.settings.import_max_file_mb * 1024 * 1024,
        )
        columns = suggest(et, table.headers, options.mapping)
        if options.key is not None and options.key not in columns.fields.values():
            raise BadImport(
                f"--key {options.key}: no column of the file fills {options.key}; "
                "map one with --map COLUMN=" + options.key
            )
        if not any(name != ID for name in columns.fields.values()):
            raise BadImport(
                f"no column of {file_name} matches a field of {et.name}; name the columns "
                "after the fields or their labels, or map them with --map COLUMN=field"
            )
        return Plan(file_name, data, options, table, columns, et)

    # -- running -----------------------------------------------------------------------------

    def run(
        self,
        plan: Plan,
        *,
        dry_run: bool = False,
        resume: store.ImportRow | None = None,
        progress: Progress | None = None,
    ) -> Outcome:
        """Import ``plan``'s rows (a dry run writes nothing); ``resume`` continues that import."""
        rows = plan.table.rows
        total = len(rows)
        outcome = Outcome(None, total, headers=list(plan.table.headers), ignored=plan.ignored())
        if dry_run:
            try:
                with self.service.session(self.actor, "import") as session:
                    keys: dict[Any, str] = {}
                    written = _Written()
                    for start in range(0, total, self.settings.import_batch_size):
                        batch = range(start, min(total, start + self.settings.import_batch_size))
                        self._batch(session, plan, batch, keys, outcome, written)
                        if progress is not None:
                            progress(batch.stop, total)
                    raise _DryRun
            except _DryRun:
                pass
            return outcome
        db = self.service.db
        if resume is None:
            with db.write() as conn:
                row = store.start(
                    conn,
                    entity=plan.entity.name,
                    file_name=plan.file_name,
                    source=plan.data,
                    options=plan.options.stored(),
                    batch_size=self.settings.import_batch_size,
                    total_rows=total,
                    actor=self.actor,
                )
        else:
            row = resume
            outcome.created, outcome.updated = row.created, row.updated
            outcome.resumed_batches = row.batches_done
        outcome.import_id = row.id
        size = row.batch_size
        done = row.batches_done
        batches = [range(s, min(total, s + size)) for s in range(0, total, size)]
        if progress is not None:
            progress(min(total, done * size), total)
        keys = {}
        written = _Written()
        for number in range(done, len(batches)):
            batch = batches[number]
            part = Outcome(row.id, total)
            with self.service.session(self.actor, "import", request_id=row.request_id) as session:
                self._batch(session, plan, batch, keys, part, written)
                last = number == len(batches) - 1
                if not store.advance(
                    session.conn,
                    row.id,
                    number,
                    created=part.created,
                    updated=part.updated,
                    rejects=part.rejects,
                    finished=last,
                    flags=part.flags,
                ):
                    raise _Overtaken(
                        f"import {row.id} was continued by another process meanwhile; "
                        "see `xrm imports list`"
                    )
            outcome.created += part.created
            outcome.updated += part.updated
            if progress is not None:
                progress(batch.stop, total)
        with db.write() as conn:
            if not batches:
                store.finish(conn, row.id)
            outcome.rejects = store.rejects(conn, row.id)
            outcome.flags = store.flags(conn, row.id)
        return outcome

    def _batch(
        self,
        session: RecordSession,
        plan: Plan,
        batch: range,
        keys: dict[Any, str],
        outcome: Outcome,
        written: _Written,
    ) -> None:
        """Write one batch's rows in ``session``: each row in a savepoint, rejected on failure."""
        et = plan.entity
        table = plan.table
        width = len(table.headers)
        key = plan.options.key
        validator = session.catalog.validators[et.name]
        prepared: list[tuple[int, list[Any], dict[str, Any] | None, str | None]] = []
        for index in batch:
            cells = table.rows[index]
            number = table.numbers[index]
            if len(cells) > width and any(_shown(c).strip() for c in cells[width:]):
                prepared.append(
                    (
                        number,
                        cells,
                        None,
                        f"the row has {len(cells)} cells but the header names {width} columns",
                    )
                )
                continue
            values: dict[str, Any] = {}
            for position, name in plan.columns.fields.items():
                if name == ID and key != ID:
                    continue
                cell = cells[position] if position < len(cells) else None
                if name == ID:
                    values[ID] = cell_value(_ID_PROPERTY, cell)
                else:
                    value = cell_value(et.properties[name], cell)
                    if value is not None:
                        values[name] = value
            prepared.append((number, cells, values, None))
        references = _References(session, et)
        references.resolve(v for _, _, v, _ in prepared if v is not None)
        key_values: list[Any] = []
        for position, (number, cells, given, _problem) in enumerate(prepared):
            if given is None or key is None:
                key_values.append(None)
                continue
            raw = given.get(key)
            if raw is None:
                key_values.append(None)
                continue
            try:
                key_values.append(uuid_text(raw) if key == ID else validator.normalise(key, raw))
            except ValueError as exc:
                if key == ID:
                    prepared[position] = (number, cells, None, f"{key}: {exc}")
                # Else the create below fails on the same value, with the row's other faults.
                key_values.append(_INVALID)
        existing = self._existing(
            session, et, key, [k for k in key_values if k is not None and k is not _INVALID]
        )
        numbered = any(
            et.properties[n].autonumber for n in plan.columns.fields.values() if n in et.properties
        )
        versions: dict[str, int] = {i: v for ids in existing.values() for i, v in ids}
        # Rows that create a record no other row of the batch touches go in together
        # (create_many); the rest (updates, and repeats of a key) follow one by one, in order.
        together: list[_Row] = []
        one_by_one: list[_Row] = []
        seen: set[Any] = set()
        for (number, cells, row_values, problem), key_value in zip(
            prepared, key_values, strict=True
        ):
            shown = [_shown(c) for c in cells]
            if row_values is None:
                outcome.rejects.append((number, shown, problem or "the row cannot be read"))
                continue
            if key is not None and key_value is None:
                outcome.rejects.append((number, shown, f"{key}: the key is empty"))
                continue
            if key_value is _INVALID:
                key_value = None
            faults = references.apply(row_values)
            if faults:
                outcome.rejects.append((number, shown, "; ".join(faults)))
                continue
            row_values.pop(ID, None)
            target = keys.get(key_value) if key_value is not None else None
            if target is None and key_value is not None:
                found = existing.get(key_value, [])
                if len(found) > 1:
                    outcome.rejects.append(
                        (
                            number,
                            shown,
                            f"{key}: {len(found)} records have this {key}; "
                            "the key must pick one record",
                        )
                    )
                    continue
                target = found[0][0] if found else None
            if key == ID and target is None:
                outcome.rejects.append((number, shown, f"id: no {et.name} with this id"))
                continue
            row = _Row(number, shown, row_values, key_value, target)
            if target is None and (key_value is None or key_value not in seen):
                together.append(row)
            else:
                one_by_one.append(row)
            if key_value is not None:
                seen.add(key_value)
        flagged: dict[int, Flag] = {}
        if et.duplicates and together:
            together, merging = self._duplicates(session, plan, together, written, outcome, flagged)
            one_by_one += merging
        one_by_one = (
            self._create_together(session, et, together, numbered, keys, versions, outcome, written)
            + one_by_one
        )
        one_by_one.sort(key=lambda r: r.number)
        # A row that would change nothing in its stored record is counted and skipped here:
        # the record service would write nothing and fire nothing for it either.
        stored = session.fetch(et.name, sorted({r.target for r in one_by_one if r.target}))
        for row in one_by_one:
            target = row.target or (keys.get(row.key) if row.key is not None else None)
            if target is None and row.into is not None:
                # Merging into the record an earlier row wrote (created or merged into); if
                # that row was rejected, this one is created in its place.
                target = written.rows.get(row.into)
            if target is not None and _unchanged(validator, stored.get(target), row.values):
                written.wrote(row.number, target)
                continue
            try:
                with session.conn.begin_nested():
                    if target is not None:
                        after = session.update(et.name, target, row.values)
                        if after["version"] != versions.get(target):
                            outcome.updated += 1
                        versions[target] = after["version"]
                        stored[target] = after  # a later row of the batch compares with this
                        written.wrote(row.number, target)
                        if row.key is not None:
                            keys.setdefault(row.key, target)
                    else:
                        record = session.create(et.name, row.values, keep_numbers=numbered)
                        outcome.created += 1
                        versions[str(record["id"])] = 1
                        if row.key is not None:
                            keys[row.key] = str(record["id"])
                        written.wrote(row.number, str(record["id"]))
                        if row.into is not None:  # its original was rejected: not a merge
                            flagged.pop(row.number, None)
            except XrmError as exc:
                session.forget_unwritten()
                outcome.rejects.append((row.number, row.shown, reason_of(exc)))
        # A flag stands for a row that went in: flagged rows that failed are rejects instead.
        kept: list[Flag] = []
        for number, flag in sorted(flagged.items()):
            if number in written.rows:
                if flag.merged:
                    flag = replace(flag, record=written.rows[number])
                kept.append(flag)
        outcome.flags.extend(kept)
        if plan.options.duplicates == "flag":
            _remember_pairs(session, et.name, kept, written)
        outcome.rejects.sort(key=lambda r: r[0])

    def _duplicates(
        self,
        session: RecordSession,
        plan: Plan,
        rows: list[_Row],
        written: _Written,
        outcome: Outcome,
        flagged: dict[int, Flag],
    ) -> tuple[list[_Row], list[_Row]]:
        """Sort the rows about to create records by the type's duplicate rules, as
        ``--duplicates`` says: returns the rows still to create and the rows that merge.

        A row is compared with the stored records (one query per rule for the whole batch;
        records earlier batches of this file wrote are among them) and with the earlier rows
        of ``rows``. ``flag`` writes it and notes the match (a ``block`` rule still refuses
        it); ``skip`` rejects it naming what it duplicates; ``merge`` writes its values into
        the record it duplicates (or that the earlier row wrote)."""
        mode = plan.options.duplicates
        et = plan.entity
        found = session.find_duplicates_many(et.name, [r.values for r in rows])
        validator = session.catalog.validators[et.name]
        keep: list[_Row] = []
        merging: list[_Row] = []
        # Rows that will not be written (skipped, refused, or failing validation) are no one's
        # original: a later row like them is compared with what is stored, as in a later batch.
        gone: set[int] = set()
        valid: dict[int, bool] = {}

        def stays(index: int) -> bool:
            if index in gone:
                return False
            if index not in valid:
                values = {k: v for k, v in rows[index].values.items() if k in et.properties}
                valid[index] = not validator.for_create(values)[1]
            return valid[index]

        for index, (row, matches) in enumerate(zip(rows, found, strict=True)):
            matches = [m for m in matches if m.row is None or stays(m.row)]
            if not matches:
                keep.append(row)
                continue
            if mode == "merge":
                into = next((m for m in matches if m.record is not None or m.row is not None), None)
                if into is None:
                    reason = _duplicate_reason(matches[0], rows, written)
                    outcome.rejects.append((row.number, row.shown, reason))
                    gone.add(index)
                    continue
                row.target = into.record
                row.into = None if into.row is None else rows[into.row].number
                flagged[row.number] = _flag(row.number, into, rows, written, merged=True)
                merging.append(row)
                continue
            refusing = next((m for m in matches if m.action == "block"), None)
            if mode == "skip" or refusing is not None:
                reason = _duplicate_reason(refusing or matches[0], rows, written, refusing)
                outcome.rejects.append((row.number, row.shown, reason))
                gone.add(index)
                continue
            flagged[row.number] = _flag(row.number, matches[0], rows, written)
            keep.append(row)
        return keep, merging

    def _create_together(
        self,
        session: RecordSession,
        et: EntityType,
        rows: list[_Row],
        numbered: bool,
        keys: dict[Any, str],
        versions: dict[str, int],
        outcome: Outcome,
        written: _Written,
    ) -> list[_Row]:
        """Create ``rows`` with one ``create_many``; rows its faults name are rejected and the
        rest tried again (a few times). Returns the rows left for one-by-one writing."""
        for _attempt in range(3):
            if not rows:
                return []
            try:
                with session.conn.begin_nested():
                    created = session.create_many(
                        et.name,
                        [r.values for r in rows],
                        keep_numbers=numbered,
                        duplicates_checked=bool(et.duplicates),  # by _duplicates, just now
                    )
            except XrmError as exc:
                session.forget_unwritten()
                named = _faults_by_row(exc)
                if not named or any(i >= len(rows) for i in named):
                    return rows
                for index, reasons in named.items():
                    row = rows[index]
                    reason = _ROW_NAME.sub(partial(_row_of, rows), "; ".join(reasons))
                    outcome.rejects.append((row.number, row.shown, reason))
                rows = [r for i, r in enumerate(rows) if i not in named]
                continue
            for row, record in zip(rows, created, strict=True):
                versions[str(record["id"])] = 1
                written.wrote(row.number, str(record["id"]))
                if row.key is not None:
                    keys[row.key] = str(record["id"])
            outcome.created += len(rows)
            return []
        return rows

    def _existing(
        self, session: RecordSession, et: EntityType, key: str | None, values: Sequence[Any]
    ) -> dict[Any, list[tuple[str, int]]]:
        """Stored records by key value, as (id, version) (as far as the actor may read them)."""
        found: dict[Any, list[tuple[str, int]]] = {}
        if key is None or not values:
            return found
        t = session.catalog.tables[et.name]
        column = t.c.id if key == ID else t.c[et.properties[key].column]
        readable = session.rows(et.name, t)
        for chunk in chunks(sorted(set(values), key=str)):
            query = sa.select(t.c.id, column, t.c.version).where(column.in_(list(chunk)))
            if readable is not None:
                query = query.where(readable)
            for record_id, value, version in session.conn.execute(query):
                found.setdefault(value if key != ID else str(record_id), []).append(
                    (str(record_id), int(version))
                )
        return found


@dataclass(slots=True)
class _Row:
    """A row ready to write: its number and cells (for a rejection), values, key, target;
    ``into``: the earlier row of the file whose record this row merges into."""

    number: int
    shown: list[str]
    values: dict[str, Any]
    key: Any
    target: str | None
    into: int | None = None


@dataclass(slots=True)
class _Written:
    """The records this run's rows wrote (created, updated or merged into), by row number
    and back: what a later row that duplicates an earlier one is matched with."""

    rows: dict[int, str] = field(default_factory=dict)
    by_record: dict[str, int] = field(default_factory=dict)

    def wrote(self, number: int, record_id: str) -> None:
        self.rows[number] = record_id
        self.by_record.setdefault(record_id, number)


def _flag(
    number: int,
    match: DuplicateMatch,
    rows: Sequence[_Row],
    written: _Written,
    *,
    merged: bool = False,
) -> Flag:
    """What the import notes of a row ``match`` was found for (the earlier row by number:
    a record an earlier batch of the file wrote counts as that row too)."""
    if match.row is not None:
        other: int | None = rows[match.row].number
    else:
        other = None if match.record is None else written.by_record.get(match.record)
    return Flag(number, match.rule, match.score, match.record, match.name, other, merged)


def _duplicate_reason(
    match: DuplicateMatch,
    rows: Sequence[_Row],
    written: _Written,
    refusing: DuplicateMatch | None = None,
) -> str:
    """The rejected-rows file's reason for a row skipped or refused as a duplicate."""
    said = flag_text(_flag(0, match, rows, written))
    return f"{said}; the rule refuses duplicates" if refusing is not None else said


def flag_text(flag: Flag) -> str:
    """What a flagged or merged row duplicates, in one line (the summary, the job page)."""
    if flag.other_row is not None:
        who = f"row {flag.other_row}"
    elif flag.record is None:
        who = "a record you cannot see"
    else:
        who = repr(flag.name) if flag.name is not None else f"record {flag.record}"
    verb = "merged into" if flag.merged else "duplicate of"
    return f"{verb} {who} (rule {flag.rule!r}, score {flag.score})"


def _remember_pairs(
    session: RecordSession, entity: str, flags: Sequence[Flag], written: _Written
) -> None:
    """List flagged rows and what they duplicate on the duplicates page (``xrm_duplicate_pairs``,
    where a scan puts its pairs), replacing the same pairs found before."""
    now = dt.datetime.now(dt.UTC)
    found: dict[tuple[str, str], Flag] = {}
    for flag in flags:
        mine = written.rows.get(flag.row)
        theirs = flag.record or (
            None if flag.other_row is None else written.rows.get(flag.other_row)
        )
        if mine is None or theirs is None or mine == theirs:
            continue
        first, second = sorted((mine, theirs))
        found[(first, second)] = flag
    if not found:
        return
    table = platform.duplicate_pairs
    for chunk in chunks(list(found), 500):
        session.conn.execute(
            table.delete().where(
                table.c.entity == entity,
                sa.tuple_(table.c.first_id, table.c.second_id).in_(list(chunk)),
            )
        )
    session.conn.execute(
        table.insert(),
        [
            {
                "entity": entity,
                "first_id": first,
                "second_id": second,
                "rule": flag.rule,
                "score": flag.score,
                "found_at": now,
            }
            for (first, second), flag in found.items()
        ],
    )


_FAULT_FIELD = re.compile(r"^inputs\.(\d+)(?:\.(.*))?$")
_ROW_NAME = re.compile(r"\binputs\.(\d+)\b")


def _row_of(rows: Sequence[_Row], match: re.Match[str]) -> str:
    index = int(match.group(1))
    return f"row {rows[index].number}" if index < len(rows) else match.group(0)


def _faults_by_row(exc: XrmError) -> dict[int, list[str]]:
    """The faults of a failed ``create_many`` by the index of the row they name."""
    pairs: list[tuple[str, str]] = []
    if isinstance(exc, FaultsError):
        pairs = [(f.field, f.message) for f in exc.faults]
    else:
        errors = exc.extensions.get("errors")
        if isinstance(errors, list):
            pairs = [
                (str(e.get("field") or ""), str(e.get("message") or ""))
                for e in errors
                if isinstance(e, Mapping)
            ]
    named: dict[int, list[str]] = {}
    for field_path, message in pairs:
        match = _FAULT_FIELD.match(field_path)
        if match is None:
            return {}  # a fault of the whole batch: leave it to the one-by-one path
        name = match.group(2)
        named.setdefault(int(match.group(1)), []).append(f"{name}: {message}" if name else message)
    return named


def _unchanged(
    validator: RecordValidator, record: Mapping[str, Any] | None, values: Mapping[str, Any]
) -> bool:
    """Whether ``values`` would leave ``record`` as it is (judged on normalised values)."""
    if record is None:
        return False
    clean, faults = validator.for_patch(values, stored=record)
    return (
        not faults
        and len(clean) == len(values)
        and all(k in record and record[k] == v for k, v in clean.items())
    )


_INVALID = object()  # a key value the field refuses: the row fails as a create would
_ID_PROPERTY = Property(ID, "uuid", {"type": "string", "format": "uuid"})


class _References:
    """A batch's reference cells resolved to ids: by id, by the target's display field, or by
    any of its unique fields (a contact's customer by the customer's e-mail), never by a guess:
    a text that matches no record, or several, is the row's fault, naming the field."""

    def __init__(self, session: RecordSession, et: EntityType) -> None:
        self.session = session
        self.props = [p for p in et.references if p.ref is not None]
        # (property, stored value as text) -> the ids of the records holding it
        self.found: dict[tuple[str, str], set[str]] = {}
        # (property, cell text) -> the stored values it may stand for
        self.spellings: dict[tuple[str, str], set[str]] = {}

    @staticmethod
    def _fields(target: EntityType) -> list[str]:
        names = [target.display] if target.display in target.properties else []
        for group in target.unique:
            if len(group) == 1 and group[0] not in names:
                names.append(group[0])
        return [n for n in names if n is not None and target.properties[n].ref is None]

    def resolve(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Look up every reference text of ``rows``: one query per property and field."""
        rows = list(rows)
        catalog = self.session.catalog
        for prop in self.props:
            assert prop.ref is not None
            texts = {str(r[prop.name]).strip() for r in rows if r.get(prop.name) is not None}
            if not texts:
                continue
            target = catalog.types.get(prop.ref.entity)  # None: a user (matched by id)
            table = catalog.table(prop.ref.entity)
            readable = None if target is None else self.session.rows(target.name, table)
            lookups: dict[str | None, set[Any]] = {None: set()}
            for text in texts:
                spelled = self.spellings.setdefault((prop.name, text), set())
                if (uid := _try(lambda _n, v: uuid_text(v), "", text)) is not None:
                    lookups[None].add(uid)
                    spelled.add(uid)
                if target is None:
                    continue
                validator = catalog.validators[target.name]
                for field_name in self._fields(target):
                    normal = _try(validator.normalise, field_name, text)
                    if normal is not None:
                        lookups.setdefault(field_name, set()).add(normal)
                        spelled.add(_text(normal))
            for name, values in lookups.items():
                column = table.c.id
                if name is not None and target is not None:
                    column = table.c[target.properties[name].column]
                for chunk in chunks(sorted(values, key=str)):
                    query = sa.select(table.c.id, column).where(column.in_(list(chunk)))
                    if readable is not None:
                        query = query.where(readable)
                    for record_id, value in self.session.conn.execute(query):
                        self.found.setdefault((prop.name, _text(value)), set()).add(str(record_id))

    def apply(self, values: dict[str, Any]) -> list[str]:
        """Replace each reference text in ``values`` by its record's id; the faults, if any."""
        faults = []
        for prop in self.props:
            given = values.get(prop.name)
            if given is None:
                continue
            text = str(given).strip()
            assert prop.ref is not None
            ids: set[str] = set()
            for spelled in self.spellings.get((prop.name, text), ()):
                ids |= self.found.get((prop.name, spelled), set())
            if len(ids) == 1:
                values[prop.name] = next(iter(ids))
            elif not ids:
                faults.append(
                    f"{prop.name}: no {prop.ref.entity} is {text!r} "
                    "(matched by id, by name and by each unique field)"
                )
            else:
                faults.append(
                    f"{prop.name}: {len(ids)} {prop.ref.entity} records match {text!r}; "
                    "use the id or a unique field"
                )
        return faults


def _text(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _try(fn: Callable[[str, Any], Any], name: str, value: Any) -> Any:
    try:
        return fn(name, value)
    except ValueError:
        return None


def rejected_csv(
    headers: Sequence[str],
    rejects: Sequence[Reject],
    *,
    reason_header: str = "reason",
    say: Callable[[int, str], str] | None = None,
) -> str:
    """The rejected rows as CSV: the file's own columns, then ``reason`` (with the row number).

    Cells are escaped as an export's are, so a spreadsheet never runs one as a formula;
    importing the corrected file undoes the escaping. ``reason_header`` and ``say`` (the row
    number and reason as one cell) let the admin UI write them in the user's language.
    """
    from xrm.entities.imports.export import escape

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([escape(h) for h in headers] + [reason_header])
    width = len(headers)
    for number, cells, reason in rejects:
        padded = list(cells) + [""] * (width - len(cells))
        line = say(number, reason) if say is not None else f"row {number}: {reason}"
        writer.writerow([escape(c) for c in padded] + [escape(line)])
    return out.getvalue()


def rejected_path(source: Path, import_id: str | None) -> Path:
    """Where the rejected rows of an import of ``source`` go: beside it."""
    tag = import_id.split("-")[-1][-8:] if import_id else "dry-run"  # ids share their time
    return source.with_name(f"{source.stem}.rejected-{tag}.csv")


def prepare_resume(importer: Importer, conn_row: store.ImportRow, data: bytes) -> Plan:
    """The plan of a stored import, with its stored options, for ``--resume``."""
    options = Options.from_stored(conn_row.entity, conn_row.options)
    return importer.prepare(conn_row.file_name, data, options)


__all__ = [
    "Importer",
    "Options",
    "Outcome",
    "Plan",
    "flag_text",
    "parse_overrides",
    "prepare_resume",
    "rejected_csv",
    "rejected_path",
]
