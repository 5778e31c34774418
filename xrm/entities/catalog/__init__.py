"""The built-in catalog: one folder per entity type holding its JSON definition.

Entity types live in ``<type>/definition.json`` and many-to-many relationships
in ``relationships/<name>.json``. They are read through ``importlib.resources``
so the catalog works from an installed wheel as well as from a checkout;
``xrm serve --demo`` applies them like any other definitions.
"""

from __future__ import annotations

from collections.abc import Iterator
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


def definitions() -> list[dict[str, Any]]:
    """Every built-in definition, sorted by its path inside the catalog."""
    root = resources.files(__name__)
    found: list[dict[str, Any]] = []
    for relative, entry in sorted(_json_files(root), key=lambda item: item[0]):
        found.extend(
            parse_definition_text(entry.read_text(encoding="utf-8"), f"catalog/{relative}")
        )
    return found
