"""Exact conversions of stored values when a property changes kind: every rule in one place.

Converting a column is the one definition change that rewrites stored data,
so it must never change a value on the way: a conversion is accepted only
when every stored value converts exactly and could be converted back. A value
that would change (``"007"`` to 7, ``"1,5"`` to 15, ``12345678901234567.89``
to the nearest double) is a ``ValueError`` naming the value and why, which
the plan reports as a broken rule with the blocking records.

The rules, by the storage classes of ``xrm.schemas.model.STORAGE``:

* anything to text: its one spelling (``decimal_text``, ISO 8601, ``true``,
  ``repr`` of a double, compact JSON for lists and objects);
* text to an integer: written plainly (``-12``: no sign but a leading minus,
  no leading zeros, exponent, point, separators or spaces; zero unsigned) and
  in range;
* text to a number or decimal: written plainly (``-12.50``) and held exactly
  (a double holds about 15 to 17 significant digits; a decimal 28);
* text to a date: ``YYYY-MM-DD`` exactly; to a date-time: extended ISO 8601
  (``2024-01-05T10:00:00+09:00``), kept as the same instant in UTC;
* text to true or false: ``true`` or ``false``;
* text to a list: a list holding the text as its one item; to an object:
  the text is a JSON object (so object to text and back is exact);
* between integer, int64, number and decimal: the same value exactly;
* integer to true or false: 0 or 1; a date to a date-time: its midnight in
  UTC; a date-time to a date: only a midnight in UTC;
* every other pair is refused (a date never becomes a number).

Pure functions, no I/O: the registry's executor and the tests call them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from xrm.schemas import formats
from xrm.schemas.model import Property
from xrm.schemas.validate import compile_property

Normaliser = Callable[[Any], Any]

NUMERIC_STORAGE = frozenset({"integer", "bigint", "float", "decimal"})
_PLAIN_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_PLAIN_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_PLAIN_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
_PLAINLY = {
    "integer": "an integer is written plainly: digits with an optional leading minus, "
    "no leading zeros, point, exponent, separators or spaces",
    "number": "a number is written plainly: digits with an optional leading minus and one "
    "decimal point, no leading zeros, exponent, separators or spaces",
}
_WORDS = {
    "integer": "an integer",
    "int64": "a 64-bit integer",
    "number": "a number (a double)",
    "decimal": "a decimal",
}


def spell(value: Any, storage: str) -> str:
    """The one text spelling of a stored value of ``storage``: what it becomes as text.

    Lists and objects are compact JSON (``["a","b"]``, never Python's
    ``['a', 'b']``); a double is its shortest exact spelling (``repr``), so
    reading the text back gives the same double.
    """
    if storage == "json":
        return formats.json_bytes(value).decode()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return formats.decimal_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def exact_number(value: Any) -> Decimal:
    """The exact value a stored number means: a double as its shortest spelling says."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def _shown(value: Any) -> str:
    """A value for a message, cut short: stored text may be long."""
    shown = formats.decimal_text(value) if isinstance(value, Decimal) else repr(value)
    return shown if len(shown) <= 60 else shown[:40] + "..." + shown[-10:]


def _changes(value: Any, result: Any, kind: str) -> ValueError:
    return ValueError(
        f"{_shown(value)} would become {_shown(result)}: "
        f"{_WORDS.get(kind, 'a ' + kind)} cannot hold it exactly"
    )


