"""Plugin field formats made safe to call on every write.

A plugin's :class:`~xrm.plugins.spec.FieldFormat` functions are someone
else's code running inside the record service's validation. Whatever they
do, a write either stores the plugin's normal form or is refused with a
``ValueError`` whose words are fit for a user: a plugin's own refusal (its
``problem`` text) is shown after the value; an exception, or an answer that
is not text, refuses the value with a generic message naming the format,
and the details go to the log only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Mapping

from xrm.plugins.spec import FieldFormat
from xrm.schemas import formats as builtin
from xrm.schemas.model import PluginFormat
from xrm.schemas.plugin_formats import PluginFormats, plugin_of

log = logging.getLogger("xrm.plugins")

MAX_PROBLEM = 200  # characters of a plugin's refusal shown to the user


def failed_message(name: str) -> str:
    """What the user reads when a plugin's format function broke (translated by the UI)."""
    return f"could not be checked: format {name!r} failed on this value; nothing was stored"


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:40] + "..." + text[-10:]


def wrap(plugin: str, spec: FieldFormat) -> PluginFormat:
    """The plugin's format as validators call it: text in, normal text out, or ValueError."""
    name = f"{plugin}.{spec.name}"
    problem_of, normalize = spec.problem, spec.normalize

    def broken(why: str) -> ValueError:
        log.error("plugin %s: format %s %s", plugin, name, why)
        return ValueError(failed_message(name))

    def normalise(value: str) -> str:
        try:
            problem = problem_of(value)
            result = normalize(value) if problem is None else None
        except Exception:
            log.exception("plugin %s: format %s raised on a value", plugin, name)
            raise ValueError(failed_message(name)) from None
        if problem is not None:
            if not isinstance(problem, str) or not problem.strip():
                raise broken(f"answered {type(problem).__name__} instead of a problem text")
            said = " ".join(problem.split())[:MAX_PROBLEM]
            raise ValueError(f"{_shown(value)} is refused by format {name}: {said}")
        if not isinstance(result, str):
            raise broken(f"normalised a value into {type(result).__name__}, not text")
        try:
            clean = builtin.text(result)
        except ValueError:
            raise broken("normalised a value into text with NUL characters") from None
        if not clean:
            raise broken("normalised a value into empty text")
        return clean

    label = spec.label if isinstance(spec.label, Mapping) else {"en": spec.label or spec.name}
    return PluginFormat(name, plugin, normalise, dict(label), translations=spec.translations)


_REFUSED = re.compile(r"^(?P<value>.+) is refused by format (?P<name>\S+): (?P<detail>.*)$", re.S)


def in_language(message: str, fmt: PluginFormat, lang: str) -> str:
    """A refusal by ``fmt`` with the plugin's own words in ``lang`` when it gave them (the
    admin UI then translates the rest); any other message as it is."""
    found = _REFUSED.match(message)
    if found is None or found["name"] != fmt.name:
        return message
    said = (fmt.translations.get(found["detail"]) or {}).get(lang)
    if not said:
        return message
    return f"{found['value']} is refused by format {fmt.name}: {said}"


def collect(
    by_plugin: Mapping[str, list[FieldFormat]],
    disabled: Collection[str],
    problems: Callable[[str], None],
) -> PluginFormats:
    """Every enabled plugin's formats; a malformed name is left out and reported."""
    found: list[PluginFormat] = []
    for plugin, specs in by_plugin.items():
        for spec in specs:
            wrapped = wrap(plugin, spec)
            if plugin_of(wrapped.name) != plugin:
                problems(
                    f"{plugin}: format {spec.name!r} left out: a format name is lower "
                    "snake_case ASCII of at most 40 characters"
                )
                continue
            found.append(wrapped)
    return PluginFormats(found, disabled)
