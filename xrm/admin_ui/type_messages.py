"""Why a definition is refused, said to the business admin using the type designer.

The schema layer names definition faults for developers (``'Vendor!' is not
a lower snake_case ASCII identifier``); the designer shows them next to the
form's inputs, so the shapes a form can produce are re-said here through
gettext. Anything else falls back to ``messages.explain`` (translated lead,
original detail, marked untranslated for the tests).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from xrm.admin_ui.messages import Shown, say
from xrm.errors import Fault

Gettext = Callable[[str], str]
Rule = tuple[re.Pattern[str], Callable[[Gettext, dict[str, str]], str]]


def _rules() -> list[Rule]:
    def rule(pattern: str, speak: Callable[[Gettext, dict[str, str]], str]) -> Rule:
        return re.compile(pattern, re.S), speak

    return [
        rule(
            r"^(bad [a-z ]*name: )?(?P<value>'.*') is not a lower snake_case ASCII identifier.*$",
            lambda _, m: (
                _(
                    "%(value)s is not a valid name: use lower-case letters, digits and single "
                    "underscores, starting with a letter."
                )
                % m
            ),
        ),
        rule(
            r"^(bad [a-z ]*name: )?(?P<value>'.*') is longer than (?P<n>\d+) characters$",
            lambda _, m: _("%(value)s is longer than %(n)s characters.") % m,
        ),
        rule(
            r"^(?P<value>'.*') is (a reserved (property|type) name|reserved .*)$",
            lambda _, m: _("%(value)s is reserved by the system: choose another name.") % m,
        ),
        rule(
            r"^(?P<value>'.*') is already used by type (?P<owner>'.*')$",
            lambda _, m: _("%(value)s is already used by the type %(owner)s.") % m,
        ),
        rule(
            r"^plural must differ from name$",
            lambda _, m: _("The plural name must differ from the name."),
        ),
        rule(
            r"^(minimum|minLength|minItems) is greater than .*$",
            lambda _, m: _("The lower limit is greater than the upper limit."),
        ),
        rule(
            r"^no entity type named (?P<value>'.*')$",
            lambda _, m: _("There is no type named %(value)s.") % m,
        ),
        rule(
            r"^display names (?P<value>'.*'), which is not a property$",
            lambda _, m: _("%(value)s is not a field of this type.") % m,
        ),
        rule(
            r"^(?P<value>'.*') is not an enum value$",
            lambda _, m: _("%(value)s is not one of the values.") % m,
        ),
        rule(
            r"^its column .* is still held by the retired property (?P<value>'[^']*').*$",
            lambda _, m: (
                _(
                    "The retired field %(value)s still holds this name with its data: restore it, "
                    "or choose another name."
                )
                % m
            ),
        ),
    ]


RULES = _rules()


def shown(fault: Fault, _: Gettext) -> Shown:
    """One definition fault in the page's language, at its JSON path."""
    for pattern, speak in RULES:
        found = pattern.match(fault.message)
        if found:
            return Shown(fault.field, speak(_, {k: v for k, v in found.groupdict().items() if v}))
    said = say(fault.message, _)
    if said is not None:
        return Shown(fault.field, said)
    text = _("This is not accepted: %(detail)s") % {"detail": fault.message}
    return Shown(fault.field, text, False)
