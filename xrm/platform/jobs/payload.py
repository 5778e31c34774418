"""Checking what goes into a job before it is stored, so a bad value fails at its source.

A job's payload is stored as JSON and read back by a worker, perhaps in
another process, perhaps days later. A value that JSON cannot carry exactly
(a float NaN, a dictionary with non-text keys, a lone surrogate that
PostgreSQL refuses, a nesting deep enough to exhaust the recursion limit)
would otherwise fail inside the database driver with a message no caller can
act on, or come back changed. Refusing it here names the path and the fix.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

MAX_KIND = 80
MAX_KEY = 200
MAX_DEPTH = 64


def check_kind(kind: object) -> str:
    """The job kind, or a ``ValueError`` saying what is wrong with it."""
    if not isinstance(kind, str) or not kind.strip():
        raise ValueError(f"job kind must be a non-empty string, not {kind!r}")
    if len(kind) > MAX_KIND:
        raise ValueError(f"job kind is {len(kind)} characters long; at most {MAX_KIND} fit")
    _check_text(kind, "job kind")
    return kind


def check_key(key: object) -> str | None:
    """The idempotency key (None for none), or a ``ValueError`` naming the problem."""
    if key is None:
        return None
    if not isinstance(key, str) or not key:
        raise ValueError(f"job idempotency key must be a non-empty string or None, not {key!r}")
    if len(key) > MAX_KEY:
        raise ValueError(
            f"job idempotency key is {len(key)} characters long; at most {MAX_KEY} fit "
            "(hash a longer one)"
        )
    _check_text(key, "job idempotency key")
    return key


def check_payload(payload: Any) -> None:
    """Refuse a payload that would not come back from JSON storage exactly as given.

    Accepted: None, booleans, integers, finite floats, text, lists and tuples
    (read back as lists), and dictionaries with text keys, nested at most
    ``MAX_DEPTH`` deep.
    """
    _walk(payload, "payload", 0)


def _walk(value: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"job {path} is nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"job {path} is {value!r}; JSON holds only finite numbers")
        return
    if isinstance(value, str):
        _check_text(value, f"job {path}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"job {path} has the key {key!r}; JSON keys must be text")
            _check_text(key, f"job {path} key")
            _walk(item, f"{path}.{key}", depth + 1)
        return
    raise ValueError(
        f"job {path} is a {type(value).__name__}; use JSON values "
        "(None, bool, int, float, str, list, dict)"
    )


def _check_text(value: str, what: str) -> None:
    # Lone surrogates cannot be encoded as UTF-8, and PostgreSQL's JSON parser refuses their
    # escapes; NUL is refused by PostgreSQL text columns.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} holds a lone surrogate, which is not text") from None
    if "\x00" in value:
        raise ValueError(f"{what} holds a NUL character, which the database cannot store")


def canonical_id(value: object) -> str | None:
    """A job id in its stored spelling, or None when ``value`` cannot be one.

    PostgreSQL stores ids as ``uuid`` and refuses anything else with a
    database error; looking up a malformed id should simply find nothing.
    """
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
