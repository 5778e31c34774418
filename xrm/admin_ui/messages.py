"""Errors the admin UI shows, in the page's language.

The layers below speak English to developers (``no role named 'boss'``,
``'maybe' is not one of ['none', 'own', 'all']``); a business admin reading
the page in Korean must get Korean. Every message shape that the admin
screens can meet (users and tokens, the role editor, the type designer and
its relationships, the workflow builder, record forms) is recognised here by
its pattern and re-said through gettext, keeping the values the user typed:
one list, so a shape learnt for one screen is said the same on every other.
A message no pattern knows is still shown (translated lead, original detail)
but marked ``data-untranslated`` in the page, so the tests find it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from xrm.errors import Conflict, Fault, FaultsError, Forbidden, NotFound, XrmError

Gettext = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Shown:
    """One error as the page shows it: where (a field label or JSON path), what, and whether
    it was translated."""

    field: str
    text: str
    translated: bool = True


def _kinds(_: Gettext) -> dict[str, str]:
    return {
        "object": _("an object"),
        "array": _("a list"),
        "string": _("a text"),
        "integer": _("a whole number"),
        "number": _("a number"),
        "boolean": _("true or false"),
        "null": _("null"),
    }


Rule = tuple[re.Pattern[str], Callable[[Gettext, dict[str, str]], str]]


def rule(pattern: str, speak: Callable[[Gettext, dict[str, str]], str]) -> Rule:
    """A message shape (a regular expression naming the values it keeps) and how to say it."""
    return re.compile(pattern, re.S), speak


def said_by(rules: Iterable[Rule], message: str, _: Gettext) -> str | None:
    """``message`` said by the first of ``rules`` that knows its shape, or None."""
    for pattern, speak in rules:
        found = pattern.match(message)
        if found:
            return speak(_, {k: v for k, v in found.groupdict().items() if v is not None})
    return None


def _rules() -> list[Rule]:
    return [
        # Users and tokens (xrm.platform.accounts, xrm.platform.identity, formats.email).
        rule(
            r"^(?P<value>.*) is not an e-mail address(: .*)?$",
            lambda _, m: _("%(value)s is not an e-mail address.") % m,
        ),
        rule(r"^expected text, got .*$", lambda _, m: _("Enter text here.")),
        rule(
            r"^(?P<value>.*) is not a known locale .*$",
            lambda _, m: _("%(value)s is not a language xrm knows (for example ko or en-GB).") % m,
        ),
        rule(r"^a user holds at least one role$", lambda _, m: _("Choose at least one role.")),
        rule(
            r"^no role named (?P<value>.+?) \(roles: .*\)$",
            lambda _, m: _("There is no role named %(value)s.") % m,
        ),
        rule(
            r"^you would lose the right to manage users$",
            lambda _, m: _("You cannot take away your own right to manage users."),
        ),
        rule(r"^nobody deactivates themselves$", lambda _, m: _("You cannot deactivate yourself.")),
        rule(
            r"^a password needs at least (?P<n>\d+) characters$",
            lambda _, m: _("A password needs at least %(n)s characters.") % m,
        ),
        rule(
            r"^a password has at most (?P<n>\d+) characters$",
            lambda _, m: _("A password has at most %(n)s characters.") % m,
        ),
        rule(
            r"^a name may not contain NUL characters$",
            lambda _, m: _("A name may not contain NUL characters."),
        ),
        rule(
            r"^a name has at most (?P<n>\d+) characters$",
            lambda _, m: _("A name has at most %(n)s characters.") % m,
        ),
        rule(
            r"^a number of days from (?P<low>\d+) to (?P<high>\d+)$",
            lambda _, m: _("Enter a number of days from %(low)s to %(high)s.") % m,
        ),
        rule(
            r"^a user with e-mail (?P<value>.+) exists already$",
            lambda _, m: _("A user with the e-mail %(value)s exists already.") % m,
        ),
        # Definitions (the role editor): the meta-schema's words and the naming rules.
        rule(
            r"^unknown keyword (?P<value>.+)$",
            lambda _, m: _("%(value)s is not a keyword of this definition.") % m,
        ),
        rule(
            r"^(?P<value>.+) is not one of \[(?P<choices>.*)\]$",
            lambda _, m: _("%(value)s is not allowed here; use one of %(choices)s.") % m,
        ),
        rule(
            r"^(?P<value>.+) is not of type '(?P<kind>\w+)'$",
            lambda _, m: (
                _("%(value)s is not %(kind)s.") % {**m, "kind": _kinds(_).get(m["kind"], m["kind"])}
            ),
        ),
        rule(
            r"^'(?P<value>.+)' is a required property$",
            lambda _, m: _("%(value)s is required.") % m,
        ),
        rule(
            r"^.+ has non-unique elements$",
            lambda _, m: _("The list holds the same value twice."),
        ),
        rule(r"^.+ should be non-empty$", lambda _, m: _("This may not be empty.")),
        rule(r"^.+ is too short$", lambda _, m: _("This may not be empty.")),
        rule(
            r"^(?P<value>.+) does not match '.*'$",
            lambda _, m: _("%(value)s is not in the expected form.") % m,
        ),
        rule(
            r"^(bad [a-z ]*name: )?(?P<value>.+) is longer than (?P<n>\d+) characters$",
            lambda _, m: _("%(value)s is longer than %(n)s characters.") % m,
        ),
        rule(
            r"^(bad [a-z ]*name: )?(?P<value>.+) is not a lower snake_case ASCII identifier.*$",
            lambda _, m: (
                _(
                    "%(value)s is not a valid name: use lower-case letters a-z, digits and single "
                    "underscores, starting with a letter."
                )
                % m
            ),
        ),
        rule(r"^must be a string$", lambda _, m: _("This must be a text.")),
        # Definitions (the type designer): names taken, limits, choices, retired fields.
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
        rule(
            r"^(?P<value>.+) is a built-in role and cannot be redefined$",
            lambda _, m: _("%(value)s is a built-in role and cannot be changed.") % m,
        ),
        rule(
            r"^field rules name one entity type$",
            lambda _, m: _('Field rules belong to one entity type, not to "*".'),
        ),
        rule(
            r"^no entity type named (?P<value>.+)$",
            lambda _, m: _("There is no entity type named %(value)s.") % m,
        ),
        rule(
            r"^(?P<entity>[a-z0-9_]+) has no field (?P<value>.+)$",
            lambda _, m: _("%(entity)s has no field %(value)s.") % m,
        ),
        rule(r"^defined twice$", lambda _, m: _("This is defined twice.")),
        # Records (xrm.schemas.validate, xrm.schemas.formats, the record service).
        rule(r"^is required$", lambda _, m: _("This field is required.")),
        rule(
            r"^is required and cannot be cleared$",
            lambda _, m: _("This field is required and cannot be emptied."),
        ),
        rule(
            r"^(?P<value>.+) is not (a|a possible|a valid) phone number$",
            lambda _, m: _("%(value)s is not a valid phone number.") % m,
        ),
        rule(
            r"^(?P<value>.+) is not an absolute URI .*$",
            lambda _, m: _("%(value)s is not a web address (like https://example.com/).") % m,
        ),
        rule(r"^(?P<value>.+) contains spaces$", lambda _, m: _("%(value)s contains spaces.") % m),
        rule(r"^(?P<value>.+) is not a UUID$", lambda _, m: _("%(value)s is not an id.") % m),
        rule(
            r"^(?P<value>.+) is not a date \(YYYY-MM-DD\)$",
            lambda _, m: _("%(value)s is not a date (YYYY-MM-DD).") % m,
        ),
        rule(
            r"^(?P<value>.+) is not an ISO 8601 date-time$",
            lambda _, m: _("%(value)s is not a date and time.") % m,
        ),
        rule(
            r"^(?P<value>.+) is not (a decimal number|a number|a finite number)$",
            lambda _, m: _("%(value)s is not a number.") % m,
        ),
        rule(
            r"^(?P<value>.+) has too many digits.*$",
            lambda _, m: _("%(value)s has too many digits (at most 28).") % m,
        ),
        rule(
            r"^(?P<value>.+) is not an integer$",
            lambda _, m: _("%(value)s is not a whole number.") % m,
        ),
        rule(
            r"^(?P<value>.+) does not fit in (?P<n>\d+) bits$",
            lambda _, m: _("%(value)s is too large.") % m,
        ),
        rule(
            r"^expected (an integer|a number|a decimal number), got a boolean$",
            lambda _, m: _("Enter a number here."),
        ),
        rule(
            r"^(?P<value>.+) is not one of: .*$",
            lambda _, m: _("%(value)s is not one of the choices.") % m,
        ),
        rule(
            r"^must be at least (?P<n>\d+) characters long$",
            lambda _, m: _("Enter at least %(n)s characters.") % m,
        ),
        rule(
            r"^must be at most (?P<n>\d+) characters long \(is (?P<is>\d+)\)$",
            lambda _, m: _("Enter at most %(n)s characters (this has %(is)s).") % m,
        ),
        rule(
            r"^(?P<value>.+) does not match the pattern .*$",
            lambda _, m: _("%(value)s is not in the expected form.") % m,
        ),
        rule(r"^must be at least (?P<n>\S+)$", lambda _, m: _("Enter %(n)s or more.") % m),
        rule(r"^must be at most (?P<n>\S+)$", lambda _, m: _("Enter %(n)s or less.") % m),
        rule(
            r"^must be greater than (?P<n>\S+)$",
            lambda _, m: _("Enter a number greater than %(n)s.") % m,
        ),
        rule(
            r"^must be less than (?P<n>\S+)$",
            lambda _, m: _("Enter a number less than %(n)s.") % m,
        ),
        rule(
            r"^needs at least (?P<n>\d+) items$",
            lambda _, m: _("Enter at least %(n)s entries.") % m,
        ),
        rule(
            r"^takes at most (?P<n>\d+) items$",
            lambda _, m: _("Enter at most %(n)s entries.") % m,
        ),
        rule(r"^items must be unique$", lambda _, m: _("The list holds the same value twice.")),
        rule(r"^expected a JSON object$", lambda _, m: _("Enter a JSON object here.")),
        rule(r"^expected a list of strings$", lambda _, m: _("Enter one entry per line.")),
        rule(
            r"^item (?P<n>\d+): (?P<detail>.*)$",
            lambda _, m: (
                _("Entry %(n)s: %(detail)s") % {**m, "detail": say(m["detail"], _) or m["detail"]}
            ),
        ),
        rule(
            r"^must not contain NUL characters.*$",
            lambda _, m: _("This may not contain NUL characters."),
        ),
        rule(
            r"^no (?P<entity>[a-z0-9_]+) with id .+$",
            lambda _, m: _("The chosen record does not exist (any more)."),
        ),
        rule(
            r"^must be unique; is already taken( by .*)?$",
            lambda _, m: _("Another record has this value already; it must be unique."),
        ),
        # Plugin field formats (xrm.plugins.formats, xrm.schemas.plugin_formats).
        rule(
            r"^(?P<value>.+) is refused by format (?P<format>\S+): (?P<detail>.*)$",
            lambda _, m: _("%(value)s is not accepted here: %(detail)s") % m,
        ),
        rule(
            r"^could not be checked: format '(?P<format>.+)' failed on this value; .*$",
            lambda _, m: (
                _(
                    "This value could not be checked (the plugin that checks it failed); "
                    "nothing was saved."
                )
                % m
            ),
        ),
        rule(
            r"^format '(?P<format>.+)' comes from plugin '(?P<plugin>.+)', which is disabled .*$",
            lambda _, m: (
                _(
                    "The plugin %(plugin)s that checks this field is switched off: keep the "
                    "stored value or clear it."
                )
                % m
            ),
        ),
        rule(
            r"^format '(?P<format>.+)' comes from plugin '(?P<plugin>.+)', which is not "
            r"installed.*$",
            lambda _, m: (
                _(
                    "The plugin %(plugin)s that checks this field is not installed: keep the "
                    "stored value or clear it."
                )
                % m
            ),
        ),
        rule(
            r"^format '(?P<format>.+)' comes from plugin '(?P<plugin>.+)', which is disabled$",
            lambda _, m: _("The plugin %(plugin)s of this format is switched off.") % m,
        ),
        rule(
            r"^no enabled plugin provides format '(?P<format>.+)' .*$",
            lambda _, m: _("No enabled plugin provides the format %(format)s.") % m,
        ),
        rule(
            r"^unknown format '(?P<format>.+)': .*$",
            lambda _, m: _("%(format)s is not a format xrm knows.") % m,
        ),
        # Plugin trigger sources (xrm.schemas.workflows).
        rule(
            r"^unknown trigger source '(?P<source>.+)' \(sources: .*\)$",
            lambda _, m: _("No enabled plugin has the trigger source %(source)s.") % m,
        ),
        rule(
            r"^trigger source '(?P<source>.+)' comes from plugin '(?P<plugin>.+)', which is "
            r"disabled$",
            lambda _, m: (
                _("The plugin %(plugin)s of the trigger source %(source)s is switched off.") % m
            ),
        ),
        rule(
            r"^(?P<source>\S+) emits no event '(?P<event>.+)' \(its events: (?P<events>.*)\)$",
            lambda _, m: _("%(source)s has no event %(event)s; its events: %(events)s.") % m,
        ),
        rule(
            r"^a plugin trigger runs from the job queue .*$",
            lambda _, m: _(
                "A plugin's event starts a workflow afterwards, from the job queue: choose the "
                "stage “after saving” or “afterwards, in the background”."
            ),
        ),
        rule(
            r"^a plugin trigger names .*$",
            lambda _, m: _("Choose the plugin event that starts this workflow."),
        ),
        rule(
            r"^(source|event) goes with a plugin trigger$",
            lambda _, m: _("A plugin event goes with the trigger “a plugin reports an event”."),
        ),
        rule(
            r"^must be unique; repeats .*$",
            lambda _, m: _("Another record has this value already; it must be unique."),
        ),
        rule(
            r"^looks like a duplicate of a record you cannot see \(rule '(?P<rule>.+)'\)$",
            lambda _, m: (
                _("This looks like a duplicate of a record you cannot see (rule: %(rule)s).") % m
            ),
        ),
        rule(
            r"^looks like a duplicate of (?P<name>.+) \(rule '(?P<rule>.+)'\)$",
            lambda _, m: _("This looks like a duplicate of %(name)s (rule: %(rule)s).") % m,
        ),
        rule(r"^a record always has an owner$", lambda _, m: _("A record always has an owner.")),
    ]


RULES = _rules()


def say(message: str, _: Gettext) -> str | None:
    """``message`` in the page's language, or None when no rule knows its shape."""
    return said_by(RULES, message, _)


