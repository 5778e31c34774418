"""A record's audit trail as sentences: who changed which field from what to what, and when.

The audit log stores raw ``[old, new]`` pairs keyed by property name
(``{"tier": ["standard", "gold"]}``); the detail page says "Tier: Standard →
Gold" in the page's language, with references by name and enum values by
label, newest first. Fields the reader may not see are already left out by
the record service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xrm.admin_ui.record_fields import field_label, shown_value, when
from xrm.schemas.model import EntityType

Gettext = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One audit entry as the detail page lists it."""

    at: str
    who: str
    channel: str
    action: str
    changes: tuple[str, ...]
    version: int | None = None  # the record's version after this entry (creates and updates)


def referenced_ids(et: EntityType, history: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Ids of referenced records named in ``history``, by entity type (to read their names)."""
    wanted: dict[str, set[str]] = {}
    for entry in history:
        for name, pair in (entry.get("changes") or {}).items():
            prop = et.properties.get(name)
            if prop is None or prop.ref is None or not isinstance(pair, Sequence):
                continue
            for value in pair:
                if isinstance(value, str):
                    wanted.setdefault(prop.ref.entity, set()).add(value)
    return wanted


def history_lines(
    et: EntityType,
    history: Sequence[Mapping[str, Any]],
    lang: str,
    _: Gettext,
    names: Mapping[str, str],
) -> list[HistoryLine]:
    """The entries newest first; ``names`` maps referenced ids to record names."""
    channels = {
        "admin": _("admin screens"),
        "api": _("API"),
        "import": _("import"),
        "workflow": _("workflow"),
        "plugin": _("plugin"),
        "cli": _("command line"),
        "system": _("system"),
    }
    actions = {
        "create": _("created"),
        "update": _("changed"),
        "restore": _("restored"),
        "erase": _("erased personal data"),
        "merge": _("merged"),
    }
    lines = []
    for entry in reversed(history):
        changes = entry.get("changes") or {}
        said = []
        if isinstance(changes, Mapping) and entry["action"] in ("create", "update", "restore"):
            for name, pair in changes.items():
                said.append(_change(et, str(name), pair, entry["action"], lang, _, names))
        if entry["action"] == "merge" and isinstance(changes, Mapping):
            source = changes.get("mergedFrom") or {}
            name = source.get("name") if isinstance(source, Mapping) else None
            said.append(_("merged from %(name)s") % {"name": name or _("a deleted record")})
        who = entry.get("actor")
        lines.append(
            HistoryLine(
                at=when(entry["at"]) + " UTC",
                who=_("system") if who in (None, "system") else str(who),
                channel=channels.get(entry.get("channel") or "", entry.get("channel") or ""),
                action=actions.get(entry["action"], entry["action"]),
                changes=tuple(said),
                version=entry.get("version"),
            )
        )
    return lines


def _change(
    et: EntityType,
    name: str,
    pair: Any,
    action: str,
    lang: str,
    _: Gettext,
    names: Mapping[str, str],
) -> str:
    old, new = pair if isinstance(pair, Sequence) and len(pair) == 2 else (None, pair)
    prop = et.properties.get(name)
    if prop is None:  # the owner, or a field retired since
        label = _("Owner") if name == "owner" else name
        return _("%(field)s changed") % {"field": label}
    label = field_label(prop, lang)
    now = shown_value(prop, new, lang, _, names)
    if action == "create" or old is None:
        return _("%(field)s: %(new)s") % {"field": label, "new": now}
    before = shown_value(prop, old, lang, _, names)
    return _("%(field)s: %(old)s → %(new)s") % {"field": label, "old": before, "new": now}
