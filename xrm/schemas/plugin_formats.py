"""The string formats plugins add, as definitions and validators see them.

A definition names a plugin's format as ``"format": "<plugin>.<format>"``
(``sample.voucher``): the plugin's name is part of the spelling, so two
plugins never clash, and a type whose plugin was switched off still says
which plugin to switch back on. Parsing accepts any such spelling (a stored
definition must always load); whether a format exists is decided when a
definition is applied (:meth:`PluginFormats.problem`) and, for stored ones,
when a value is written: a field whose plugin is gone refuses new values
(:class:`~xrm.schemas.model.FormatUnavailable`) but keeps, shows and clears
what it holds.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterable, Iterator, Mapping

from xrm.schemas.model import EntityType, FormatUnavailable, PluginFormat, Property, Relationship

PLUGIN_FORMAT = re.compile(r"^([a-z][a-z0-9_]{0,39})\.([a-z][a-z0-9_]{0,39})$")


def plugin_of(name: str) -> str | None:
    """The plugin a format spelling names, or None for a built-in (or malformed) one."""
    match = PLUGIN_FORMAT.match(name)
    return match.group(1) if match else None


def unavailable_message(name: str, disabled: bool) -> str:
    """Why a field of format ``name`` takes no new value in this installation."""
    plugin = plugin_of(name) or name
    if disabled:
        return (
            f"format {name!r} comes from plugin {plugin!r}, which is disabled "
            "(XRM_PLUGINS_DISABLED); the stored value can be kept or cleared"
        )
    return (
        f"format {name!r} comes from plugin {plugin!r}, which is not installed; "
        "the stored value can be kept or cleared"
    )


def _refuse(message: str) -> PluginFormat:
    def refuse(value: str) -> str:
        raise FormatUnavailable(message)

    return PluginFormat("", "", refuse, available=False)


class PluginFormats:
    """The formats of the enabled plugins, and the names of the disabled plugins."""

    def __init__(
        self, formats: Iterable[PluginFormat] = (), disabled: Collection[str] = ()
    ) -> None:
        self._formats = {f.name: f for f in formats}
        self.disabled = frozenset(disabled)

    def __iter__(self) -> Iterator[PluginFormat]:
        return iter(self._formats.values())

    def __len__(self) -> int:
        return len(self._formats)

    def get(self, name: str) -> PluginFormat | None:
        return self._formats.get(name)

    def problem(self, name: str) -> str | None:
        """Why a definition may not start using format ``name`` now, or None."""
        if name in self._formats:
            return None
        plugin = plugin_of(name)
        if plugin is None:
            return None  # a built-in format: the parse decides
        if plugin in self.disabled:
            return f"format {name!r} comes from plugin {plugin!r}, which is disabled"
        known = ", ".join(sorted(self._formats)) or "none"
        return f"no enabled plugin provides format {name!r} (plugin formats: {known})"

    def _bound(self, name: str) -> PluginFormat:
        found = self._formats.get(name)
        if found is not None:
            return found
        plugin = plugin_of(name) or ""
        return dataclasses.replace(
            _refuse(unavailable_message(name, plugin in self.disabled)), name=name, plugin=plugin
        )

    def bind(self, properties: Mapping[str, Property]) -> dict[str, Property]:
        """``properties`` with each plugin format's functions attached (or a refusal)."""
        out: dict[str, Property] = {}
        for key, prop in properties.items():
            fmt = prop.schema.get("format")
            if prop.kind == "string" and isinstance(fmt, str) and plugin_of(fmt) is not None:
                prop = dataclasses.replace(prop, plugin_format=self._bound(fmt))
            out[key] = prop
        return out

    def bind_type(self, et: EntityType) -> EntityType:
        return dataclasses.replace(et, properties=self.bind(et.properties))

    def bind_relationship(self, rel: Relationship) -> Relationship:
        return dataclasses.replace(rel, properties=self.bind(rel.properties))