def _one(field: str, message: str, _: Gettext) -> Shown:
    said = say(message, _)
    if said is not None:
        return Shown(field, said)
    return Shown(field, _("This is not accepted: %(detail)s") % {"detail": message}, False)


def shown(fault: Fault, _: Gettext) -> Shown:
    """One fault in the page's language, at its own field (a JSON path in a definition)."""
    return _one(fault.field, fault.message, _)


def explain(error: XrmError, _: Gettext, labels: Callable[[str], str] | None = None) -> list[Shown]:
    """Every problem ``error`` reports, translated; ``labels`` names form fields for people.

    Without ``labels`` a fault's field is shown as it is (a JSON path in a
    definition, which is what the definition editor shows too).
    """
    name = labels or (lambda field: field)
    if isinstance(error, FaultsError) and error.faults:
        return [_one(name(f.field) if f.field else "", f.message, _) for f in error.faults]
    if isinstance(error, Forbidden):
        return [Shown("", _("You may not do that."))]
    if isinstance(error, NotFound):
        return [Shown("", _("It does not exist (any more)."))]
    if isinstance(error, Conflict) and say(error.message, _) is None:
        return [Shown("", _("Someone else changed this meanwhile. Reload the page and try again."))]
    return [_one("", error.message, _)]


# --- an import's rejection reasons --------------------------------------------------------------
#
# The importer (``xrm.entities.imports.run``) writes one English line per rejected row, as the CLI
# shows it: the row's faults as ``field: problem`` joined by ``; ``, or one problem of the whole
# row. The wizard and its rejected-rows file say the same in the page's language: each fault's
# field by its label, its problem through the rules above and the importer's own shapes below.

