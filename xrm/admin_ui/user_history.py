"""Saying users, roles and their audit trail in words a business admin reads.

The identity service stores role names (``sales_rep``), locale tags
(``en-GB``) and audit rows of ``[old, new]`` pairs; the user screens show
role labels, language names and sentences in the page's language instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from xrm.entities.registry import Registry
from xrm.schemas.roles import BUILTIN_ROLES

Gettext = Callable[[str], str]


def role_labels(registry: Registry, lang: str) -> Callable[[str], str]:
    """A role's name as people read it: its label in ``lang``, else its title, else its name."""
    defined = registry.current().roles

    def label(name: str) -> str:
        role = BUILTIN_ROLES.get(name) or defined.get(name)
        if role is None:
            return name
        labels = role.definition.get("label") or {}
        return str(labels.get(lang) or labels.get("en") or role.definition.get("title") or name)

    return label


def language_name(tag: str | None, lang: str) -> str:
    """A locale tag in words, in the page's language (``en-GB`` -> "영어(영국)")."""
    if not tag:
        return ""
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(tag.replace("-", "_")).get_display_name(lang) or tag
    except (ValueError, TypeError, UnknownLocaleError):
        return tag


def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value or "")


def _change(
    field: str,
    pair: Any,
    _: Gettext,
    role_label: Callable[[str], str],
    lang: str,
) -> str:
    """One changed field as a sentence."""
    old, new = pair if isinstance(pair, Sequence) and len(pair) == 2 else (None, pair)
    if field == "password":
        return _("password set") if old is None else _("password changed")
    if field == "sessions":
        return _("%(n)s open sessions ended") % {"n": old}
    if field == "active":
        return _("activated") if new else _("deactivated")
    if field == "roles":
        names = ", ".join(role_label(str(r)) for r in new or [])
        return _("roles: %(roles)s") % {"roles": names}
    if field == "locale":
        said = language_name(new, lang) if new else _("the browser's language")
        return _("language: %(language)s") % {"language": said}
    if field == "name":
        return _("name: %(name)s") % {"name": new or "—"}
    if field == "email":
        return _("e-mail: %(email)s") % {"email": new}
    return f"{field}: {new}"


def history_lines(
    history: Sequence[Mapping[str, Any]],
    _: Gettext,
    role_label: Callable[[str], str],
    lang: str,
) -> list[dict[str, Any]]:
    """The audit rows about a user, newest first, as the account page lists them."""
    channels = {
        "admin": _("admin screens"),
        "cli": _("command line"),
        "api": _("API"),
        "system": _("system"),
    }
    actions = {"create": _("created"), "update": _("changed")}
    lines = []
    for row in reversed(history):
        changes = dict(row.get("changes") or {})
        if row["action"] == "create":
            changes.pop("active", None)  # every new user starts active: nothing to say
        who = row["actor_email"]
        lines.append(
            {
                "at": _when(row["at"]),
                "who": _("system") if who in (None, "system") else who,
                "channel": channels.get(row["channel"], row["channel"]),
                "action": actions.get(row["action"], row["action"]),
                "changes": [
                    _change(str(field), pair, _, role_label, lang)
                    for field, pair in changes.items()
                ],
            }
        )
    return lines
