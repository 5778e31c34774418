"""The record service: the one door through which every record is read and written.

The API, the admin UI, imports, workflow scripts and plugins all come through
here, so validation, format normalisation, reference checks, optimistic
locking, ``onDelete`` rules, gap-free autonumbers and the audit trail hold on
every path. A ``RecordSession`` is one transaction: everything done in it
commits together or not at all, audit rows included.

Records are plain dicts: the live properties by name (a reference holds the
other record's id), plus ``id``, ``version``, ``created_at``, ``updated_at``,
``created_by``, ``updated_by`` and ``owner``. Related records are loaded for a
whole page at once (``fetch``, ``children``): one query per relation and level,
never one per row.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from xrm.entities import measures
from xrm.entities.catalog_state import Catalog
from xrm.entities.events import WriteEvent, WriteListener, reference_name
from xrm.entities.measures import decimal_min
from xrm.entities.query import BUCKETS, Compiler, Field, row_key
from xrm.entities.registry import Registry
from xrm.errors import (
    Conflict,
    Duplicate,
    Fault,
    Forbidden,
    NotFound,
    Restricted,
    ValidationFailed,
    XrmError,
)
from xrm.platform import audit
from xrm.platform import tables as platform
from xrm.platform.access import HIDDEN, Permissions
from xrm.platform.db import Database
from xrm.platform.identity import Actor
from xrm.platform.ids import new_id
from xrm.platform.settings import Settings
from xrm.schemas.formats import json_value, uuid_text
from xrm.schemas.model import NUMERIC_KINDS, EntityType, Property, Relationship
from xrm.schemas.validate import RecordValidator

Record = dict[str, Any]

CHUNK = 500  # ids per IN (...) list
ERASED = "[erased]"  # what an erased value reads as in the audit trail
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
_AUTONUMBER = re.compile(r"\{seq(?::(\d+))?\}")
log = logging.getLogger(__name__)


@dataclass(slots=True)
class Page:
    """One page of a list: its records, where the list goes on, and cursors on demand.

    Cursors are computed only when asked for: building one per record costs
    as much as reading the record, and most lists never show them.
    """

    items: list[Record]
    has_next_page: bool
    total_count: int | None = None
    attributes: list[Record | None] = field(default_factory=list)  # many-to-many link values
    cursor_of: Callable[[int], str] | None = None

    def cursor(self, index: int) -> str:
        assert self.cursor_of is not None
        return self.cursor_of(index)

    @property
    def cursors(self) -> list[str]:
        return [self.cursor(i) for i in range(len(self.items))]

    @property
    def end_cursor(self) -> str | None:
        return self.cursor(len(self.items) - 1) if self.items else None


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def page_size(first: int | None, settings: Settings) -> int:
    """``first`` checked against the page settings every reader shares; the default if None."""
    if first is None:
        return settings.page_size
    if first < 0:
        raise ValidationFailed([Fault("first", "must not be negative")])
    if first > settings.max_page_size:
        raise ValidationFailed(
            [Fault("first", f"at most {settings.max_page_size} records per page")]
        )
    return first


def autonumber_text(template: str, value: int) -> str:
    """``"GRV-{seq:6}"`` with 42 gives ``"GRV-000042"``."""
    return _AUTONUMBER.sub(lambda m: str(value).zfill(int(m.group(1) or 0)), template)


def autonumber_pattern(template: str) -> re.Pattern[str]:
    """What ``autonumber_text`` makes of ``template``, with the (first) number as group 1."""
    parts = _AUTONUMBER.split(template)[::2]  # the text between the {seq} placeholders
    return re.compile("^" + r"(\d+)".join(re.escape(p) for p in parts) + "$")


def _numbered_faults(
    numbered: Sequence[Property], values: Mapping[str, Any], prefix: str = ""
) -> list[Fault]:
    """Values given for auto-numbers, which only their sequence sets (blank is no value)."""
    return [
        Fault(f"{prefix}{p.name}", f"is numbered automatically ({p.autonumber}); it cannot be set")
        for p in numbered
        if values.get(p.name) is not None
        and not (isinstance(values[p.name], str) and not values[p.name].strip())
    ]


def _lost_race(entity: str, exc: sa.exc.IntegrityError) -> XrmError | None:
    """What a constraint the checks before a write did not catch means to the caller.

    The checks run first, so only a concurrent writer gets a row past them: a
    unique value taken meanwhile (``DUPLICATE``), or a referenced record
    deleted meanwhile (``CONFLICT``). The database's own text stays in the
    log; anything else is not the caller's to know, and goes on as an
    internal error (None here), logged with the request id by whoever answers.
    """
    kind = _constraint(exc.orig)
    log.warning("%s: constraint %s failed: %s", entity, kind, exc.orig)
    if kind == "unique":
        return Duplicate(f"{entity}: a value that must be unique was taken meanwhile")
    if kind == "foreign_key":
        return Conflict(f"{entity}: a record it refers to was deleted meanwhile; try again")
    return None


def _constraint(error: Any) -> str:
    """``unique``, ``foreign_key`` or ``other``: the kind of a driver's integrity error."""
    state = getattr(error, "sqlstate", None)  # psycopg
    name = getattr(error, "sqlite_errorname", "")  # sqlite3
    if state == "23505" or name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        return "unique"
    if state == "23503" or name == "SQLITE_CONSTRAINT_FOREIGNKEY":
        return "foreign_key"
    return "other"


