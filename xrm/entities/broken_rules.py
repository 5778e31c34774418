"""Why stored rows break a new definition: every broken rule, with the records that break it.

A tightened property may break stored rows in several ways at once: some rows
hold null where the property becomes required, others are too long, others
fall outside the new ``enum``. Whoever fixes the data needs every reason in
one answer, not one reason per attempt, so a value that fails is run against
each rule of the new definition on its own, and the failing records are
grouped by the rule they break (``Breaks``), across all the checks of a plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from xrm.errors import MAX_REPORTED_RECORDS, Fault
from xrm.schemas.model import Property

# The keywords ``validate`` checks after a value has its kind; each is a rule of its own.
RULE_KEYWORDS = (
    "enum",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "uniqueItems",
)

Normaliser = Callable[[Any], Any]
Converter = Callable[[Property | None, Property, str], Normaliser]
Diagnosis = Callable[[Any], list[tuple[str, str]]]


def _plural(count: int) -> str:
    return f"{count} stored record{'s' if count != 1 else ''}"


class Breaks:
    """The broken rules found so far, by (JSON path, rule), each with its records in order."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str], tuple[str, list[str]]] = {}

    def __bool__(self) -> bool:
        return bool(self._found)

    def add(self, path: str, rule: str, message: str, record_id: Any) -> None:
        """Record that ``record_id`` breaks ``rule`` at ``path``; the first message stands."""
        found = self._found.get((path, rule))
        if found is None:
            found = self._found[(path, rule)] = (message, [])
        found[1].append(str(record_id))

    def faults(self) -> list[Fault]:
        """One fault per broken rule: its first reason, how many records, the first of them."""
        out = []
        for (path, rule), (message, ids) in self._found.items():
            shown = tuple(ids[:MAX_REPORTED_RECORDS])
            listed = f" (the first {len(shown)} listed)" if len(ids) > len(shown) else ""
            text = f"{message}: {_plural(len(ids))} would break{listed}"
            out.append(Fault(path, text, rule=rule, records=shown, count=len(ids)))
        return out


def diagnose(
    old: Property | None, new: Property, phone_region: str, convert_for: Converter
) -> Diagnosis:
    """A function naming every rule of ``new`` that one stored value breaks, with why.

    ``convert_for`` is how the plan turns a stored value of ``old`` into one of
    ``new``; it is asked for the bare kind first (a value that does not even
    convert breaks ``type``, ``format`` or ``items``) and then for each rule alone.
    """
    rules = [k for k in RULE_KEYWORDS if k in new.schema]
    bare = dataclasses.replace(new, schema={k: v for k, v in new.schema.items() if k not in rules})
    base = convert_for(old, bare, phone_region)
    alone = []
    for rule in rules:
        only = dataclasses.replace(new, schema={**bare.schema, rule: new.schema[rule]})
        alone.append((rule, convert_for(old, only, phone_region)))
    kind_rule = "format" if "format" in new.schema else "type"

    def why(value: Any) -> list[tuple[str, str]]:
        try:
            base(value)
        except ValueError as exc:
            text = str(exc)
            items = new.kind == "array" and text.startswith("item ")
            return [("items" if items else kind_rule, text)]
        broken = []
        for rule, check in alone:
            try:
                check(value)
            except ValueError as exc:
                broken.append((rule, str(exc)))
        return broken

    return why
