"""Rules a definition must meet to be admitted now, beyond those it must meet to be read back.

``xrm.schemas.parse`` holds the rules every stored definition meets, and
runs each time a definition is loaded. The rules here came later and are
checked only when a definition is applied (``Registry.apply``), so a catalog
stored by an older release, which may break one of them, still loads:

- a definition is plain JSON: finite numbers only (Python's JSON parser
  accepts ``NaN`` and ``Infinity``, and reads ``1e999`` as infinity; no
  database stores them as JSON, and ``definitions export`` could not write
  them), text keys, nesting at most :data:`MAX_DEPTH` levels (a property's
  ``default`` object may nest 64, ``xrm.schemas.formats.JSON_DEPTH``);
- a type or relationship has at most :data:`MAX_PROPERTIES` properties
  (PostgreSQL stops at 1,600 columns, retired ones included);
- no unique set is listed twice (in any order: ``[a, b]`` is ``[b, a]``).

The walk is iterative, so no nesting can overflow the stack checking it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from xrm.errors import DefinitionError, Fault

MAX_DEPTH = 100
MAX_PROPERTIES = 500
MAX_FAULTS = 20  # non-finite numbers reported at once, at most

_Trail = tuple[Any, "_Trail"] | None  # (key, parent) links: a path built only when needed


def _path(trail: _Trail) -> list[str]:
    parts: list[str] = []
    while trail is not None:
        key, trail = trail
        parts.append(str(key))
    return parts[::-1]


def json_faults(definition: Any, max_depth: int = MAX_DEPTH) -> Iterator[Fault]:
    """Where ``definition`` is not plain JSON: too deep (reported once), non-finite, odd keys."""
    pending: list[tuple[Any, int, _Trail]] = [(definition, 0, None)]
    while pending:
        item, depth, trail = pending.pop()
        if isinstance(item, (dict, list)):
            if depth >= max_depth:
                where = _path(trail)
                shown = ".".join(where[:4]) + (".…" if len(where) > 4 else "")
                yield Fault(shown, f"nested more than {max_depth} levels deep")
                return
            if isinstance(item, dict):
                for key, inner in item.items():
                    if not isinstance(key, str):
                        yield Fault(".".join(_path(trail)), f"the key {key!r} is not text")
                        continue
                    pending.append((inner, depth + 1, (key, trail)))
            else:
                pending.extend((inner, depth + 1, (i, trail)) for i, inner in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            spelled = "NaN" if math.isnan(item) else "Infinity (or a number too large)"
            yield Fault(".".join(_path(trail)), f"{spelled} is not a JSON number")
        elif item is not None and not isinstance(item, (str, int, float, bool)):
            yield Fault(".".join(_path(trail)), f"a {type(item).__name__} is not a JSON value")


def _property_count_faults(definition: Mapping[str, Any]) -> list[Fault]:
    properties = definition.get("properties")
    if isinstance(properties, Mapping) and len(properties) > MAX_PROPERTIES:
        return [
            Fault(
                "properties",
                f"{len(properties)} properties; a definition holds at most {MAX_PROPERTIES}",
            )
        ]
    return []


def _unique_set_faults(definition: Mapping[str, Any]) -> list[Fault]:
    xrm = definition.get("x-xrm")
    groups = xrm.get("unique") if isinstance(xrm, Mapping) else None
    if not isinstance(groups, list):
        return []
    faults = []
    seen: dict[frozenset[str], int] = {}
    for index, group in enumerate(groups):
        if not isinstance(group, list) or not all(isinstance(name, str) for name in group):
            continue  # the meta-schema says what is wrong with it
        key = frozenset(group)
        if key in seen:
            faults.append(
                Fault(f"x-xrm.unique.{index}", f"the same unique set as x-xrm.unique.{seen[key]}")
            )
        else:
            seen[key] = index
    return faults


def admission_faults(definition: Any) -> list[Fault]:
    """Every fault of ``definition`` against the rules above (the JSON ones first, and alone)."""
    faults: list[Fault] = []
    for fault in json_faults(definition):
        faults.append(fault)
        if len(faults) >= MAX_FAULTS:
            break
    if faults or not isinstance(definition, Mapping):
        return faults
    return [*_property_count_faults(definition), *_unique_set_faults(definition)]


def admit(definition: Any) -> None:
    """Raise ``BAD_DEFINITION`` unless ``definition`` meets the rules above."""
    faults = admission_faults(definition)
    if faults:
        raise DefinitionError(faults)