_QUOTED = r"(?P<q>['\"])(?P<value>.*)(?P=q)"  # a cell as the importer quotes it (Python's repr)


def _import_rules() -> list[Rule]:
    return [
        rule(
            r"^the row has (?P<n>\d+) cells but the header names (?P<width>\d+) columns$",
            lambda _, m: (
                _("The row has %(n)s cells but the first row names %(width)s columns.") % m
            ),
        ),
        rule(r"^the row cannot be read$", lambda _, m: _("The row cannot be read.")),
        rule(
            r"^the key is empty$",
            lambda _, m: _("This is the field that matches stored records, and it is empty."),
        ),
        rule(
            rf"^no [a-z0-9_]+ is {_QUOTED} \(matched by id, by name and by each unique field\)$",
            lambda _, m: (
                _("No record is %(value)s (looked up by id, by name and by each unique field).") % m
            ),
        ),
        rule(
            rf"^(?P<n>\d+) [a-z0-9_]+ records match {_QUOTED}; use the id or a unique field$",
            lambda _, m: (
                _("%(n)s records match %(value)s; use the id or a field that is unique.") % m
            ),
        ),
        rule(
            r"^(?P<n>\d+) records have this [a-z0-9_]+; the key must pick one record$",
            lambda _, m: (
                _("%(n)s stored records have this value; it must match exactly one record.") % m
            ),
        ),
        rule(r"^no [a-z0-9_]+ with this id$", lambda _, m: _("No record has this id.")),
        rule(
            r"^rejected by a rule: (?P<detail>.*)$",
            lambda _, m: _("A rule refused this row: %(detail)s") % m,
        ),
        rule(
            r"^\S+ may not (create|change|update|delete|read) [a-z0-9_]+ records$",
            lambda _, m: _("You may not do that."),
        ),
        rule(
            r"^\S+ may only (change|update) their own [a-z0-9_]+ records$",
            lambda _, m: _("You may only change your own records."),
        ),
        rule(
            r"^\S+ may not assign [a-z0-9_]+ records to other users$",
            lambda _, m: _("You may not give records to other users."),
        ),
    ]


