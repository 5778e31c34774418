"""What rule code can reach inside a worker: builtins, guards, attribute allow-lists, modules.

The compiled code (``xrm.schemas.rule_code``) calls ``_getattr_``,
``_getitem_``, ``_getiter_``, ``_write_``, ``_pow_``... for every attribute
read, subscript, loop, write and power; this module is those functions and the
names a run starts with. It is an allow-list from top to bottom:

- attributes: per type, the public methods and fields a rule needs
  (``str.upper``, ``dict.get``, ``date.year``...); nothing starting with
  ``_``, no ``format``/``format_map`` (they walk attributes inside CPython),
  no frames, code objects or generator internals, and on exceptions only
  ``args`` (``AttributeError.obj`` once handed out a real module);
- writes: items of dicts and lists only; never an attribute of anything, so
  no rule can patch a function, class or module for the next one;
- modules: never the real module (``re.enum.sys``, ``datetime.sys`` and
  ``json.codecs.builtins`` are doors), but a frozen :class:`ModuleView`
  holding the functions and classes named in ``rule_code.MODULES``;
- builtins that iterate in C (``sorted``, ``tuple``, ``zip``,
  ``reversed``, ``list``...) take their input through the iteration guard;
  ``range`` is capped, ``**`` refuses results of absurd size, and ``iter``
  has no two-argument (endless) form.

Limits on time and memory are not here: the worker process enforces them.
"""

from __future__ import annotations

import builtins
import datetime as dt
import decimal
import json
import math
import operator
import re
import statistics
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from xrm.schemas.rule_code import BUILTIN_NAMES, MODULES

MAX_RANGE = 1_000_000  # items in one range()
MAX_POW_BITS = 1_000_000  # about 300,000 decimal digits
_MISSING: Any = object()


class RecordError(Exception):
    """A ``get``/``find``/``create``... call the host refused; ``code`` is its error code."""

    def __init__(self, message: str, code: str = "ERROR") -> None:
        super().__init__(message)
        self.code = code