def converter(old: Property | None, new: Property, phone_region: str) -> Normaliser:
    """How a stored value of ``old`` becomes one of ``new``, exactly or not at all.

    Same storage (a change of rules, or of kind inside text, like text to
    e-mail): the new normaliser alone, which may rewrite a value into its
    normal form (an address lowercased), as every write does.
    """
    normalise = compile_property(new, phone_region)
    if old is None or old.storage == new.storage:
        return normalise
    source, target = old.storage, new.storage
    if target == "text":
        return _to_text(normalise, source)
    if source == "text":
        return _from_text(normalise, new)
    if source in NUMERIC_STORAGE and target in NUMERIC_STORAGE:
        return _between_numbers(normalise, new.kind)
    if source in ("integer", "bigint") and target == "boolean":
        return normalise  # only 0 and 1 are true or false; anything else is refused there
    if source == "date" and target == "datetime":
        return lambda v: normalise(v.isoformat())
    if source == "datetime" and target == "date":
        return _datetime_to_date(normalise)
    refusal = f"a stored {old.kind} value cannot become {_WORDS.get(new.kind, 'a ' + new.kind)}"

    def refuse(value: Any) -> Any:
        raise ValueError(refusal)

    return refuse


def _to_text(normalise: Normaliser, source: str) -> Normaliser:
    def to_text(value: Any) -> Any:
        spelled = spell(value, source)
        result = normalise(spelled)
        if result != spelled:
            raise ValueError(f"{_shown(spelled)} would be stored as {_shown(result)}")
        return result

    return to_text


def _from_text(normalise: Normaliser, new: Property) -> Normaliser:
    target = new.storage
    if target in NUMERIC_STORAGE:
        integral = target in ("integer", "bigint")
        pattern = _PLAIN_INTEGER if integral else _PLAIN_NUMBER
        plainly = _PLAINLY["integer" if integral else "number"]

        def to_number(value: Any) -> Any:
            raw = str(value).strip()
            if not pattern.fullmatch(raw):
                raise ValueError(f"{_shown(raw)} is not written plainly ({plainly})")
            if raw.startswith("-") and Decimal(raw).is_zero():
                raise ValueError(f"{raw!r} is not written plainly (zero has no sign)")
            result = normalise(raw)
            if exact_number(result) != Decimal(raw):
                raise _changes(raw, result, new.kind)
            return result

        return to_number
    if target == "date":

        def to_date(value: Any) -> Any:
            raw = str(value).strip()
            result = normalise(raw)
            if result.isoformat() != raw:
                raise ValueError(f"{raw!r} is not a date written as YYYY-MM-DD")
            return result

        return to_date
    if target == "datetime":

        def to_datetime(value: Any) -> Any:
            raw = str(value).strip()
            if not _PLAIN_DATETIME.fullmatch(raw):
                raise ValueError(
                    f"{raw!r} is not a date-time written as YYYY-MM-DDTHH:MM:SS with an offset"
                )
            return normalise(raw)

        return to_datetime
    if target == "boolean":

        def to_boolean(value: Any) -> Any:
            raw = str(value).strip()
            if raw not in ("true", "false"):
                raise ValueError(f"{raw!r} is neither 'true' nor 'false'")
            return normalise(raw)

        return to_boolean
    if new.kind == "array":
        return lambda v: normalise([v])
    if new.kind == "object":

        def to_object(value: Any) -> Any:
            try:
                parsed = json.loads(value)
            except ValueError:
                raise ValueError(f"{_shown(value)} is not a JSON object") from None
            return normalise(parsed)

        return to_object

    def refuse(value: Any) -> Any:
        raise ValueError(f"text cannot become {_WORDS.get(new.kind, 'a ' + new.kind)}")

    return refuse


def _between_numbers(normalise: Normaliser, kind: str) -> Normaliser:
    def convert(value: Any) -> Any:
        result = normalise(value)
        if exact_number(result) != exact_number(value):
            raise _changes(value, result, kind)
        return result

    return convert


def _datetime_to_date(normalise: Normaliser) -> Normaliser:
    def convert(value: dt.datetime) -> Any:
        utc = value.astimezone(dt.UTC) if value.tzinfo else value
        if utc.time() != dt.time(0):
            raise ValueError(
                f"{utc.isoformat()!r} has a time of day: only a midnight (UTC) becomes a date"
            )
        return normalise(utc.date())

    return convert
