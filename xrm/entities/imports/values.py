"""A cell as people type it to the value a field takes, before the record service checks it.

Spreadsheets spell values many ways: ``1,234,567``, ``2024. 3. 5.``,
``2024년 3월 5일``, ``예``, an enum's Korean label. This module turns those into
the canonical input the validator accepts; the validator then normalises and
checks it like any other write (an unparseable value is its error, naming
the field). References are left as text: the run resolves them against the
database (``run.References``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

from xrm.schemas.model import Property

# A cell an export escaped against formula injection: ``'=1+1`` is the text ``=1+1``.
_ESCAPED = ("'=", "'+", "'-", "'@", "'\t", "'\r")

_TRUE = {"true", "yes", "y", "1", "on", "예", "네", "참", "o", "✓", "v"}
_FALSE = {"false", "no", "n", "0", "off", "아니오", "아니요", "아니", "거짓", "x"}

_SEPARATORS = re.compile(r"(?<=\d)[,_ '\u00a0\u202f](?=\d{3}(?:\D|$))")
_NUMBER = re.compile(r"^[+-]?[\d,_ '\u00a0\u202f]*\.?\d*(?:[eE][+-]?\d+)?$")
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.]\s*(\d{1,2})[-/.]\s*(\d{1,2})\.?$"),
    re.compile(r"^(\d{4})년\s*(\d{1,2})월\s*(\d{1,2})일$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


def unescape(text: str) -> str:
    """Undo an export's formula escaping, so an exported file imports as it was."""
    return text[1:] if text.startswith(_ESCAPED) else text


def _number_text(text: str) -> str:
    stripped = text.strip()
    if _NUMBER.match(stripped) and any(c.isdigit() for c in stripped):
        return _SEPARATORS.sub("", stripped).replace(",", "")
    return stripped


def date_text(text: str) -> str:
    """``2024-03-05`` from the common spellings of a date; anything else as it was."""
    raw = text.strip()
    for pattern in _DATE_PATTERNS:
        match = pattern.match(raw)
        if match:
            year, month, day = (int(g) for g in match.groups())
            try:
                return dt.date(year, month, day).isoformat()
            except ValueError:
                return raw
    return raw


def _enum_value(prop: Property, text: str) -> str:
    values = prop.enum or ()
    raw = text.strip()
    if raw in values:
        return raw
    folded = raw.casefold()
    for value in values:
        if value.casefold() == folded:
            return value
    for value, labels in prop.enum_labels.items():
        if any(isinstance(lb, str) and lb.strip().casefold() == folded for lb in labels.values()):
            return value
    return raw  # the validator says which values it takes


def _array(prop: Property, text: str) -> Any:
    raw = text.strip()
    if raw.startswith("["):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    items = prop.schema.get("items", {})
    parts = [p.strip() for p in raw.split(";")] if raw else []
    if items.get("type") in ("integer", "number"):
        return [_number_text(p) for p in parts if p]
    return [p for p in parts if p]


def cell_value(prop: Property, cell: Any) -> Any:
    """What to hand the record service for ``cell`` in ``prop``'s column; None for blank."""
    if cell is None:
        return None
    kind = prop.kind
    if isinstance(cell, str):
        text = unescape(cell)
        if not text.strip():
            return None
    elif isinstance(cell, bool):
        return cell if kind == "boolean" else str(cell).lower()
    elif isinstance(cell, (int, float, Decimal)):
        if kind in ("integer", "int64", "number", "decimal"):
            return cell
        if kind == "boolean":
            return cell in (1, 1.0) if cell in (0, 1) else cell
        text = str(int(cell)) if isinstance(cell, float) and cell.is_integer() else str(cell)
    elif isinstance(cell, dt.datetime):
        if kind == "date":
            return cell.date()
        if kind == "datetime":
            return cell
        text = cell.isoformat(sep=" ")
    elif isinstance(cell, dt.date):
        if kind in ("date", "datetime"):
            return cell if kind == "date" else dt.datetime.combine(cell, dt.time())
        text = cell.isoformat()
    else:
        text = str(cell)
    if kind in ("integer", "int64", "number", "decimal"):
        return _number_text(text)
    if kind == "boolean":
        folded = text.strip().casefold()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        return text
    if kind == "date":
        return date_text(text)
    if kind == "datetime":
        raw = text.strip()
        head, sep, tail = raw.partition(" ")
        if sep and _DATE_PATTERNS[0].match(head):
            return f"{date_text(head)}T{tail.strip()}"
        return date_text(raw) if len(raw) <= 13 else raw
    if kind == "enum":
        return _enum_value(prop, text)
    if kind == "array":
        return _array(prop, text)
    if kind == "object":
        try:
            return json.loads(text)
        except ValueError:
            return text  # the validator refuses it, naming the field
    return text