class StatementCache:
    """Built statements worth keeping across sessions, for the newest schema version only.

    Keys start with the catalog version; a newer version empties the cache, so
    statements of retired tables never linger. Bounded, since keys include
    page sizes callers choose.
    """

    LIMIT = 512

    def __init__(self) -> None:
        self._version = -1
        self._items: dict[tuple[Any, ...], Any] = {}

    def get(self, key: tuple[Any, ...]) -> Any:
        return self._items.get(key) if key[0] == self._version else None

    def __setitem__(self, key: tuple[Any, ...], value: Any) -> None:
        if key[0] != self._version:
            if key[0] < self._version:
                return  # a session still on an older version: don't evict the newer ones
            self._version, self._items = key[0], {}
        if len(self._items) >= self.LIMIT:
            self._items.clear()
        self._items[key] = value


class RecordService:
    """Opens record sessions on one database; cheap to keep for the process's lifetime."""

    def __init__(self, db: Database, registry: Registry, settings: Settings) -> None:
        self.db = db
        self.registry = registry
        self.settings = settings
        self.statements = StatementCache()
        # Who hears about writes (the workflow engine, when one runs in this process).
        self.listener: WriteListener | None = None

    @contextmanager
    def session(
        self,
        actor: Actor,
        channel: str = "api",
        *,
        request_id: str | None = None,
        write: bool = True,
    ) -> Iterator[RecordSession]:
        """One transaction for ``actor``: committed when the block ends, rolled back on error.

        After a rollback the session's ``on_rollback`` hooks run (in their own
        transactions): how a rule that refused a write still leaves its run
        in the history.
        """
        transaction = self.db.write() if write else self.db.read()
        session: RecordSession | None = None
        try:
            with transaction as conn:
                session = self.session_on(conn, actor, channel, request_id=request_id)
                yield session
        except BaseException:
            if session is not None:
                session.rolled_back()
            raise

    def session_on(
        self,
        conn: Connection,
        actor: Actor,
        channel: str = "api",
        *,
        request_id: str | None = None,
        version: int | None = None,
    ) -> RecordSession:
        """A session inside a transaction the caller already opened (and will end).

        The GraphQL view checks the caller's token in its read transaction
        and then reads the records in that same one: one round trip fewer.
        """
        return RecordSession(
            conn,
            self.registry.current(conn, version),
            actor,
            channel,
            request_id,
            self.settings,
            statements=self.statements,
            listener=self.listener,
        )