class ModuleView:
    """The face of an allowed module: its chosen exports, read-only, and nothing else."""

    __slots__ = ("_exports", "_name")

    def __init__(self, name: str, exports: dict[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_exports", exports)

    def __getattr__(self, name: str) -> Any:  # also serves ``from math import sqrt``
        try:
            return self._exports[name]
        except KeyError:
            raise AttributeError(f"{self._name}.{name} is not available in rules") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"the {self._name} module cannot be changed in rules")

    def __delattr__(self, name: str) -> None:
        raise TypeError(f"the {self._name} module cannot be changed in rules")

    def __repr__(self) -> str:
        return f"<module {self._name!r}>"


def _json_dumps(
    obj: Any,
    *,
    indent: int | str | None = None,
    sort_keys: bool = False,
    ensure_ascii: bool = True,
    separators: tuple[str, str] | None = None,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """``json.dumps`` without ``cls`` and the other hooks into the encoder's machinery."""
    return json.dumps(
        obj,
        indent=indent,
        sort_keys=sort_keys,
        ensure_ascii=ensure_ascii,
        separators=separators,
        default=default,
    )


def _json_loads(text: str | bytes) -> Any:
    """``json.loads`` without ``cls`` and object hooks."""
    return json.loads(text)


_REAL_MODULES = {
    "math": math,
    "re": re,
    "datetime": dt,
    "decimal": decimal,
    "json": json,
    "statistics": statistics,
}
_OVERRIDES = {("json", "dumps"): _json_dumps, ("json", "loads"): _json_loads}
EXPORTS: dict[str, dict[str, Any]] = {
    module: {
        name: _OVERRIDES.get((module, name)) or getattr(_REAL_MODULES[module], name)
        for name in names
    }
    for module, names in MODULES.items()
}


def guarded_import(
    name: str,
    globals: Any = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
) -> ModuleView:
    """``import`` in rule code: a fresh view of an allowed module, or ImportError."""
    if level != 0 or name not in EXPORTS:
        raise ImportError(
            f"module {name!r} is not available in rules (rules may import: {', '.join(MODULES)})"
        )
    return ModuleView(name, EXPORTS[name])


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STR = _names(
    """capitalize casefold center count encode endswith expandtabs find index isalnum isalpha
    isascii isdecimal isdigit isidentifier islower isnumeric isprintable isspace istitle isupper
    join ljust lower lstrip partition removeprefix removesuffix replace rfind rindex rjust
    rpartition rsplit rstrip split splitlines startswith strip swapcase title translate upper
    zfill"""
)
_DATE = _names(
    "year month day weekday isoweekday isoformat isocalendar replace strftime toordinal ctime"
)
_TIME = _names("hour minute second microsecond tzinfo fold utcoffset tzname")
# Instance attributes, found along the type's MRO (bool finds int, KeyError BaseException).
INSTANCE_ATTRIBUTES: dict[type, frozenset[str]] = {
    str: _STR,
    bytes: _names("decode hex count endswith startswith find index"),
    dict: _names("get keys values items copy update pop popitem setdefault clear"),
    list: _names("append extend insert remove pop clear index count sort reverse copy"),
    tuple: _names("index count"),
    set: _names(
        """add discard remove pop clear copy union intersection difference symmetric_difference
        issubset issuperset isdisjoint update intersection_update difference_update"""
    ),
    frozenset: _names(
        "copy union intersection difference symmetric_difference issubset issuperset isdisjoint"
    ),
    range: _names("start stop step index count"),
    int: _names("bit_length bit_count numerator denominator real imag as_integer_ratio"),
    float: _names("is_integer as_integer_ratio real imag hex"),
    decimal.Decimal: _names(
        """adjusted as_integer_ratio compare copy_abs copy_negate copy_sign exp fma is_finite
        is_infinite is_nan is_signed is_zero ln log10 max min normalize quantize remainder_near
        scaleb sqrt to_eng_string to_integral to_integral_value"""
    ),
    dt.datetime: _DATE | _TIME | _names("date time timetz timestamp astimezone dst"),
    dt.date: _DATE,
    dt.time: _TIME | _names("isoformat replace strftime dst"),
    dt.timedelta: _names("days seconds microseconds total_seconds"),
    dt.timezone: _names("utcoffset tzname dst"),
    re.Pattern: _names(
        "match search fullmatch findall finditer sub subn split pattern flags groups"
    ),
    re.Match: _names("group groups groupdict start end span string lastindex lastgroup expand"),
    RecordError: _names("args code"),
    BaseException: _names("args"),
}
# Attributes of the classes themselves (``datetime.date.today()``), by identity.
CLASS_ATTRIBUTES: dict[type, frozenset[str]] = {
    dict: _names("fromkeys"),
    decimal.Decimal: _names("from_float"),
    dt.date: _names("today fromisoformat fromordinal fromisocalendar min max resolution"),
    dt.datetime: _names(
        "now utcnow today fromisoformat strptime combine fromtimestamp fromordinal min max "
        "resolution"
    ),
    dt.time: _names("fromisoformat min max resolution"),
    dt.timedelta: _names("min max resolution"),
    dt.timezone: _names("utc min max"),
}
_resolved: dict[type, frozenset[str]] = {}


def _allowed(obj: Any) -> frozenset[str]:
    if isinstance(obj, type):
        return CLASS_ATTRIBUTES.get(obj, frozenset())
    kind = type(obj)
    found = _resolved.get(kind)
    if found is None:
        found = next(
            (INSTANCE_ATTRIBUTES[k] for k in kind.__mro__ if k in INSTANCE_ATTRIBUTES), frozenset()
        )
        _resolved[kind] = found
    return found


def _kind(obj: Any) -> str:
    if isinstance(obj, ModuleView):
        return repr(obj)
    if isinstance(obj, type):
        return f"class {obj.__name__}"
    return type(obj).__name__


def guarded_getattr(obj: Any, name: str, default: Any = _MISSING) -> Any:
    """``obj.name`` in rule code: only names on the allow-list of ``obj``'s type."""
    if type(name) is not str:
        raise TypeError("attribute names are strings")
    if type(obj) is ModuleView:
        if not name.startswith("_"):
            try:
                return obj.__getattr__(name)
            except AttributeError:
                if default is _MISSING:
                    raise
        if default is _MISSING:
            raise AttributeError(f"{obj!r} has no {name!r} available to rules")
        return default
    if name.startswith("_") or name in INSPECT_ATTRIBUTES or name not in _allowed(obj):
        if default is _MISSING:
            raise AttributeError(f"{_kind(obj)} has no attribute {name!r} available to rules")
        return default
    if default is _MISSING:
        return getattr(obj, name)
    return getattr(obj, name, default)


def guarded_getitem(obj: Any, key: Any) -> Any:
    """``obj[key]`` in rule code (types cannot be subscripted: no generic-alias objects)."""
    if isinstance(obj, type | ModuleView):
        raise TypeError(f"{_kind(obj)} cannot be subscripted in rules")
    return obj[key]


def guarded_iter(obj: Any) -> Iterator[Any]:
    """The iteration guard: every loop, comprehension and C-iterating builtin starts here."""
    if isinstance(obj, type | ModuleView):
        raise TypeError(f"{_kind(obj)} cannot be iterated in rules")
    return iter(obj)


def guarded_write(obj: Any) -> Any:
    """``obj[k] = v`` / ``obj.a = v`` in rule code: only items of dicts and lists change."""
    if type(obj) is dict or type(obj) is list:
        return obj
    raise TypeError(f"{_kind(obj)} cannot be changed in rules (only dicts and lists can)")


def guarded_pow(base: Any, exponent: Any, modulo: Any = None) -> Any:
    """``**`` and ``pow``: refuse integer powers whose result would be absurdly large."""
    if (
        modulo is None
        and type(base) in (int, bool)
        and type(exponent) in (int, bool)
        and exponent > 1
        and abs(base) > 1
        and base.bit_length() * exponent > MAX_POW_BITS
    ):
        raise OverflowError(
            f"{base} ** {exponent} would have more than {int(MAX_POW_BITS * 0.30103):,} digits"
        )
    return base**exponent if modulo is None else pow(base, exponent, modulo)


_INPLACE = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": guarded_pow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
    "@=": operator.imatmul,
}


def guarded_inplace(op: str, target: Any, value: Any) -> Any:
    """``x op= y`` in rule code."""
    return _INPLACE[op](target, value)


def guarded_apply(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``f(*args, **kwargs)`` in rule code."""
    return function(*args, **kwargs)


# ---- builtins that iterate in C take their input through the iteration guard ----


def _list(iterable: Iterable[Any] = ()) -> list[Any]:
    return list(guarded_iter(iterable))


def _tuple(iterable: Iterable[Any] = ()) -> tuple[Any, ...]:
    return tuple(guarded_iter(iterable))


def _set(iterable: Iterable[Any] = ()) -> set[Any]:
    return set(guarded_iter(iterable))


def _frozenset(iterable: Iterable[Any] = ()) -> frozenset[Any]:
    return frozenset(guarded_iter(iterable))


def _dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    if args and not isinstance(args[0], dict):
        args = (guarded_iter(args[0]), *args[1:])
    return dict(*args, **kwargs)


def _sorted(iterable: Iterable[Any], *, key: Any = None, reverse: bool = False) -> list[Any]:
    return sorted(guarded_iter(iterable), key=key, reverse=reverse)


def _reversed(sequence: Any) -> Iterator[Any]:
    if not isinstance(sequence, list | tuple | str | range):
        sequence = list(guarded_iter(sequence))
    return reversed(sequence)


def _zip(*iterables: Iterable[Any], strict: bool = False) -> Iterator[tuple[Any, ...]]:
    return zip(*(guarded_iter(i) for i in iterables), strict=strict)


def _enumerate(iterable: Iterable[Any], start: int = 0) -> Iterator[tuple[int, Any]]:
    return enumerate(guarded_iter(iterable), start)


def _map(function: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]:
    return map(function, *(guarded_iter(i) for i in iterables))


def _filter(function: Callable[[Any], Any] | None, iterable: Iterable[Any]) -> Iterator[Any]:
    return filter(function, guarded_iter(iterable))


def _one_or_many(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return (guarded_iter(args[0]),) if len(args) == 1 else args


def _min(*args: Any, **kwargs: Any) -> Any:
    return min(*_one_or_many(args), **kwargs)


def _max(*args: Any, **kwargs: Any) -> Any:
    return max(*_one_or_many(args), **kwargs)


def _sum(iterable: Iterable[Any], start: Any = 0) -> Any:
    return sum(guarded_iter(iterable), start)


def _any(iterable: Iterable[Any]) -> bool:
    return any(guarded_iter(iterable))


def _all(iterable: Iterable[Any]) -> bool:
    return all(guarded_iter(iterable))


def _iter(obj: Any) -> Iterator[Any]:
    return guarded_iter(obj)


def _range(*args: int) -> range:
    result = range(*args)
    try:
        size = len(result)
    except OverflowError:
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        raise ValueError(f"range() of more than {MAX_RANGE:,} numbers is not available in rules")
    return result


def _getattr(obj: Any, name: str, *default: Any) -> Any:
    return guarded_getattr(obj, name, *default)


def _hasattr(obj: Any, name: str) -> bool:
    return guarded_getattr(obj, name, _MISSING_ATTRIBUTE) is not _MISSING_ATTRIBUTE


_MISSING_ATTRIBUTE: Any = object()
# The wrappers stand in for types, so isinstance() maps them back.
_TYPE_OF: dict[Any, type] = {
    _list: list,
    _tuple: tuple,
    _set: set,
    _frozenset: frozenset,
    _dict: dict,
}


def _types(spec: Any) -> Any:
    if isinstance(spec, tuple):
        return tuple(_types(s) for s in spec)
    return _TYPE_OF.get(spec, spec)


def _isinstance(obj: Any, spec: Any) -> bool:
    return isinstance(obj, _types(spec))


def _issubclass(cls: Any, spec: Any) -> bool:
    return issubclass(_types(cls), _types(spec))


_WRAPPED: dict[str, Any] = {
    "all": _all,
    "any": _any,
    "dict": _dict,
    "enumerate": _enumerate,
    "filter": _filter,
    "frozenset": _frozenset,
    "getattr": _getattr,
    "hasattr": _hasattr,
    "isinstance": _isinstance,
    "issubclass": _issubclass,
    "iter": _iter,
    "list": _list,
    "map": _map,
    "max": _max,
    "min": _min,
    "pow": guarded_pow,
    "range": _range,
    "reversed": _reversed,
    "set": _set,
    "sorted": _sorted,
    "sum": _sum,
    "tuple": _tuple,
    "zip": _zip,
    "RecordError": RecordError,
}
BUILTINS: dict[str, Any] = {
    name: _WRAPPED[name] if name in _WRAPPED else getattr(builtins, name) for name in BUILTIN_NAMES
}
BUILTINS["__import__"] = guarded_import

# The guard names compiled rule code calls (RestrictedPython's protocol plus ``_pow_``).
GUARDS: dict[str, Any] = {
    "_getattr_": guarded_getattr,
    "_getitem_": guarded_getitem,
    "_getiter_": guarded_iter,
    "_write_": guarded_write,
    "_inplacevar_": guarded_inplace,
    "_apply_": guarded_apply,
    "_pow_": guarded_pow,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
}


def fresh_globals(names: dict[str, Any]) -> dict[str, Any]:
    """The globals of one run: new dicts every time, so nothing of a run reaches the next."""
    scope = dict(GUARDS)
    scope["__builtins__"] = dict(BUILTINS)
    scope["__name__"] = "rule"
    scope.update(names)
    return scope
