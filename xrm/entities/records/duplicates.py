"""Duplicate rules at the record service's door: every create and update, on every channel.

A ``block`` rule refuses the write (``DUPLICATE``, naming the rule and, when
the actor may read it, the record matched); a ``warn`` rule lets it through
and leaves the match in ``duplicate_warnings``, which the API returns as a
response extension. Records of one batch are compared with each other too
(two identical rows of one import are duplicates before either is stored).
``find_duplicates`` answers the same question without writing, for the
importer (flag, skip or merge a row) and the admin UI. The matching itself,
and how it avoids reading the whole table, is ``xrm.entities.duplicates``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from xrm.entities.duplicates import (
    CANDIDATES,
    DuplicateMatch,
    blocking_value,
    candidate_filter,
    score,
)
from xrm.entities.records.checks import ChecksMixin
from xrm.errors import Duplicate, Fault
from xrm.schemas.model import DuplicateRule, EntityType


class DuplicatesMixin(ChecksMixin):
    """``find_duplicates``, and the check that create and update run before they write."""

    def find_duplicates(
        self, entity: str, values: Mapping[str, Any], *, exclude: str | None = None
    ) -> list[DuplicateMatch]:
        """The stored records ``values`` would duplicate under the type's rules, best first.

        ``values`` are raw (as a form or a file gives them): they are normalised
        first; a field that does not normalise takes no part. Nothing is written.
        """
        et = self.catalog.entity(entity)
        self.permissions.require(entity, "read")
        clean, faults = self.catalog.validators[entity].for_patch(
            {k: v for k, v in values.items() if k in et.properties}
        )
        for fault in faults:
            clean.pop(fault.field, None)
        found = [m for rule in et.duplicates for m in self._matches(et, rule, clean, exclude)]
        return sorted(found, key=lambda m: -m.score)

    def _matches(
        self,
        et: EntityType,
        rule: DuplicateRule,
        values: Mapping[str, Any],
        exclude: str | None,
        limit: int = CANDIDATES,
    ) -> list[DuplicateMatch]:
        key = blocking_value(rule, values)
        if key is None:
            return []
        table = self.catalog.tables[et.name]
        fields = [et.properties[m.field] for m in rule.match]
        shown = et.properties.get(et.display or "")
        columns = [table.c[p.column].label(p.name) for p in fields]
        if shown is not None and shown not in fields:
            columns.append(table.c[shown.column].label(shown.name))
        query = (
            sa.select(table.c.id, table.c.owner_id, *columns)
            .where(candidate_filter(table, et, rule, key))
            .limit(limit)
        )
        if exclude is not None:
            query = query.where(table.c.id != exclude)
        found: list[DuplicateMatch] = []
        for row in self.conn.execute(query).mappings():
            alike = score(rule, values, dict(row))
            if alike is None:
                continue
            readable = self._may_read(et.name, row["owner_id"])
            name = row[shown.name] if shown is not None and readable else None
            record = str(row["id"]) if readable else None
            found.append(DuplicateMatch(rule.name, rule.action, alike, record, name))
        return found

    def _check_duplicates(
        self,
        et: EntityType,
        rows: Sequence[Mapping[str, Any]],
        prefixes: Sequence[str],
        exclude: str | None = None,
    ) -> None:
        """Refuse what a ``block`` rule matches; note what a ``warn`` rule matches.

        Rows are compared with the table and with the rows before them in the
        batch; ``exclude`` is the record an update changes (it does not
        duplicate itself).
        """
        for rule in et.duplicates:
            earlier: list[tuple[Mapping[str, Any], str]] = []
            for row, prefix in zip(rows, prefixes, strict=True):
                matches = self._matches(et, rule, row, exclude, _needed(rule))
                for other, where in earlier:
                    alike = score(rule, row, other)
                    if alike is not None:
                        matches.append(DuplicateMatch(rule.name, rule.action, alike, None, where))
                earlier.append((row, prefix.rstrip(".") or "record"))
                if not matches:
                    continue
                best = max(matches, key=lambda m: m.score)
                if rule.action == "block":
                    raise _refusal(et, rule, prefix, best)
                self.duplicate_warnings.extend(
                    {
                        "code": "DUPLICATE",
                        "entity": et.name,
                        "at": prefix.rstrip("."),
                        "message": _message(et, rule, m),
                        **m.as_dict(),
                    }
                    for m in sorted(matches, key=lambda m: -m.score)
                )


def _needed(rule: DuplicateRule) -> int:
    """Candidates worth reading: one settles a block by exact fields alone."""
    return 1 if rule.action == "block" and not rule.fuzzy else CANDIDATES


def _message(et: EntityType, rule: DuplicateRule, match: DuplicateMatch) -> str:
    who = match.name or match.record or "a record you cannot see"
    return f"{et.name} looks like a duplicate of {who} (rule {rule.name!r}, score {match.score})"


def _refusal(et: EntityType, rule: DuplicateRule, prefix: str, match: DuplicateMatch) -> Duplicate:
    message = _message(et, rule, match)
    details: dict[str, Any] = {} if match.record is None else {"record": match.record}
    return Duplicate(
        message,
        errors=[
            Fault(f"{prefix}{m.field}", f"matches duplicate rule {rule.name!r}").as_dict()
            for m in rule.match
        ],
        rule=rule.name,
        score=match.score,
        **details,
    )