class RecordSession:
    """Reads and writes inside one transaction, seeing one schema version."""

    def __init__(
        self,
        conn: Connection,
        catalog: Catalog,
        actor: Actor,
        channel: str,
        request_id: str | None,
        settings: Settings,
        statements: StatementCache | None = None,
        listener: WriteListener | None = None,
    ) -> None:
        self.conn = conn
        self.listener = listener
        # How deep in a chain of rules that fire rules this session is (the listener keeps it).
        self.depth = 0
        self.chain: list[str] = []
        self._rollback_hooks: list[Callable[[], None]] = []
        self._statements = statements if statements is not None else StatementCache()
        self.catalog = catalog
        self.actor = actor
        self.channel = channel
        self.request_id = request_id
        self.settings = settings
        self.dialect = conn.dialect.name
        self.permissions = Permissions.of(actor, catalog.roles)
        self.compiler = Compiler(catalog, self.dialect, settings.phone_region, access=self)
        self._audit: list[dict[str, Any]] = []
        self._shape_cache: dict[
            tuple[str, frozenset[str] | None], tuple[tuple[str, ...], tuple[str, ...]]
        ] = {}

    # --- access --------------------------------------------------------------------------------

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

    # --- conversions -------------------------------------------------------------------------

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

    def _note(
        self, action: str, entity: str, record_id: str | None, changes: Mapping[str, Any] | None
    ) -> None:
        self._audit.append(
            audit.entry(
                self.actor, self.channel, action, entity, record_id, changes, self.request_id
            )
        )

    def _flush_audit(self) -> None:
        if self._audit:
            audit.write(self.conn, self._audit)
            self._audit = []

    # --- validation helpers ------------------------------------------------------------------

    def _unknown_fields(
        self, et: EntityType, values: Mapping[str, Any], prefix: str
    ) -> list[Fault]:
        return [
            Fault(f"{prefix}{key}", f"{et.name} has no field {key!r}")
            for key in values
            if key not in et.properties and key != OWNER
        ]

    def _check_owners(
        self, owners: Sequence[Any], prefixes: Sequence[str]
    ) -> tuple[list[str | None], list[Fault]]:
        """Requested owners as user ids: each must be an active user (None: not requested)."""
        faults: list[Fault] = []
        ids: list[str | None] = []
        for value, prefix in zip(owners, prefixes, strict=True):
            if value is None:
                ids.append(None)
                continue
            try:
                ids.append(formats_uuid(value))
            except ValueError:
                ids.append(None)
                faults.append(Fault(f"{prefix}{OWNER}", f"{value!r} is not a user id"))
        wanted = sorted({i for i in ids if i is not None})
        active = set()
        if wanted:
            users = platform.users
            active = {
                str(r[0])
                for r in self.conn.execute(
                    sa.select(users.c.id).where(users.c.id.in_(wanted), users.c.active.is_(True))
                )
            }
        for owner, prefix in zip(ids, prefixes, strict=True):
            if owner is not None and owner not in active:
                faults.append(Fault(f"{prefix}{OWNER}", f"no active user with id {owner}"))
        return ids, faults

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

    def _check_references(
        self, et: EntityType, rows: Sequence[Mapping[str, Any]], prefixes: Sequence[str]
    ) -> list[Fault]:
        """Every reference must point at an existing record: one query per target type."""
        faults: list[Fault] = []
        for prop in et.references:
            assert prop.ref is not None
            wanted = {str(r[prop.name]) for r in rows if r.get(prop.name) is not None}
            if not wanted:
                continue
            found = self._existing(prop.ref.entity, sorted(wanted))
            for row, prefix in zip(rows, prefixes, strict=True):
                value = row.get(prop.name)
                if value is not None and str(value) not in found:
                    faults.append(
                        Fault(f"{prefix}{prop.name}", f"no {prop.ref.entity} with id {value}")
                    )
        return faults

    def _existing(self, entity: str, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` the actor can see: a reference to an unreadable record
        fails exactly like one to a missing record, so references cannot probe."""
        table = self.catalog.table(entity)
        readable = None if entity == "user" else self.rows(entity, table)
        found: set[str] = set()
        for chunk in _chunks(ids):
            query = sa.select(table.c.id).where(table.c.id.in_(chunk))
            if readable is not None:
                query = query.where(readable)
            found.update(str(r[0]) for r in self.conn.execute(query))
        return found

    def _check_unique(
        self,
        et: EntityType,
        rows: Sequence[Mapping[str, Any]],
        prefixes: Sequence[str],
        exclude: str | None = None,
    ) -> None:
        """Refuse values a unique set already holds (in the table or earlier in this batch)."""
        table = self.catalog.tables[et.name]
        for group in et.unique:
            seen: dict[tuple[Any, ...], str] = {}
            keys: list[tuple[Any, ...]] = []
            for row, prefix in zip(rows, prefixes, strict=True):
                key = tuple(row.get(n) for n in group)
                if any(v is None for v in key):
                    keys.append(())
                    continue
                if key in seen:
                    raise self._duplicate(et, group, prefix, f"repeats {seen[key].rstrip('.')}")
                seen[key] = prefix or "record"
                keys.append(key)
            columns = [table.c[et.properties[n].column] for n in group]
            wanted = [k for k in keys if k]
            for chunk in _chunks(wanted):
                if len(columns) == 1:
                    condition = columns[0].in_([k[0] for k in chunk])
                else:
                    condition = sa.tuple_(*columns).in_(list(chunk))
                query = sa.select(table.c.id, table.c.owner_id, *columns).where(condition)
                if exclude is not None:
                    query = query.where(table.c.id != exclude)
                hit = self.conn.execute(query).first()
                if hit is not None:
                    key = tuple(hit[2:])
                    prefix = prefixes[keys.index(key)] if key in keys else ""
                    # The holder's id only for a caller who may read it: not a way to probe.
                    shown = hit[0] if self._may_read(et.name, hit[1]) else None
                    raise self._duplicate(et, group, prefix, "is already taken", shown)

    def _may_read(self, entity: str, owner: str | None) -> bool:
        scope = self.permissions.scope(entity, "read")
        return scope == "all" or (scope == "own" and owner is not None and owner == self.actor.id)

    @staticmethod
    def _duplicate(
        et: EntityType, group: Sequence[str], prefix: str, what: str, holder: str | None = None
    ) -> Duplicate:
        names = ", ".join(group)
        if holder is not None:
            what = f"{what} by {et.name} {holder}"
        details: dict[str, Any] = {} if holder is None else {"record": holder}
        return Duplicate(
            f"{et.name}: the value of {names} {what}",
            errors=[Fault(f"{prefix}{n}", f"must be unique; {what}").as_dict() for n in group],
            fields=list(group),
            **details,
        )

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
                for chunk in _chunks(texts):
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

    # --- write events ------------------------------------------------------------------------

    def on_rollback(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` after this session's transaction is rolled back (never after a commit)."""
        self._rollback_hooks.append(hook)

    def rolled_back(self) -> None:
        """Run the rollback hooks, each in its own right: one that fails is logged, not raised."""
        hooks, self._rollback_hooks = self._rollback_hooks, []
        for hook in hooks:
            try:
                hook()
            except Exception:
                log.exception("request %s: a rollback hook failed", self.request_id)

    def _listening(
        self, trigger: str, entity: str, relationship: str | None = None
    ) -> WriteListener | None:
        """The listener, when it wants this kind of write; None costs the write nothing."""
        listener = self.listener
        if listener is None or not listener.wants(self.catalog, trigger, entity, relationship):
            return None
        return listener

    def _reference_events(
        self, et: EntityType, record: Mapping[str, Any] | None, old: Mapping[str, Any] | None
    ) -> list[WriteEvent]:
        """The ``unlink``/``link`` of every reference whose target this write changes."""
        events: list[WriteEvent] = []
        seen = record if record is not None else old
        assert seen is not None
        for prop in et.references:
            was = old.get(prop.name) if old is not None else None
            now = record.get(prop.name) if record is not None else None
            if was == now:
                continue
            name = reference_name(et.name, prop.name)
            for trigger, target in (("unlink", was), ("link", now)):
                if target is not None and self._listening(trigger, et.name, name) is not None:
                    ends = {"fromId": str(seen["id"]), "toId": str(target), "attributes": None}
                    events.append(
                        WriteEvent(trigger, et.name, seen, old, relationship=name, link=ends)
                    )
        return events

    def _before(self, events: Iterable[WriteEvent]) -> None:
        """Let the listener refuse each of ``events`` before the write (changes are ignored)."""
        for event in events:
            listener = self._listening(event.trigger, event.entity, event.relationship)
            if listener is not None:
                listener.before(self, event)

    def _after(self, events: Iterable[WriteEvent]) -> None:
        """Tell the listener about each of ``events``, after the write, in its transaction."""
        for event in events:
            listener = self._listening(event.trigger, event.entity, event.relationship)
            if listener is not None:
                listener.after(self, event)

    def _changed_by_rules(
        self,
        listener: WriteListener,
        event: WriteEvent,
        given: Mapping[str, Any],
        et: EntityType,
    ) -> dict[str, Any]:
        """``given`` with what ``before`` rules changed in the record (its properties only)."""
        record = listener.before(self, event)
        if record is None:
            return dict(given)
        assert event.record is not None
        out = dict(given)
        for key, value in record.items():
            if key in et.properties and (key in given or value != event.record.get(key)):
                out[key] = value
        return out

    def _stored(self, et: EntityType, record_id: str) -> Record | None:
        """A record as stored (not masked): what rules see of the record a link starts from."""
        table = self.catalog.tables[et.name]
        row = self.conn.execute(sa.select(table).where(table.c.id == record_id)).mappings().first()
        return self._record(et, row) if row is not None else None

    # --- create ------------------------------------------------------------------------------

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
    ) -> list[Record]:
        """Create records all or nothing; faults are named ``inputs.<index>.<field>``."""
        return self._create(entity, rows, bulk=True, prefix=prefix, keep_numbers=keep_numbers)

    def _create(
        self,
        entity: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        bulk: bool,
        prefix: str = "inputs",
        keep_numbers: bool = False,
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
                faults.extend(_numbered_faults(numbered, values, here))
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
            if (known := _lost_race(et.name, exc)) is None:
                raise
            raise known from None

    # --- read --------------------------------------------------------------------------------

    def get(
        self, entity: str, record_id: str, *, fields: frozenset[str] | None = None
    ) -> Record | None:
        """The record, or None when there is none with that id (in any UUID spelling)."""
        try:
            key = formats_uuid(record_id)
        except ValueError:
            return None
        return self.fetch(entity, [key], fields=fields).get(key)

    def fetch(
        self, entity: str, ids: Iterable[str], *, fields: frozenset[str] | None = None
    ) -> dict[str, Record]:
        """Records by id, for a whole page of references at once (one query per 500 ids).

        ``fields``: read only ``id`` and these record keys (see ``_columns``).
        """
        et = self.catalog.entity(entity)
        table = self.catalog.tables[entity]
        wanted: list[str] = []
        for raw in ids:
            if raw is None:
                continue
            try:
                wanted.append(formats_uuid(raw))
            except ValueError:
                continue
        out: dict[str, Record] = {}
        readable = self.rows(entity, table)
        key = (self.catalog.version, "fetch", entity, fields)
        query = self._statements.get(key) if readable is None else None
        if query is None:
            query = sa.select(*self._columns(et, table, fields)).where(
                table.c.id.in_(sa.bindparam("ids", expanding=True))
            )
            if readable is not None:
                query = query.where(readable)
            else:
                self._statements[key] = query
        for chunk in _chunks(sorted(set(wanted))):
            for row in self.conn.execute(query, {"ids": chunk}):
                record = self._from_row(et, row, fields)
                out[record["id"]] = record
        self._mask(entity, out.values())
        return out

    def users(self, ids: Iterable[str | None]) -> dict[str, Record]:
        """Users by id (``id``, ``email``, ``name``), for a page of owners or assignees at once."""
        table = platform.users
        wanted = sorted({str(i) for i in ids if i is not None})
        out: dict[str, Record] = {}
        for chunk in _chunks(wanted):
            query = sa.select(table.c.id, table.c.email, table.c.name).where(table.c.id.in_(chunk))
            for row in self.conn.execute(query):
                out[str(row.id)] = {"id": str(row.id), "email": row.email, "name": row.name}
        return out

    def history(self, entity: str, ids: Iterable[str]) -> dict[str, list[Record]]:
        """The audit entries of many records of ``entity``, oldest first, in one query.

        Each entry: ``at``, ``actor`` (e-mail), ``action``, ``version``, ``changes``
        (keyed by property name, as stored), ``channel`` and ``request_id``.

        Changes to fields hidden from the actor are left out, and so are updates
        that changed nothing else: a hidden field must not show even that it moved.
        Records the actor cannot read have no history for it.
        """
        self.permissions.require(entity, "read")
        hidden = self.permissions.hidden(entity)
        table = platform.audit
        wanted = sorted({str(i) for i in ids})
        out: dict[str, list[Record]] = {i: [] for i in wanted}
        if self.permissions.scope(entity, "read") == "own":
            wanted = sorted(self._existing(entity, wanted))
        for chunk in _chunks(wanted):
            query = (
                sa.select(
                    table.c.record_id,
                    table.c.at,
                    table.c.actor_email,
                    table.c.action,
                    table.c.changes,
                    table.c.channel,
                    table.c.request_id,
                )
                .where(table.c.entity == entity, table.c.record_id.in_(chunk))
                .order_by(table.c.id)
            )
            versions: dict[str, int] = {}
            for row in self.conn.execute(query):
                version = None
                if row.action in ("create", "update"):
                    version = versions[row.record_id] = versions.get(row.record_id, 0) + 1
                changes = row.changes
                if hidden and isinstance(changes, dict):
                    changes = {k: v for k, v in changes.items() if k not in hidden}
                    if not changes and row.action == "update":
                        continue
                out[row.record_id].append(
                    {
                        "at": row.at,
                        "actor": row.actor_email,
                        "action": row.action,
                        "version": version,
                        "changes": changes,
                        "channel": row.channel,
                        "request_id": row.request_id,
                    }
                )
        return out

    def query(
        self,
        entity: str,
        *,
        filter: Mapping[str, Any] | None = None,
        order_by: Sequence[Any] | None = None,
        first: int | None = None,
        after: str | None = None,
        with_total: bool = True,
        fields: frozenset[str] | None = None,
    ) -> Page:
        """A filtered, ordered page of records with keyset pagination and the total count.

        ``fields``: read only ``id``, these record keys and the ordering's columns.
        """
        et = self.catalog.entity(entity)
        table = self.catalog.tables[entity]
        size = page_size(first, self.settings)
        readable = self.rows(entity, table)
        condition = self.compiler.where(entity, table, filter)
        if readable is not None:
            condition = sa.and_(condition, readable)
        order = self.compiler.ordering(entity, table, order_by)
        if fields is not None:  # cursors are made of the ordering's values
            fields = fields | {row_key(f) for f, _ in order}
        columns = self._columns(et, table, fields)
        base = sa.select(*columns).order_by(*self.compiler.order_clauses(order))
        tail = None
        if after:
            values = self.compiler.decode_cursor(order, after)
            ranged = self.compiler.row_seek(order, values)
            if ranged is None:
                seek = self.compiler.seek(order, values)
                rows = self.conn.execute(base.where(condition, seek).limit(size + 1)).all()
            else:
                primary, tail = ranged
                plain = sa.select(*columns).order_by(*self.compiler.plain_order_clauses(order))
                rows = self.conn.execute(plain.where(condition, primary).limit(size + 1)).all()
        elif self.dialect == "sqlite" and (ranges := self.compiler.first_ranges(order)):
            plain = sa.select(*columns).order_by(*self.compiler.plain_order_clauses(order))
            rows = []
            for part in ranges:
                more = plain.where(condition, part).limit(size + 1 - len(rows))
                rows.extend(self.conn.execute(more).all())
                if len(rows) > size:
                    break
        else:
            rows = self.conn.execute(base.where(condition).limit(size + 1)).all()
        if tail is not None and len(rows) <= size:  # the range ran out: nulls come last
            more = base.where(condition, tail).limit(size + 1 - len(rows))
            rows = [*rows, *self.conn.execute(more).all()]
        page = self._page(et, order, rows, size, fields)
        self._mask(entity, page.items)
        if with_total:
            count = sa.select(sa.func.count()).select_from(table).where(condition)
            page.total_count = int(self.conn.execute(count).scalar_one())
        return page

    def _page(
        self,
        et: EntityType,
        order: Sequence[tuple[Field, bool]],
        rows: Sequence[Any],
        size: int,
        fields: frozenset[str] | None = None,
    ) -> Page:
        shown = rows[:size]
        compiler = self.compiler
        return Page(
            items=[self._from_row(et, r, fields) for r in shown],
            has_next_page=len(rows) > size,
            cursor_of=lambda index: compiler.cursor(order, shown[index]._mapping),
        )

    def _alias(self, name: str, alias: str, *, link: bool = False) -> sa.Alias:
        """A named alias of a table, kept: making one builds a proxy for every column."""
        key = (self.catalog.version, "alias", name, alias, link)
        found = self._statements.get(key)
        if found is None:
            table = (self.catalog.link_tables if link else self.catalog.tables)[name]
            found = self._statements[key] = table.alias(alias)
        return found

    def children(
        self,
        entity: str,
        field_name: str,
        parent_ids: Sequence[str],
        *,
        filter: Mapping[str, Any] | None = None,
        order_by: Sequence[Any] | None = None,
        first: int | None = None,
        after: str | None = None,
        with_total: bool = False,
        fields: frozenset[str] | None = None,
    ) -> dict[str, Page]:
        """The to-many field ``field_name`` of many parents at once: one query, plus one for totals.

        Works for inverse fields (contacts of customers) and both sides of a
        many-to-many relationship (with the link's attributes on each page).
        Each parent gets its own page of at most ``first`` records, cut with a
        window function partitioned by parent.
        """
        size = page_size(first, self.settings)
        inverse = self.catalog.inverses.get(entity, {}).get(field_name)
        link = self.catalog.links.get(entity, {}).get(field_name)
        if inverse is None and link is None:
            raise ValidationFailed(
                [Fault(field_name, f"{entity} has no to-many field {field_name!r}")]
            )
        other_entity = inverse.entity if inverse else link.other  # type: ignore[union-attr]
        other_et = self.catalog.entity(other_entity)
        other = self._alias(other_entity, "o")
        attribute_columns: list[Any] = []
        if inverse is not None:
            parent_col = other.c[other_et.properties[inverse.property].column]
            source: sa.FromClause = other
        else:
            assert link is not None
            rel = self.catalog.relationships[link.relationship]
            link_table = self._alias(link.relationship, "l", link=True)
            near, far = ("from_id", "to_id") if link.outgoing else ("to_id", "from_id")
            parent_col = link_table.c[near]
            source = link_table.join(other, other.c.id == link_table.c[far])
            attribute_columns = [
                link_table.c[p.column].label(f"_attr_{p.name}") for p in rel.properties.values()
            ]
        readable = self.rows(other_entity, other)
        condition = self.compiler.where(other_entity, other, filter)
        if readable is not None:
            condition = sa.and_(condition, readable)
        order = self.compiler.ordering(other_entity, other, order_by)
        if fields is not None:  # cursors are made of the ordering's values
            fields = fields | {row_key(f) for f, _ in order}
        if after:
            condition = sa.and_(
                condition, self.compiler.seek(order, self.compiler.decode_cursor(order, after))
            )
        pages: dict[str, Page] = {}
        ids = sorted({str(i) for i in parent_ids})

        def build() -> sa.Select[Any]:
            rank = (
                sa.func.row_number()
                .over(partition_by=parent_col, order_by=self.compiler.order_clauses(order))
                .label("_rank")
            )
            inner = (
                sa.select(
                    *self._columns(other_et, other, fields),
                    *attribute_columns,
                    parent_col.label("_parent"),
                    rank,
                )
                .select_from(source)
                .where(parent_col.in_(sa.bindparam("parents", expanding=True)), condition)
                .subquery("w")
            )
            return (
                sa.select(inner)
                .where(inner.c["_rank"] <= size + 1)
                .order_by(inner.c["_parent"], inner.c["_rank"])
            )

        # Building this statement (a subquery's column proxies) costs more than running it;
        # without a filter, cursor or row scope it is the same for every caller: keep it.
        if filter is None and order_by is None and after is None and readable is None:
            key = (self.catalog.version, entity, field_name, size, fields)
            outer = self._statements.get(key)
            if outer is None:
                outer = self._statements[key] = build()
        else:
            outer = build()
        for chunk in _chunks(ids):
            # Positions, not row._mapping: a mapping view per row costs more than the row.
            first_attribute = len(self._keys(other_et, fields))
            parent_at = first_attribute + len(attribute_columns)
            grouped: dict[str, list[Any]] = defaultdict(list)
            for row in self.conn.execute(outer, {"parents": chunk}):
                grouped[str(row[parent_at])].append(row)
            for parent in chunk:
                rows = grouped.get(parent, [])
                page = self._page(other_et, order, rows, size, fields)
                self._mask(other_entity, page.items)
                if link is not None:
                    rel = self.catalog.relationships[link.relationship]
                    names = list(rel.properties)
                    page.attributes = [
                        dict(zip(names, r[first_attribute:parent_at], strict=True))
                        for r in rows[:size]
                    ]
                pages[parent] = page
            if with_total:
                counts = (
                    sa.select(parent_col, sa.func.count())
                    .select_from(source)
                    .where(
                        parent_col.in_(chunk),
                        self.compiler.where(other_entity, other, filter),
                        *([] if readable is None else [readable]),
                    )
                    .group_by(parent_col)
                )
                totals = {str(p): int(n) for p, n in self.conn.execute(counts)}
                for parent in chunk:
                    pages[parent].total_count = totals.get(parent, 0)
        return pages

    def aggregate(
        self,
        entity: str,
        *,
        filter: Mapping[str, Any] | None = None,
        group_by: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Count, and sum/avg/min/max of every numeric field, per group (date buckets allowed).

        ``group_by`` names fields, ``"created_at:month"`` buckets a date or
        date-time (``day``, ``week`` starting Monday, ``month``, ``year``); the
        group key is the ISO date the bucket starts.
        """
        et = self.catalog.entity(entity)
        table = self.catalog.tables[entity]
        readable = self.rows(entity, table)
        condition = self.compiler.where(entity, table, filter)
        if readable is not None:
            condition = sa.and_(condition, readable)
        keys: list[tuple[str, Any, Any]] = []  # (name, value shown, value grouped by)
        decimal_keys: set[int] = set()  # positions in keys of decimal fields
        faults: list[Fault] = []
        seen: dict[str, int] = {}  # each group key once: the groups are keyed by it
        for index, spec in enumerate(group_by or ()):
            name, _, unit = str(spec).partition(":")
            path = f"groupBy.{index}"
            if seen.setdefault(str(spec), index) != index:
                faults.append(Fault(path, f"already grouped by (groupBy.{seen[str(spec)]})"))
                continue
            try:
                fld = self.compiler.field(entity, table, name, path)
            except ValidationFailed as exc:
                faults.extend(exc.faults)
                continue
            if unit:
                if unit not in BUCKETS or fld.kind not in ("date", "datetime"):
                    faults.append(
                        Fault(path, f"{spec!r}: buckets ({', '.join(BUCKETS)}) apply to dates")
                    )
                    continue
                bucket = self.compiler.bucket(fld, unit)
                keys.append((str(spec), bucket, bucket))
            elif fld.kind in ("array", "object"):
                faults.append(Fault(path, "lists and objects cannot be grouped"))
            elif fld.kind == "decimal":  # one group per value, shown in its longest spelling
                decimal_keys.add(len(keys))
                keys.append((str(spec), decimal_min(fld.column, self.dialect), fld.comparable))
            else:
                keys.append((str(spec), fld.column, fld.column))
        if faults:
            raise ValidationFailed(faults)
        hidden = self.permissions.hidden(entity)
        numeric = [
            p for p in et.properties.values() if p.kind in NUMERIC_KINDS and p.name not in hidden
        ]
        columns: list[Any] = [sa.func.count().label("_count")]
        for index, prop in enumerate(numeric):
            column = table.c[prop.column]
            columns.extend(measures.columns(f"m{index}", prop.kind, column, self.dialect))
        labelled = [shown.label(f"_g{i}") for i, (_, shown, _) in enumerate(keys)]
        query = sa.select(*labelled, *columns).select_from(table).where(condition)
        if labelled:
            query = query.group_by(*[grouped for _, _, grouped in keys]).order_by(
                *[sa.nulls_last(grouped.asc()) for _, _, grouped in keys]
            )
        out = []
        for row in self.conn.execute(query).mappings():
            group = {}
            for i, (name, _, _) in enumerate(keys):
                value = row[f"_g{i}"]
                group[name] = json_value(measures.decimal(value) if i in decimal_keys else value)
            result: dict[str, Any] = {"group": group, "count": int(row["_count"])}
            found = [measures.values(f"m{i}", p.kind, row) for i, p in enumerate(numeric)]
            for measure in measures.MEASURES:
                result[measure] = {p.name: v[measure] for p, v in zip(numeric, found, strict=True)}
            out.append(result)
        return out

    # --- update ------------------------------------------------------------------------------

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
        faults.extend(_numbered_faults([p for p in et.properties.values() if p.autonumber], patch))
        clean, own = self.catalog.validators[entity].for_patch(
            {k: v for k, v in patch.items() if k in et.properties}
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
            if (known := _lost_race(entity, exc)) is None:
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
            {k: v for k, v in patch.items() if k in et.properties}
        )
        if faults or any(k not in et.properties and k != OWNER for k in patch):
            return frozenset(patch)
        touched = {k for k, v in clean.items() if old.get(k) != v}
        if OWNER in patch and patch[OWNER] != old.get(OWNER):
            touched.add(OWNER)
        return frozenset(touched)

    # --- delete ------------------------------------------------------------------------------

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
                    for chunk in _chunks(sorted(doomed_ids)):
                        self.conn.execute(
                            table.update().where(table.c.id.in_(chunk)).values({prop.column: None})
                        )
        for name, doomed_ids in doomed.items():
            doomed_et = self.catalog.types[name]
            table = self.catalog.tables[name]
            for chunk in _chunks(sorted(doomed_ids)):
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
            for chunk in _chunks(sorted(doomed_ids)):
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
            for chunk in _chunks(order):
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
        for chunk in _chunks(ids):
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
        for chunk in _chunks(target_ids):
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

    # --- versions and erasure -----------------------------------------------------------------

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

    # --- links -------------------------------------------------------------------------------

    def link(
        self,
        relationship: str,
        from_id: str,
        to_id: str,
        attributes: Mapping[str, Any] | None = None,
    ) -> bool:
        """Link two records; both must exist.

        Linking a linked pair again replaces its attributes when ``attributes``
        are given, and keeps them when they are not (None).
        """
        rel = self.catalog.relationship(relationship)
        self.permissions.require(rel.from_entity, "update")
        self.permissions.require(rel.to_entity, "update")
        validator = self.catalog.link_validators[relationship]
        given = attributes or {}
        faults = [
            Fault(f"attributes.{k}", f"{relationship} has no attribute {k!r}")
            for k in given
            if k not in rel.properties
        ]
        clean, own = validator.for_create(
            {k: v for k, v in given.items() if k in rel.properties}, "attributes."
        )
        keys: dict[str, str] = {}
        for name, value, entity in (
            ("fromId", from_id, rel.from_entity),
            ("toId", to_id, rel.to_entity),
        ):
            try:
                keys[name] = formats_uuid(value)
            except ValueError:
                faults.append(Fault(name, "not an id"))
                continue
            if not self._existing(entity, [keys[name]]):
                faults.append(Fault(name, f"no {entity} with id {value}"))
        if faults:
            raise ValidationFailed([*faults, *own])
        self._may_link(rel, keys["fromId"], keys["toId"])
        table = self.catalog.link_tables[relationship]
        match = sa.and_(table.c.from_id == keys["fromId"], table.c.to_id == keys["toId"])
        existing = self.conn.execute(sa.select(table.c.from_id).where(match)).first()
        if existing is not None and attributes is None:
            return True  # linked already, and nothing to change
        if own:  # a new link, or new attributes: they must hold
            raise ValidationFailed(own)
        events = self._link_events("link", rel, keys["fromId"], keys["toId"], clean)
        self._before(events)
        columns = {p.column: clean.get(p.name) for p in rel.properties.values()}
        if existing is None:
            self.conn.execute(
                table.insert().values(
                    from_id=keys["fromId"],
                    to_id=keys["toId"],
                    created_at=dt.datetime.now(dt.UTC),
                    created_by=self.actor.id,
                    **columns,
                )
            )
        elif columns:
            self.conn.execute(table.update().where(match).values(columns))
        self._note(
            "link",
            relationship,
            f"{keys['fromId']}:{keys['toId']}",
            {k: json_value(v) for k, v in clean.items()},
        )
        self._flush_audit()
        self._after(events)
        return True

    def _link_events(
        self,
        trigger: str,
        rel: Relationship,
        from_id: str,
        to_id: str,
        attributes: Mapping[str, Any] | None,
    ) -> list[WriteEvent]:
        """The ``link``/``unlink`` event of a many-to-many pair, when a listener wants it;
        its record is the ``from`` record (CONTRACT §5)."""
        if self._listening(trigger, rel.from_entity, rel.name) is None:
            return []
        record = self._stored(self.catalog.entity(rel.from_entity), from_id)
        ends = {
            "fromId": from_id,
            "toId": to_id,
            "attributes": {k: json_value(v) for k, v in (attributes or {}).items()},
        }
        return [WriteEvent(trigger, rel.from_entity, record, relationship=rel.name, link=ends)]

    def _may_link(self, rel: Relationship, from_id: str, to_id: str) -> None:
        """Linking changes both records: the actor must be allowed to update each."""
        for entity, key in ((rel.from_entity, from_id), (rel.to_entity, to_id)):
            if self.permissions.scope(entity, "update") == "own":
                table = self.catalog.tables[entity]
                owner = self.conn.execute(
                    sa.select(table.c.owner_id).where(table.c.id == key)
                ).scalar()
                self._may(entity, "update", owner)

    def unlink(self, relationship: str, from_id: str, to_id: str) -> bool:
        """Remove a link; False when there was none."""
        rel = self.catalog.relationship(relationship)
        self.permissions.require(rel.from_entity, "update")
        self.permissions.require(rel.to_entity, "update")
        table = self.catalog.link_tables[relationship]
        try:
            keys = formats_uuid(from_id), formats_uuid(to_id)
        except ValueError:
            return False
        for entity, key in ((rel.from_entity, keys[0]), (rel.to_entity, keys[1])):
            if not self._existing(entity, [key]):
                return False  # an endpoint the actor cannot read: no link it can see
        self._may_link(rel, *keys)
        match = sa.and_(table.c.from_id == keys[0], table.c.to_id == keys[1])
        events: list[WriteEvent] = []
        if self._listening("unlink", rel.from_entity, rel.name) is not None:
            attributes = self.conn.execute(sa.select(table).where(match)).mappings().first()
            if attributes is None:
                return False
            given = {p.name: attributes[p.column] for p in rel.properties.values()}
            events = self._link_events("unlink", rel, keys[0], keys[1], given)
            self._before(events)
        done = self.conn.execute(table.delete().where(match))
        if done.rowcount:
            self._note("unlink", relationship, f"{keys[0]}:{keys[1]}", None)
            self._flush_audit()
            self._after(events)
        return bool(done.rowcount)


def formats_uuid(value: Any) -> str:
    """An id in its one canonical form (lowercase, hyphenated); ValueError otherwise."""
    return str(uuid_text(value))
