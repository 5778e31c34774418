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
    candidates_filter,
    candidates_params,
    group_key,
    score,
    stored_key,
)
from xrm.entities.records.checks import ChecksMixin
from xrm.entities.records.pages import CHUNK, chunks
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
        return self.find_duplicates_many(entity, [values], exclude=exclude)[0]

    def find_duplicates_many(
        self,
        entity: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        exclude: str | None = None,
    ) -> list[list[DuplicateMatch]]:
        """For each of ``rows``, the records it would duplicate, best first: stored records,
        and earlier rows of ``rows`` (a match with ``row`` set to that row's index).

        One query per rule (per chunk of rows) reads the candidates, however many rows
        there are: what an importer checks a batch of a file with. Values are raw and
        normalised first, as ``find_duplicates`` does. Nothing is written.
        """
        et = self.catalog.entity(entity)
        self.permissions.require(entity, "read")
        validator = self.catalog.validators[entity]
        # Only the fields a rule names are compared: normalising the rest is wasted work.
        named = {m.field for rule in et.duplicates for m in rule.match}
        clean_rows: list[dict[str, Any]] = []
        for values in rows:
            clean, faults = validator.for_patch({k: v for k, v in values.items() if k in named})
            for fault in faults:
                clean.pop(fault.field, None)
            clean_rows.append(clean)
        found: list[list[DuplicateMatch]] = [[] for _ in clean_rows]
        for rule in et.duplicates:
            for index, matches in enumerate(self._batch_matches(et, rule, clean_rows, exclude)):
                found[index].extend(matches)
        return [sorted(f, key=lambda m: (-m.score, m.row is not None)) for f in found]

    def _batch_matches(
        self,
        et: EntityType,
        rule: DuplicateRule,
        rows: Sequence[Mapping[str, Any]],
        exclude: str | None,
        limit: int = CANDIDATES,
        labels: Sequence[str] | None = None,
    ) -> list[list[DuplicateMatch]]:
        """Each row's matches under ``rule``: with the stored records sharing its blocking
        value (one query per chunk of distinct values, at most ``limit`` candidates per
        value) and with the earlier rows of ``rows`` sharing it (in memory, at most
        ``CANDIDATES`` of them). An earlier row's match is named by ``labels[index]``."""
        keys = [blocking_value(rule, r) for r in rows]
        stored = self._candidates(et, rule, [k for k in keys if k is not None], exclude, limit)
        shown = et.properties.get(et.display or "")
        found: list[list[DuplicateMatch]] = []
        earlier: dict[Any, list[int]] = {}
        for index, (values, key) in enumerate(zip(rows, keys, strict=True)):
            matches: list[DuplicateMatch] = []
            if key is None:
                found.append(matches)
                continue
            for row in stored.get(key, ()):
                alike = score(rule, values, row)
                if alike is None:
                    continue
                readable = self._may_read(et.name, row["owner_id"])
                name = row[shown.name] if shown is not None and readable else None
                record = str(row["id"]) if readable else None
                matches.append(DuplicateMatch(rule.name, rule.action, alike, record, name))
            group = earlier.setdefault(group_key(rule, values, key), [])
            for other in group[-CANDIDATES:]:
                alike = score(rule, values, rows[other])
                if alike is not None:
                    label = labels[other] if labels is not None else None
                    matches.append(
                        DuplicateMatch(rule.name, rule.action, alike, None, label, other)
                    )
            group.append(index)
            found.append(matches)
        return found

    def _candidates(
        self,
        et: EntityType,
        rule: DuplicateRule,
        keys: Sequence[Any],
        exclude: str | None,
        limit: int,
    ) -> dict[Any, list[dict[str, Any]]]:
        """The stored rows sharing each of ``keys`` under ``rule``, by key (``limit`` each)."""
        by_key: dict[Any, list[dict[str, Any]]] = {}
        distinct = list(dict.fromkeys(keys))
        if not distinct:
            return by_key
        blocking = et.properties[rule.blocking].name
        size = CHUNK if rule.exact else 100  # a fuzzy rule's chunk is one range per key
        for chunk in chunks(distinct, size):
            query = self._candidates_query(et, rule, len(chunk), exclude, limit)
            params = candidates_params(rule, chunk)
            if exclude is not None:
                params["exclude"] = exclude
            for row in self.conn.execute(query, params).mappings():
                held = by_key.setdefault(stored_key(rule, row[blocking]), [])
                if len(held) < limit:
                    held.append(dict(row))
        return by_key

    def _candidates_query(
        self, et: EntityType, rule: DuplicateRule, count: int, exclude: str | None, limit: int
    ) -> Any:
        """The select of ``_candidates`` for ``count`` blocking values, built once per rule and
        schema version (an exact rule's ``IN`` expands to any count)."""
        one = count == 1
        shape = one if rule.exact else count
        plain = exclude is None
        cached = (self.catalog.version, "duplicates", et.name, rule.name, shape, limit, plain)
        query = self._statements.get(cached)
        if query is not None:
            return query
        table = self.catalog.tables[et.name]
        shown = et.properties.get(et.display or "")
        fields = [et.properties[m.field] for m in rule.match]
        columns = [table.c[p.column].label(p.name) for p in fields]
        if shown is not None and shown not in fields:
            columns.append(table.c[shown.column].label(shown.name))
        query = sa.select(table.c.id, table.c.owner_id, *columns).where(
            candidates_filter(table, et, rule, count, self.conn.dialect.name)
        )
        if exclude is not None:
            query = query.where(table.c.id != sa.bindparam("exclude", type_=table.c.id.type))
        if one:  # one value: the database stops at the limit; for more, ``_candidates`` does
            query = query.limit(limit)
        self._statements[cached] = query
        return query

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
        labels = [p.rstrip(".") or "record" for p in prefixes]
        for rule in et.duplicates:
            found = self._batch_matches(et, rule, rows, exclude, _needed(rule), labels)
            for matches, prefix in zip(found, prefixes, strict=True):
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


def _fault_text(rule: DuplicateRule, match: DuplicateMatch) -> str:
    """What a form shows beside each field of the rule (the admin UI translates this shape)."""
    if match.name is None:
        return f"looks like a duplicate of a record you cannot see (rule {rule.name!r})"
    return f"looks like a duplicate of {match.name} (rule {rule.name!r})"


def _message(et: EntityType, rule: DuplicateRule, match: DuplicateMatch) -> str:
    who = match.name or match.record or "a record you cannot see"
    return f"{et.name} looks like a duplicate of {who} (rule {rule.name!r}, score {match.score})"


def _refusal(et: EntityType, rule: DuplicateRule, prefix: str, match: DuplicateMatch) -> Duplicate:
    message = _message(et, rule, match)
    details: dict[str, Any] = {} if match.record is None else {"record": match.record}
    return Duplicate(
        message,
        errors=[
            Fault(f"{prefix}{m.field}", _fault_text(rule, match)).as_dict() for m in rule.match
        ],
        rule=rule.name,
        score=match.score,
        **details,
    )
