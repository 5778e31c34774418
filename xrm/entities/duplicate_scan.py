"""The duplicate scan: every pair of stored records of one type that its rules match.

``scan`` reads each rule's fields of every record once (one streamed query per
rule, no per-record lookups), groups the records by the rule's blocking value
(``xrm.entities.duplicates``: the exact value of the first exact field, or the
first characters of a fuzzy-only rule's field), and scores pairs only inside a
group. In a group, records are taken in id order and each is compared with
the ``CANDIDATES`` records before it, so one huge group (a rule too loose for
its data) costs records x CANDIDATES comparisons, never its square. A pair
keeps the best score of any rule. The pairs replace the type's previous ones
in ``xrm_duplicate_pairs``, in one transaction.

``pairs`` reads them back best first, a page at a time (keyset on score and
ids), joined to both records: a record merged or deleted since the scan, or
one the reader may not see, drops its pairs from the answer.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from xrm.entities.duplicates import CANDIDATES, blocking_value, score
from xrm.entities.records import RecordSession
from xrm.entities.records.pages import chunks
from xrm.errors import Fault, ValidationFailed
from xrm.platform import tables as platform
from xrm.schemas.model import DuplicateRule, EntityType


@dataclass(frozen=True, slots=True)
class Pair:
    """Two records a rule matched; ``first_id`` sorts before ``second_id``."""

    rule: str
    score: float
    first_id: str
    second_id: str
    first_name: str | None = None
    second_name: str | None = None
    found_at: dt.datetime | None = None


def _rows(session: RecordSession, et: EntityType, rule: DuplicateRule) -> Iterator[dict[str, Any]]:
    table = session.catalog.tables[et.name]
    props = [et.properties[m.field] for m in rule.match]
    query = (
        sa.select(table.c.id, *(table.c[p.column].label(p.name) for p in props))
        .where(*(table.c[p.column].is_not(None) for p in props))
        .order_by(table.c.id)
        .execution_options(yield_per=5_000)
    )
    for row in session.conn.execute(query).mappings():
        yield dict(row)


def find_pairs(session: RecordSession, entity: str) -> list[Pair]:
    """Every matched pair of ``entity``'s records, best score per pair (nothing is written)."""
    et = session.catalog.entity(entity)
    session.permissions.require(entity, "read")
    best: dict[tuple[str, str], Pair] = {}
    for rule in et.duplicates:
        groups: dict[Any, list[dict[str, Any]]] = {}
        for row in _rows(session, et, rule):
            key = blocking_value(rule, row)
            if key is not None:
                groups.setdefault(key, []).append(row)
        for group in groups.values():
            for i in range(1, len(group)):
                row = group[i]
                for other in group[max(0, i - CANDIDATES) : i]:
                    alike = score(rule, row, other)
                    if alike is None:
                        continue
                    a, b = sorted((str(row["id"]), str(other["id"])))
                    held = best.get((a, b))
                    if held is None or alike > held.score:
                        best[(a, b)] = Pair(rule.name, alike, a, b)
    return sorted(best.values(), key=lambda p: (-p.score, p.first_id, p.second_id))


def scan(session: RecordSession, entity: str) -> int:
    """Find ``entity``'s duplicate pairs and store them in place of the last scan's; the count."""
    found = find_pairs(session, entity)
    table = platform.duplicate_pairs
    session.conn.execute(table.delete().where(table.c.entity == entity))
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "entity": entity,
            "first_id": p.first_id,
            "second_id": p.second_id,
            "rule": p.rule,
            "score": p.score,
            "found_at": now,
        }
        for p in found
    ]
    for chunk in chunks(rows, 1_000):
        session.conn.execute(table.insert(), list(chunk))
    return len(found)


def _cursor(pair: Pair) -> str:
    raw = json.dumps([pair.score, pair.first_id, pair.second_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[float, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, first, second = json.loads(raw)
        return float(value), str(first), str(second)
    except (ValueError, TypeError):
        raise ValidationFailed([Fault("after", "not a cursor of this list")]) from None


@dataclass(frozen=True, slots=True)
class PairPage:
    """One page of pairs, best first."""

    pairs: list[Pair]
    has_next_page: bool
    total_count: int

    def cursor(self, index: int) -> str:
        return _cursor(self.pairs[index])


def pairs(session: RecordSession, entity: str, first: int, after: str | None = None) -> PairPage:
    """The stored pairs of ``entity`` the reader may see both records of, best first."""
    et = session.catalog.entity(entity)
    session.permissions.require(entity, "read")
    table = platform.duplicate_pairs
    records = session.catalog.tables[entity]
    one, two = records.alias("one"), records.alias("two")
    shown = et.properties.get(et.display or "")
    conditions = [table.c.entity == entity]
    for alias in (one, two):
        scope = session.rows(entity, alias)
        if scope is not None:
            conditions.append(scope)
    joined = table.join(one, one.c.id == table.c.first_id).join(two, two.c.id == table.c.second_id)
    total = session.conn.execute(
        sa.select(sa.func.count()).select_from(joined).where(*conditions)
    ).scalar_one()
    names = (
        [one.c[shown.column].label("first_name"), two.c[shown.column].label("second_name")]
        if shown is not None
        else [sa.null().label("first_name"), sa.null().label("second_name")]
    )
    query = sa.select(
        table.c.rule,
        table.c.score,
        table.c.first_id,
        table.c.second_id,
        table.c.found_at,
        *names,
    ).select_from(joined)
    if after is not None:
        value, first_id, second_id = _after(after)
        conditions.append(
            sa.or_(
                table.c.score < value,
                sa.and_(table.c.score == value, table.c.first_id > first_id),
                sa.and_(
                    table.c.score == value,
                    table.c.first_id == first_id,
                    table.c.second_id > second_id,
                ),
            )
        )
    query = query.where(*conditions).order_by(
        table.c.score.desc(), table.c.first_id, table.c.second_id
    )
    found = [
        Pair(
            r.rule,
            r.score,
            str(r.first_id),
            str(r.second_id),
            None if r.first_name is None else str(r.first_name),
            None if r.second_name is None else str(r.second_name),
            r.found_at,
        )
        for r in session.conn.execute(query.limit(first + 1))
    ]
    return PairPage(found[:first], len(found) > first, total)
