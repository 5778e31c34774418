"""Duplicate detection rules (``x-xrm.duplicates``): which stored records one record resembles.

A rule names fields to compare on their stored, normalised values (so
``  LEAD7@Example.COM `` and ``lead7@example.com`` are one address, and
``010-1234-5678`` and ``+82 10 1234 5678`` one phone). Exact fields must be
equal; fuzzy fields must reach their threshold with rapidfuzz's normalised
Indel ratio (``fuzz.ratio`` / 100, on case-folded text); the score of a match is
the mean over its fields (an exact field counts 1).

Blocking, so a check never reads the whole table: the candidates are the rows
whose *blocking field* agrees with the record's, through that field's index
(the parser gives every rule's blocking field an index). The blocking field
is the rule's first exact field (an equality lookup); a rule with only fuzzy
fields blocks on the first fuzzy field's first ``prefix`` characters (a range
lookup, ``value >= p AND value < p || U+10FFFF``, which a code-point-ordered
index answers on both databases). At most ``CANDIDATES`` rows per rule and
record are compared: a block of more than that means the rule is too loose,
not that the last rows matter. Scoring runs in Python on those rows only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rapidfuzz import fuzz

from xrm.schemas.model import DuplicateRule, EntityType

# The most stored rows one rule compares one record with.
CANDIDATES = 200
_TOP = "\U0010ffff"
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    """One record a rule found: ``record`` is None when the caller may not read it."""

    rule: str
    action: str
    score: float
    record: str | None
    name: str | None  # the record's display value, shown to people instead of its id
    # Set when the match is an earlier record of the same batch (not yet stored): its index.
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "action": self.action,
            "score": self.score,
            "record": self.record,
            "name": self.name,
        }


def blocking_value(rule: DuplicateRule, values: Mapping[str, Any]) -> Any:
    """What candidates must share with ``values`` (None: the rule cannot match this record)."""
    if any(values.get(f) is None for f in (m.field for m in rule.match)):
        return None
    value = values[rule.blocking]
    if rule.exact:
        return value
    text = str(value)
    return text[: rule.prefix] if len(text) >= rule.prefix else None


def candidates_filter(
    table: sa.Table, et: EntityType, rule: DuplicateRule, count: int, dialect: str = ""
) -> Any:
    """The indexed condition selecting the rows that share any of ``count`` blocking values
    (bound by ``candidates_params``): ``IN`` for an exact rule, one prefix range per value
    for a fuzzy-only one. Built once per rule and count, and cached by the caller.

    On PostgreSQL a text blocking field is matched with ``= ANY(array)``: one parameter
    instead of a thousand, which the server parses and plans in well under half the time
    (an import checks every batch this way)."""
    column = table.c[et.properties[rule.blocking].column]
    if rule.exact:
        if dialect == "postgresql" and type(column.type) in (sa.String, sa.Text, sa.Unicode):
            from sqlalchemy.dialects.postgresql import ARRAY

            return column == sa.any_(sa.bindparam("keys", type_=ARRAY(column.type)))
        return column.in_(sa.bindparam("keys", expanding=True, type_=column.type))
    return sa.or_(
        *(
            sa.and_(
                column >= sa.bindparam(f"key{i}", type_=column.type),
                column < sa.bindparam(f"top{i}", type_=column.type),
            )
            for i in range(count)
        )
    )


def candidates_params(rule: DuplicateRule, keys: Sequence[Any]) -> dict[str, Any]:
    """The values ``candidates_filter`` is bound to for the blocking values ``keys``."""
    if rule.exact:
        return {"keys": list(keys)}
    params: dict[str, Any] = {}
    for i, key in enumerate(keys):
        params[f"key{i}"] = key
        params[f"top{i}"] = key + _TOP
    return params


def stored_key(rule: DuplicateRule, value: Any) -> Any:
    """The blocking value a stored row's blocking field falls under (what ``candidates_filter``
    selected it by): the value itself, or for a fuzzy-only rule its first ``prefix`` characters."""
    if value is None or rule.exact:
        return value
    return str(value)[: rule.prefix]


def group_key(rule: DuplicateRule, values: Mapping[str, Any], key: Any = _UNSET) -> Any:
    """What records must share to be compared by a scan: every exact field, and for a
    fuzzy-only rule the blocking prefix (None: the rule cannot match this record).
    ``key``: the record's ``blocking_value`` when the caller has it already."""
    if key is _UNSET:
        key = blocking_value(rule, values)
    if key is None or not rule.exact:
        return key
    return tuple(values[f] for f in rule.exact)


def score(rule: DuplicateRule, values: Mapping[str, Any], other: Mapping[str, Any]) -> float | None:
    """How alike two records are under ``rule`` (0-1), or None when they do not match."""
    total = 0.0
    for m in rule.match:
        mine, theirs = values.get(m.field), other.get(m.field)
        if mine is None or theirs is None:
            return None
        if m.fuzzy is None:
            if mine != theirs:
                return None
            total += 1.0
            continue
        ratio = fuzz.ratio(str(mine).casefold(), str(theirs).casefold()) / 100.0
        if ratio < m.fuzzy:
            return None
        total += ratio
    return round(total / len(rule.match), 4)