IMPORT_RULES = _import_rules()


def _say_part(message: str, _: Gettext) -> str | None:
    return said_by(IMPORT_RULES, message, _) or say(message, _)


def import_reason(
    reason: str, labels: Mapping[str, str], _: Gettext, rules: Mapping[str, str] | None = None
) -> Shown:
    """A rejected row's reason (the importer's English line) in the page's language.

    ``labels``: the type's field names with their labels in the page's language; ``rules``: its
    duplicate rules' names with their labels. The line is
    cut where ``; `` is followed by a field name and a colon; as a cell quoted in a problem may
    hold such text too, the cut kept is the one that leaves the fewest parts unsaid.
    """
    fields = sorted(labels, key=len, reverse=True)
    cuts: list[int] = []
    if fields:
        named = "|".join(re.escape(f) for f in fields)
        cuts = [m.start() for m in re.finditer(rf"; (?=(?:{named})(?:\.\d+)?: )", reason)]
    bounds = [0, *cuts, len(reason)]
    # ways[i]: reason[:bounds[i]] said with the fewest parts unsaid, then in the most parts.
    ways: dict[int, tuple[int, int, list[Shown]]] = {0: (0, 0, [])}
    for end in range(1, len(bounds)):
        tries = []
        for start, (unsaid, count, parts) in ways.items():
            text = reason[bounds[start] + (2 if start else 0) : bounds[end]]
            part = _reason_part(text, labels, _, rules or {})
            tries.append((unsaid + (not part.translated), count - 1, [*parts, part]))
        ways[end] = min(tries, key=lambda t: t[:2])
    parts = ways[len(bounds) - 1][2]
    return Shown("", " ".join(p.text for p in parts), all(p.translated for p in parts))


