"""What a write's values must hold beyond each field's own rules, checked before it is made.

Known fields only, auto-numbers left to their sequence, owners that are
active users, references to records that exist (and that the actor can see),
and values that unique sets do not already hold: create and update share
these, so they live apart from either. The checks run first; only a
concurrent writer gets a row past them, and ``lost_race`` says what the
constraint the database then raises means to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from xrm.entities.records.access import AccessMixin
from xrm.entities.records.pages import chunks
from xrm.entities.records.shape import OWNER, formats_uuid
from xrm.errors import Conflict, Duplicate, Fault, XrmError
from xrm.platform import tables as platform
from xrm.schemas.model import EntityType, Property

log = logging.getLogger(__name__)


def numbered_faults(
    numbered: Sequence[Property], values: Mapping[str, Any], prefix: str = ""
) -> list[Fault]:
    """Values given for auto-numbers, which only their sequence sets (blank is no value)."""
    return [
        Fault(f"{prefix}{p.name}", f"is numbered automatically ({p.autonumber}); it cannot be set")
        for p in numbered
        if values.get(p.name) is not None
        and not (isinstance(values[p.name], str) and not values[p.name].strip())
    ]


def lost_race(entity: str, exc: sa.exc.IntegrityError) -> XrmError | None:
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


class ChecksMixin(AccessMixin):
    """Validation that needs the database: unknown fields, owners, references, uniqueness."""

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
            for chunk in chunks(wanted):
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
