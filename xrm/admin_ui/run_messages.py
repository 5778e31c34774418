"""A run's error and log lines in the page's language, where they are the platform's words.

The engine and the sandbox speak English to developers ("the rule ran longer than
5 s and was stopped", "(condition not met)"); the run history of a Korean page
must say those in Korean. Only the platform's own shapes are re-said, keeping
the values in them; what a rule wrote itself (its ``log()`` lines, a refusal's
message, the text of an exception its code raised) is shown as it is. A shape
no rule knows stays as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from xrm.admin_ui.messages import Rule, rule, said_by, say
from xrm.workflows.runs import RunStatus

Gettext = Callable[[str], str]


def _rules() -> list[Rule]:
    return [
        rule(
            r"^action type '(?P<action>.+)' is provided by plugin '(?P<plugin>.+)', which is "
            r"disabled \(XRM_PLUGINS_DISABLED\); enable it or change the workflow$",
            lambda _, m: (
                _(
                    "The action type %(action)s comes from the plugin %(plugin)s, which is "
                    "disabled (XRM_PLUGINS_DISABLED): enable the plugin or change the workflow."
                )
                % m
            ),
        ),
        rule(
            r"^action type '(?P<action>.+)' is provided by a plugin that is not installed or "
            r"is disabled \(XRM_PLUGINS_DISABLED\); enable it or change the workflow$",
            lambda _, m: (
                _(
                    "The action type %(action)s comes from a plugin that is not installed or is "
                    "disabled (XRM_PLUGINS_DISABLED): enable it or change the workflow."
                )
                % m
            ),
        ),
        rule(
            r"^the rule used more than (?P<n>[\d.]+) s of CPU time and was stopped$",
            lambda _, m: _("The rule used more than %(n)s s of CPU time and was stopped.") % m,
        ),
        rule(
            r"^the rule ran longer than (?P<n>[\d.]+) s and was stopped$",
            lambda _, m: _("The rule ran longer than %(n)s s and was stopped.") % m,
        ),
        rule(
            r"^the rule needed more than (?P<n>\d+) MB of memory$",
            lambda _, m: _("The rule needed more than %(n)s MB of memory and was stopped.") % m,
        ),
        rule(
            r"^the sandbox worker running the rule stopped unexpectedly$",
            lambda _, m: _("The sandbox running the rule stopped unexpectedly."),
        ),
        rule(
            r"^the sandbox worker broke the protocol and was replaced$",
            lambda _, m: _("The sandbox running the rule misbehaved and was replaced."),
        ),
        rule(
            r"^the sandbox could not start a worker( to run the rule)?$",
            lambda _, m: _("The sandbox could not start to run the rule."),
        ),
        rule(r"^the sandbox is not running$", lambda _, m: _("The sandbox is not running.")),
        rule(
            r"^all (?P<n>\d+) sandbox workers stayed busy for (?P<s>[\d.]+) s$",
            lambda _, m: _("All %(n)s sandbox workers stayed busy for %(s)s s.") % m,
        ),
        rule(
            r"^workflow (?P<name>\S+) was deleted or disabled before it ran$",
            lambda _, m: _("The workflow %(name)s was deleted or disabled before it ran.") % m,
        ),
        rule(
            r"^workflows fired workflows more than (?P<n>\d+) deep, so the change was undone "
            r"\(does a rule change what fires it\?\): (?P<chain>.*)$",
            lambda _, m: (
                _(
                    "Workflows fired workflows more than %(n)s deep, so the change was undone "
                    "(does a rule change what fires it?): %(chain)s"
                )
                % m
            ),
        ),
        rule(
            r"^update of (?P<field>\S+): the record has none to update$",
            lambda _, m: _("Update through %(field)s: the record refers to no record.") % m,
        ),
        rule(
            r"^this action needs the triggering record, and there is none$",
            lambda _, m: _(
                "This action needs the record that fired the workflow, and there is none."
            ),
        ),
        rule(
            r"^(?P<action>\S+) cannot run in this process$",
            lambda _, m: _("The action %(action)s cannot run here.") % m,
        ),
        rule(
            r"^the condition gave a (?P<kind>\w+); it must give True or False$",
            lambda _, m: _("The condition gave %(kind)s; it must give True or False.") % m,
        ),
        rule(
            r"^line (?P<line>\d+): (?P<error>.*)$",
            lambda _, m: _("Line %(line)s: %(error)s") % m,
        ),
    ]


def _faults(text: str, _: Gettext, label: Callable[[str], str]) -> str:
    """``field: message; ...`` with each field by its label, each message in the page's
    language (a message no rule knows is kept as it is)."""
    parts = []
    for part in text.split("; "):
        field, sep, message = part.partition(": ")
        said = say(message, _) if sep else None
        parts.append(f"{label(field)}: {said}" if said is not None else part)
    return "; ".join(parts)


RULES = _rules()
_LOG_LINES = re.compile(r"^… (?P<n>\d+) more lines not kept$")
_REFUSED_WRITE = re.compile(r"^validation failed: (?P<faults>.*)$", re.S)


def run_error(text: str, status: RunStatus, _: Gettext, label: Callable[[str], str] = str) -> str:
    """A run's error as the history shows it: a refusal is the rule's own message, as is;
    a write the record's checks refused names its fields by ``label``."""
    if status is RunStatus.REJECTED:
        return _("Refused by a rule.") if text == "rejected by a rule" else text
    refused = _REFUSED_WRITE.match(text)
    if refused:
        problems = _faults(refused.group("faults"), _, label)
        return _("The record was not saved: %(problems)s") % {"problems": problems}
    said = said_by(RULES, text, _)
    return text if said is None else said


def log_line(line: str, _: Gettext) -> str:
    """A log line: the platform's own notes translated, the rule's ``log()`` output as is."""
    if line == "(condition not met)":
        return _("(condition not met)")
    found = _LOG_LINES.match(line)
    if found:
        return _("… %(n)s more lines not kept") % {"n": found.group("n")}
    return line
