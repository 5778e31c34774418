"""Workflows whose actions come from plugins that are switched off, in the builder's words.

A disabled plugin's action types are not loaded, yet workflows that use them
still load (and every run of theirs fails naming the plugin). The builder says
so where a business admin looks: under the workflow in the list and on its page
("Uses the action “Send an e-mail” of the plugin email, which is disabled"), as
the action's choice in its form (kept rather than silently dropped), and as the
error at that action when the form is saved or tried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request

from xrm.admin_ui import workflow_form as wf
from xrm.schemas.workflows import BUILTIN_ACTIONS, Workflow

Gettext = Callable[[str], str]


def _switched_off(request: Request) -> Mapping[str, tuple[str, str]]:
    """Action types of disabled plugins -> (plugin, the action's title)."""
    plugins = getattr(request.app.state, "plugins", None)
    return plugins.disabled_actions if plugins is not None else {}


def missing_actions(request: Request, workflow: Workflow, _: Gettext) -> list[str]:
    """Why a workflow's runs fail: an action type whose plugin is disabled or gone, in words."""
    plugins = getattr(request.app.state, "plugins", None)
    enabled = plugins.actions if plugins is not None else {}
    off = _switched_off(request)
    said: list[str] = []
    for action in workflow.definition.get("actions") or ():
        kind = str(action.get("type", "")) if isinstance(action, Mapping) else ""
        if not kind or kind in BUILTIN_ACTIONS or kind in enabled:
            continue
        if kind in off:
            plugin, title = off[kind]
            text = _(
                "Uses the action “%(action)s” of the plugin %(plugin)s, which is disabled: "
                "its runs fail until the plugin is enabled again or the action is removed."
            ) % {"action": _(title), "plugin": plugin}
        else:
            text = _(
                "Uses the action type %(action)s, which no installed plugin provides: "
                "its runs fail until the plugin is installed or the action is removed."
            ) % {"action": kind}
        if text not in said:
            said.append(text)
    return said


def unavailable_options(
    request: Request, values: wf.FormValues, schemas: Mapping[str, Any], _: Gettext
) -> list[tuple[str, str]]:
    """Options for the action types the form holds that no enabled plugin gives, so an edited
    workflow shows them (saving it is refused at that action until it is changed)."""
    off = _switched_off(request)
    kinds = {a.type for a in values.actions} - set(BUILTIN_ACTIONS) - set(schemas) - {""}
    options = []
    for kind in sorted(kinds):
        plugin, title = off.get(kind, ("", kind))
        said = (
            _("%(action)s (plugin %(plugin)s, disabled)")
            if plugin
            else _("%(action)s (not installed)")
        )
        options.append((kind, said % {"action": _(title), "plugin": plugin}))
    return options


def unavailable_errors(
    request: Request, values: wf.FormValues, errors: Mapping[str, str], _: Gettext
) -> dict[str, str]:
    """The form's errors, an action of a disabled plugin's told so rather than "choose"."""
    off = _switched_off(request)
    out = dict(errors)
    for index, block in enumerate(values.actions):
        where = f"actions.{index}.type"
        if where in out and block.type in off:
            out[where] = _(
                "The plugin %(plugin)s that adds this action is disabled: enable it, or choose "
                "another action."
            ) % {"plugin": off[block.type][0]}
    return out