_WRITE = re.compile(
    r"^\S+ may not write (?P<fields>[a-z0-9_]+\.[a-z0-9_]+(?:, [a-z0-9_]+\.[a-z0-9_]+)*)$"
)


_DUPLICATE = re.compile(
    r"^duplicate of (?P<who>.+) \(rule (?P<q>['\"])(?P<rule>.*?)(?P=q), score [^)]*\)"
    r"(?P<refuses>; the rule refuses duplicates)?$",
    re.S,
)


def _duplicate(found: re.Match[str], rules: Mapping[str, str], _: Gettext) -> str:
    """A row left out as a duplicate (``run.flag_text``), in words: of which row or record."""
    who = found.group("who")
    row = re.fullmatch(r"row (\d+)", who)
    if row:
        who = _("row %(number)s of the file") % {"number": row.group(1)}
    elif who == "a record you cannot see":
        who = _("a record you cannot see")
    elif re.fullmatch(r"(['\"]).*\1", who, re.S):
        who = who[1:-1]  # the record's name, as the importer quotes it
    else:  # "record <id>": a record without a name; its id is no help to a person
        who = _("a record without a name")
    name = found.group("rule")
    said = _("This looks like a duplicate of %(name)s (rule: %(rule)s).") % {
        "name": who,
        "rule": rules.get(name, name),
    }
    return f"{said} {_('The rule refuses duplicates.')}" if found.group("refuses") else said


