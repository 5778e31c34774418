"""A definition as the JSON editors show it, and on which line each JSON path stands.

Faults of a definition are named by JSON path (``properties.rating.maximum``);
a person editing the JSON text looks for a line. ``pretty`` is the one
spelling the editors show (two-space indent, the same as ``json.dumps``) and
``path_lines`` says where each path is in it.
"""

from __future__ import annotations

import json
from typing import Any


def pretty(definition: Any) -> str:
    """The definition as the JSON view shows it."""
    return json.dumps(definition, indent=2, ensure_ascii=False)


def path_lines(definition: Any) -> dict[str, int]:
    """``{json path: line number}`` of every value in ``pretty(definition)`` (1-based)."""
    lines: dict[str, int] = {"": 1}
    line = 1

    def walk(value: Any, path: str) -> None:
        nonlocal line
        if isinstance(value, dict) and value:
            items: list[tuple[str, Any]] = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, list) and value:
            items = [(str(i), v) for i, v in enumerate(value)]
        else:
            return
        for key, item in items:
            line += 1
            here = f"{path}.{key}" if path else key
            lines[here] = line
            walk(item, here)
        line += 1  # the closing bracket

    walk(definition, "")
    return lines
