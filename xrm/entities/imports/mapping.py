"""Which column of a file fills which field: suggested, overridable, and checked.

A column is matched to a field by the field's name or its label in any
language, ignoring case, spaces, underscores and hyphens (``E-mail``,
``email``, ``이메일`` and ``Email `` all find ``email``). ``--map COLUMN=field``
overrides a suggestion (``--map COLUMN=`` leaves a column out). A mapping
to a field that does not exist, or two columns filling one field, is refused
before anything is written; columns that match nothing are reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from xrm.entities.imports import BadImport
from xrm.schemas.model import EntityType

ID = "id"  # the record id column an export writes: matched only as the key (``--key id``)

_NOISE = re.compile(r"[\s_\-.·]+")


def normal(text: str) -> str:
    """A name as compared: case-folded, without spaces, underscores, hyphens and dots."""
    return _NOISE.sub("", text.casefold())


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Column positions to field names, and the columns left out (with why)."""

    fields: dict[int, str]
    ignored: dict[int, str]

    def field_of(self, index: int) -> str | None:
        return self.fields.get(index)


def _names(et: EntityType) -> dict[str, str]:
    """Every spelling that finds a field: its name, then its labels (first one wins)."""
    found: dict[str, str] = {normal(ID): ID}
    for prop in et.properties.values():
        found.setdefault(normal(prop.name), prop.name)
    for prop in et.properties.values():
        for label in prop.label.values():
            if isinstance(label, str) and label.strip():
                found.setdefault(normal(label), prop.name)
        title = prop.schema.get("title")
        if isinstance(title, str) and title.strip():
            found.setdefault(normal(title), prop.name)
    return found


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """``["Column=field", ...]`` as a dict; a pair without ``=`` is refused."""
    out: dict[str, str] = {}
    for pair in pairs:
        column, sep, field_name = pair.partition("=")
        if not sep or not column.strip():
            raise BadImport(f"--map {pair!r}: write COLUMN=field (or COLUMN= to leave it out)")
        out[column.strip()] = field_name.strip()
    return out


def suggest(
    et: EntityType, headers: Sequence[str], overrides: Mapping[str, str] | None = None
) -> ColumnMap:
    """The mapping for ``headers``: overrides first, then names and labels; checked."""
    overrides = dict(overrides or {})
    by_header: dict[str, int] = {}
    for index, header in enumerate(headers):
        by_header.setdefault(header, index)
        by_header.setdefault(normal(header), index)
    chosen: dict[int, str | None] = {}
    for column, field_name in overrides.items():
        found = by_header.get(column, by_header.get(normal(column)))
        if found is None:
            shown = ", ".join(repr(h) for h in headers if h) or "none"
            raise BadImport(
                f"--map {column}={field_name}: the file has no column {column!r} "
                f"(its columns: {shown})"
            )
        if field_name and field_name != ID and field_name not in et.properties:
            known = ", ".join(et.properties)
            raise BadImport(
                f"--map {column}={field_name}: {et.name} has no field "
                f"{field_name!r} (its fields: {known})"
            )
        chosen[found] = field_name or None
    names = _names(et)
    fields: dict[int, str] = {}
    ignored: dict[int, str] = {}
    for index, header in enumerate(headers):
        if index in chosen:
            target = chosen[index]
            if target is None:
                ignored[index] = "left out with --map"
                continue
        elif not header:
            ignored[index] = "the column has no name"
            continue
        else:
            named = names.get(normal(header))
            if named is None:
                ignored[index] = f"no field of {et.name} is called {header!r}; use --map"
                continue
            target = named
        fields[index] = target
    seen: dict[str, int] = {}
    for index, field_name in fields.items():
        if field_name in seen:
            first = headers[seen[field_name]]
            raise BadImport(
                f"columns {first!r} and {headers[index]!r} both fill the field {field_name}; "
                f"leave one out with --map {headers[index]}="
            )
        seen[field_name] = index
    return ColumnMap(fields, ignored)
