"""A sample third-party xrm plugin: an inline action type and a catalog pack.

xrm knows nothing of this package; it is found through the ``xrm.plugins``
entry point its pyproject.toml declares. Everything it uses from xrm is the
plugin specification, ``xrm.plugins.spec``.
"""

from __future__ import annotations

from typing import Any

from xrm.plugins.spec import ActionCall, ActionSpec, CatalogPack, PluginError, hookimpl

# What the stamp action did, for whoever wants to look (the tests do).
STAMPED: list[dict[str, Any]] = []


def stamp(call: ActionCall) -> None:
    """Note the record and the label; refuse a record whose subject says so."""
    record = call.record or {}
    if str(record.get("subject", "")).startswith("refuse"):
        raise PluginError("the stamp refuses this record")
    STAMPED.append({"label": call.settings["label"], "id": record.get("id")})


@hookimpl
def xrm_action_types() -> list[ActionSpec]:
    return [
        ActionSpec(
            name="sample_stamp",
            title="Stamp the record",
            schema={
                "type": "object",
                "required": ["label"],
                "properties": {"label": {"type": "string", "minLength": 1, "maxLength": 40}},
                "additionalProperties": False,
            },
            run=stamp,
            mode="inline",
        )
    ]


TICKET = {
    "type": "object",
    "title": "Ticket",
    "x-xrm": {
        "name": "sample_ticket",
        "plural": "sample_tickets",
        "label": {"en": "Ticket", "ko": "티켓"},
        "display": "subject",
    },
    "properties": {
        "subject": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "x-xrm-label": {"en": "Subject", "ko": "제목"},
        }
    },
    "required": ["subject"],
}

STAMP_TICKETS = {
    "name": "stamp_tickets",
    "entity": "sample_ticket",
    "on": ["create"],
    "actions": [{"type": "sample_stamp", "label": "new"}],
}


@hookimpl
def xrm_catalog_packs() -> list[CatalogPack]:
    return [CatalogPack("sample_helpdesk", "A tiny help desk", [TICKET, STAMP_TICKETS])]