def _reason_part(
    text: str, labels: Mapping[str, str], _: Gettext, rules: Mapping[str, str]
) -> Shown:
    """One fault: ``field: problem`` (``tags.2: ...`` is the field ``tags``) or a whole-row one."""
    found = re.match(r"^(?P<field>[a-z0-9_]+)(?:\.\d+)?: (?P<message>.*)$", text, re.S)
    if found and found.group("field") in labels:
        label = labels[found.group("field")]
        said = _say_part(found.group("message"), _)
        both = {"field": label, "value": said or found.group("message")}
        return Shown(label, _("%(field)s: %(value)s") % both, said is not None)
    duplicate = _DUPLICATE.match(text)
    if duplicate:
        return Shown("", _duplicate(duplicate, rules, _))
    blocked = _WRITE.match(text)  # fields the user's role shows but does not let them write
    if blocked:
        names = [n.split(".", 1)[1] for n in blocked.group("fields").split(", ")]
        shown = ", ".join(labels.get(n, n) for n in names)
        return Shown("", _("You may not change %(fields)s.") % {"fields": shown})
    said = _say_part(text, _)
    if said is None:
        return Shown("", _("This row was not accepted: %(detail)s") % {"detail": text}, False)
    return Shown("", said)


# --- why a whole file cannot be imported -------------------------------------------------------
#
# ``BadFile`` and ``BadImport`` (``xrm.entities.imports``) name the file and, for the CLI, the
# option to use (``--map``, ``--encoding``). The wizard says what the user can do in it instead.


