"""The built-in catalog: one folder per entity type holding its JSON definition.

Entity types live in ``<type>/definition.json`` and many-to-many relationships
in ``relationships/<name>.json``; the demo's workflows in ``workflows/<name>.json``
(:func:`demo_workflows`), apart, so that a catalog applied without them has no
rule acting on its records. They are read through ``importlib.resources``
so the catalog works from an installed wheel as well as from a checkout;
``xrm serve --demo`` applies them like any other definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from xrm.entities.files import parse_definition_text


def _json_files(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for entry in folder.iterdir():
        if entry.name.startswith((".", "__")):
            continue
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            yield from _json_files(entry, relative + "/")
        elif entry.is_file() and entry.name.endswith(".json"):
            yield relative, entry


WORKFLOWS = "workflows/"


def _read(keep: Callable[[str], bool]) -> list[dict[str, Any]]:
    root = resources.files(__name__)
    found: list[dict[str, Any]] = []
    for relative, entry in sorted(_json_files(root), key=lambda item: item[0]):
        if keep(relative):
            found.extend(
                parse_definition_text(entry.read_text(encoding="utf-8"), f"catalog/{relative}")
            )
    return found


def definitions() -> list[dict[str, Any]]:
    """Every built-in type and relationship definition, sorted by its path in the catalog."""
    return _read(lambda relative: not relative.startswith(WORKFLOWS))


def demo_workflows() -> list[dict[str, Any]]:
    """The workflows ``xrm serve --demo`` adds: an SLA due date and a call-back task for
    serious grievances, renewal tasks for expiring contracts, priority service for assets
    under VIP contracts."""
    return _read(lambda relative: relative.startswith(WORKFLOWS))
