"""Read definitions from JSON files and folders, for ``xrm apply`` and the built-in catalog.

Definitions live on disk one per file (Frappe-style: ``customer/definition.json``,
``relationships/contract_assets.json``). This module only turns paths into raw
dicts, remembering which file each came from so an error can name it; parsing
and checking the definitions is the registry's job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xrm.errors import XrmError
from xrm.schemas.admission import MAX_DEPTH


class UnreadableDefinition(XrmError):
    """A definition file that is missing, unreadable or not JSON; the message names the file."""

    code = "BAD_DEFINITION"


@dataclass(frozen=True, slots=True)
class DefinitionFile:
    """One definition and the file it was read from."""

    path: Path
    definition: dict[str, Any]

    @property
    def name(self) -> str | None:
        """The name the definition gives itself (entity type, relationship or workflow)."""
        return definition_name(self.definition)


def definition_name(definition: dict[str, Any]) -> str | None:
    """``x-xrm.name`` of an entity type, ``relationship`` of a relationship, else ``name``."""
    meta = definition.get("x-xrm")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        return str(meta["name"])
    for key in ("relationship", "name"):
        if isinstance(definition.get(key), str):
            return str(definition[key])
    return None


def json_files(folder: Path) -> Iterator[Path]:
    """Every ``*.json`` file under ``folder``, recursively, sorted, skipping hidden entries."""
    for path in sorted(folder.rglob("*.json")):
        hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
        if path.is_file() and not hidden:
            yield path


def parse_definition_text(text: str, source: str) -> list[dict[str, Any]]:
    """The definitions in one file's text: a JSON object, or an array of objects."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableDefinition(
            f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}",
            file=source,
            line=exc.lineno,
        ) from None
    except RecursionError:
        # Far past the nesting a definition may have (xrm.schemas.admission.MAX_DEPTH).
        raise UnreadableDefinition(
            f"{source}: nested too deeply to read (a definition nests at most {MAX_DEPTH} levels)",
            file=source,
        ) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise UnreadableDefinition(f"{source}: invalid JSON: {exc}", file=source) from None
    items = document if isinstance(document, list) else [document]
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            where = f"{source}[{index}]" if isinstance(document, list) else source
            raise UnreadableDefinition(
                f"{where}: a definition is a JSON object, not {type(item).__name__}", file=source
            )
    return items


def _expand(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from json_files(path)
        elif path.is_file():
            yield path
        else:
            raise UnreadableDefinition(f"{path}: no such file or folder", file=str(path))


def read_definition_files(paths: Sequence[Path]) -> list[DefinitionFile]:
    """Every definition in ``paths`` (files, or folders searched recursively for ``*.json``)."""
    found: list[DefinitionFile] = []
    for path in _expand(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UnreadableDefinition(f"{path}: cannot read: {exc}", file=str(path)) from None
        found.extend(DefinitionFile(path, d) for d in parse_definition_text(text, str(path)))
    return found


def load_definition_files(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The raw definitions in ``paths``, in file order (see ``read_definition_files``)."""
    return [item.definition for item in read_definition_files(paths)]