def _file_rules() -> list[Rule]:
    return [
        rule(
            r"^.+ is larger than (?P<n>\d+) MB \(XRM_IMPORT_MAX_FILE_MB\)$",
            lambda _, m: _("The file is larger than %(n)s MB.") % m,
        ),
        rule(
            r"^.+ is a zip archive \(an XLSX workbook\?\), not CSV text; name it \.xlsx$",
            lambda _, m: _(
                "This is a zip archive (an Excel workbook?), not CSV text: give its name the "
                "ending .xlsx."
            ),
        ),
        rule(
            r"^.+ starts with a (?P<codec>\S+) byte-order mark but is not (?P=codec) text$",
            lambda _, m: (
                _("The file starts as %(codec)s text but is not %(codec)s text.")
                % {"codec": {"utf-8-sig": "UTF-8", "utf-16": "UTF-16"}.get(m["codec"], m["codec"])}
            ),
        ),
        rule(
            r"^.+ is neither UTF-8 nor CP949 \(EUC-KR\) text; .*$",
            lambda _, m: _(
                "The file is neither UTF-8 nor CP949 (EUC-KR) text: save it from the spreadsheet "
                "as CSV UTF-8, or as an Excel workbook."
            ),
        ),
        rule(
            r"^.+ does not look like CSV text \(it holds NUL or other control characters\); .*$",
            lambda _, m: _(
                "This does not look like CSV text (it holds control characters): is it another "
                "kind of file?"
            ),
        ),
        rule(
            r"^.+ is empty: (its|the sheet's) first row must name the columns$",
            lambda _, m: _("The file is empty: its first row must name the columns."),
        ),
        rule(
            r"^.+, line (?P<line>\d+): .*$",
            lambda _, m: _("Line %(line)s of the file cannot be read as CSV.") % m,
        ),
        rule(
            r"^.+ unpacks to more than (?P<n>\d+) MB .*$",
            lambda _, m: _("The workbook unpacks to more than %(n)s MB.") % m,
        ),
        rule(
            r"^.+ (is not an XLSX workbook \(not a readable zip archive\)|is a zip archive but "
            r"not an XLSX workbook|is not a readable XLSX workbook \(\w+\))$",
            lambda _, m: _("This is not an Excel workbook (XLSX) that can be read."),
        ),
        rule(
            r"^.+: the sheet cannot be read \(\w+\)$",
            lambda _, m: _("The workbook's first sheet cannot be read."),
        ),
        # A mapping or key the wizard's form would not send (an edited or stale form).
        rule(
            r"^--map .*: the file has no column (?P<q>['\"])(?P<value>.*?)(?P=q) "
            r"\(its columns: .*\)$",
            lambda _, m: _("The file has no column %(value)s.") % m,
        ),
        rule(
            r"^--(map|key) .*: [a-z0-9_]+ has no field (?P<q>['\"])(?P<value>.*?)(?P=q) "
            r"\(its fields: .*\)$",
            lambda _, m: _("This type has no field %(value)s.") % m,
        ),
    ]


FILE_RULES = _file_rules()
_BOTH = re.compile(
    r"^columns (?P<q1>['\"])(?P<first>.*)(?P=q1) and (?P<q2>['\"])(?P<second>.*)(?P=q2) "
    r"both fill the field (?P<field>[a-z0-9_]+); .*$",
    re.S,
)
_NO_KEY = re.compile(r"^--key (?P<field>[a-z0-9_]+): no column of the file fills .*$")
_NO_MATCH = re.compile(r"^no column of .+ matches a field of [a-z0-9_]+; .*$", re.S)


def file_problem(problem: str, labels: Mapping[str, str], _: Gettext) -> Shown:
    """Why a file cannot be imported (``BadFile``, ``BadImport``), in the page's language;
    ``labels``: the type's field names with their labels."""
    both = _BOTH.match(problem)
    if both:
        named = {
            "first": both.group("first"),
            "second": both.group("second"),
            "field": labels.get(both.group("field"), both.group("field")),
        }
        return Shown(
            "",
            _(
                "The columns %(first)s and %(second)s both fill the field %(field)s: choose "
                "“Not imported” for one of them."
            )
            % named,
        )
    key = _NO_KEY.match(problem)
    if key:
        field = labels.get(key.group("field"), key.group("field"))
        return Shown(
            "",
            _(
                "No column fills %(field)s, the field that matches stored records: choose a "
                "column for it, or match by nothing."
            )
            % {"field": field},
        )
    if _NO_MATCH.match(problem):
        return Shown(
            "",
            _(
                "No column of the file is named after a field of this type: name the columns "
                "after the fields or their labels (in English or Korean)."
            ),
        )
    said = said_by(FILE_RULES, problem, _)
    if said is None:
        return Shown("", problem, False)
    return Shown("", said)


def plain(shown: Iterable[Shown]) -> str:
    """Errors as one line of text (for places that show a single message)."""
    return " ".join(f"{s.field}: {s.text}" if s.field else s.text for s in shown)
