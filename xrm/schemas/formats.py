"""Offline, syntactic normalisers for the string formats of CONTRACT §3.

Each takes a raw input value and returns the stored value, or raises
``ValueError`` with a message meant for a person. No DNS, no network: an
address is checked for shape, never for deliverability.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import orjson
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import ValidationResult

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")


NUL = "\x00"
NUL_MESSAGE = "must not contain NUL characters (\\u0000)"


def text(value: Any) -> str:
    """Text as stored: trimmed. NUL is refused: PostgreSQL cannot store it in text or JSON,
    and SQLite would keep it and then match it everywhere, so neither may see one."""
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    if NUL in value:
        raise ValueError(NUL_MESSAGE)
    return value.strip()


# A plain ASCII dot-atom local part (RFC 5322 §3.2.3): valid as written, nothing to normalise.
_PLAIN_LOCAL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$"
)
_MAX_LOCAL = 64
_MAX_ADDRESS = 254


def email(value: Any) -> str:
    """An address checked and normalised by email-validator, lowercased.

    Checking the domain (IDNA, UTS #46) is nearly all of the cost, and an
    import repeats a handful of domains thousands of times; so an address
    whose local part is plain ASCII reuses its domain's cached verdict. Any
    other address gets the whole check, and both routes give the same answer.
    """
    raw = text(value)
    local, at, domain = raw.rpartition("@")
    if at and len(local) <= _MAX_LOCAL and _PLAIN_LOCAL.match(local):
        normalized = _email_domain(domain)
        if normalized is not None and normalized.isascii():
            address = f"{local}@{normalized}".lower()
            if len(address.encode()) <= _MAX_ADDRESS:
                return address
    return _full_email(raw)


def _full_email(raw: str) -> str:
    try:
        checked = validate_email(raw, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(f"{raw!r} is not an e-mail address: {exc}") from None
    return checked.normalized.lower()


@lru_cache(maxsize=4096)
def _email_domain(domain: str) -> str | None:
    """The normalised form of ``domain`` in an address, or None when it is not valid."""
    try:
        checked = validate_email(f"x@{domain}", check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return None
    return checked.domain


def phone(value: Any, region: str = "KR") -> str:
    return _phone(text(value), region)


@lru_cache(maxsize=4096)
def _phone(raw: str, region: str) -> str:
    """E.164 of ``raw``; cached, since parsing is the dearest step of normalising a row and
    an import meets each number twice (its duplicate check, then its write)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{raw!r} is not a phone number") from None
    # A number possible only locally ("123-4567" without its area code) has no E.164 form.
    if phonenumbers.is_possible_number_with_reason(number) != ValidationResult.IS_POSSIBLE:
        raise ValueError(f"{raw!r} is not a possible phone number")
    # Possible is only a matter of length ("12345" would become +8212345); valid means the
    # number lies in a range its region actually allocates (CONTRACT §3).
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def uri(value: Any) -> str:
    raw = text(value)
    parts = urlsplit(raw)
    if not parts.scheme or not _SCHEME.match(parts.scheme) or not (parts.netloc or parts.path):
        raise ValueError(f"{raw!r} is not an absolute URI (like https://example.com/)")
    if any(c.isspace() for c in raw):
        raise ValueError(f"{raw!r} contains spaces")
    return raw


def uuid_text(value: Any) -> str:
    raw = text(value) if not isinstance(value, uuid.UUID) else str(value)
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ValueError(f"{raw!r} is not a UUID") from None


def date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raw = text(value)
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a date (YYYY-MM-DD)") from None


def datetime(value: Any) -> dt.datetime:
    """An aware datetime in UTC; a value without an offset is taken as UTC.

    Python holds the years 1 to 9999: ``0001-01-01T00:00:00+14:00`` is a valid
    ISO 8601 instant whose UTC time falls before year 1, so it is refused
    here, as a value error, rather than overflowing later.
    """
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        raw = text(value)
        try:
            parsed = dt.datetime.fromisoformat(raw.replace("z", "Z"))
        except ValueError:
            raise ValueError(f"{raw!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(
            f"{parsed.isoformat()!r} is outside the date-times that can be stored: "
            "in UTC it must fall within the years 1 to 9999"
        ) from None


DECIMAL_DIGITS = 28  # CONTRACT §3: what a decimal holds, written out plainly


def decimal(value: Any) -> Decimal:
    """An exact decimal of at most ``DECIMAL_DIGITS`` digits, as written (``1.50`` stays so).

    The digits are those of the plain notation without leading zeros, as SQL's
    ``NUMERIC(28, s)`` counts them: ``12345678901234567890.12345678`` is the
    most, ``0.0000000001`` has ten, ``1E+30`` has 31 and is refused. So every
    stored decimal has a short plain spelling, fits PostgreSQL's NUMERIC and
    Python's default context, and its aggregates stay exact. The value comes
    back in plain notation (``1E+2`` is kept as ``100``), and ``-0`` as ``0``.
    """
    if isinstance(value, bool):
        raise ValueError("expected a decimal number, got a boolean")
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        if NUL in value:
            raise ValueError(NUL_MESSAGE)
        value = (
            value.strip().replace(",", "") if re.fullmatch(r"[\s\d,.+-]+", value) else value.strip()
        )
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{_shown(value)} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{_shown(value)} is not a finite number")
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    if number.is_zero():
        # No digits before the point; PostgreSQL keeps no sign, so neither does SQLite.
        if -exponent > DECIMAL_DIGITS:  # 0E-29 spells 29 decimal places
            raise _too_many_digits(value)
        return Decimal((0, (0,), min(exponent, 0)))
    whole = max(len(digits) + exponent, 0)
    fraction = max(-exponent, 0)
    if whole + fraction > DECIMAL_DIGITS:
        raise _too_many_digits(value)
    # Digits as written (1.50 keeps its zero); a positive exponent written out (1E+2: 100).
    return Decimal((int(number.is_signed()), digits + (0,) * max(exponent, 0), min(exponent, 0)))


def _too_many_digits(value: Any) -> ValueError:
    return ValueError(
        f"{_shown(value)} has too many digits: a decimal holds at most {DECIMAL_DIGITS} "
        "(like 12345678901234567890.12345678)"
    )


def _shown(value: Any) -> str:
    """A value for a message: its repr, cut short (a hostile one may be megabytes long)."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:40] + "..." + shown[-10:]


def decimal_text(value: Decimal) -> str:
    """A decimal in plain notation, exactly (``0.0000000001``, never ``1E-10``).

    ``str(Decimal)`` switches to exponent notation below 1E-6; stored
    decimals are short (``decimal`` above), so writing them out is cheap.
    """
    return format(value, "f")


def integer(value: Any, bits: int = 32) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, (str, Decimal)):
        try:
            d = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not an integer") from None
        if not d.is_finite() or d != d.to_integral_value():
            raise ValueError(f"{value!r} is not an integer")
        number = int(d)
    else:
        raise ValueError(f"{value!r} is not an integer")
    limit = 1 << (bits - 1)
    if not -limit <= number < limit:
        raise ValueError(f"{number} does not fit in {bits} bits")
    return number


def number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    try:
        result = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} is not a finite number")
    return result


_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{value!r} is not true or false")


JSON_DEPTH = 64  # nesting that a JSON property may hold


def json_data(value: Any) -> Any:
    """A free JSON value (an object property's), checked so that both databases store it.

    PostgreSQL's JSON refuses ``\\u0000`` and NaN or Infinity (which Python's
    own JSON parser lets through), and a value nested thousands deep would
    overflow the encoder's stack; each is refused as a value error instead.
    Walked without recursion, so depth itself cannot overflow the check.
    """
    pending: list[tuple[Any, int, str]] = [(value, 1, "")]
    while pending:
        item, depth, where = pending.pop()
        if isinstance(item, (dict, list)) and depth > JSON_DEPTH:
            raise ValueError(f"nested more than {JSON_DEPTH} levels deep")
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    raise ValueError(f"{where or 'object'}: keys are text")
                if NUL in key:
                    raise ValueError(f"{where or 'a key'}: {NUL_MESSAGE}")
                pending.append((inner, depth + 1, f"{where}.{key}" if where else key))
        elif isinstance(item, list):
            pending.extend((inner, depth + 1, f"{where}[{i}]") for i, inner in enumerate(item))
        elif isinstance(item, str):
            if NUL in item:
                raise ValueError(f"{where or 'text'}: {NUL_MESSAGE}")
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise ValueError(f"{where or 'value'}: JSON holds finite numbers only")
        elif item is not None and not isinstance(item, (bool, int)):
            raise ValueError(f"{where or 'value'}: {type(item).__name__} is not a JSON value")
    return value


def json_bytes(value: Any) -> bytes:
    """``value`` as compact JSON: orjson, or the standard library for integers past 64 bits.

    A JSON property may hold any integer a client sent; orjson refuses those
    beyond 64 bits, and they must neither fail the response nor lose digits.
    """
    try:
        return orjson.dumps(value, default=json_value)
    except TypeError:
        return json.dumps(
            value, default=json_value, ensure_ascii=False, separators=(",", ":")
        ).encode()


def json_value(value: Any) -> Any:
    """A stored value in its JSON form (dates ISO 8601, decimals as exact strings).

    The one spelling used wherever values leave the database as JSON: audit
    changes, cursors, aggregate group keys.
    """
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return decimal_text(value)
    return value
