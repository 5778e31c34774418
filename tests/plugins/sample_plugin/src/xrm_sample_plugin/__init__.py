"""A sample third-party xrm plugin: an action type, a catalog pack, an admin page, a field
format (``sample.voucher``) and a trigger source (``sample.door``).

xrm knows nothing of this package; it is found through the ``xrm.plugins``
entry point its pyproject.toml declares. Everything it uses from xrm is the
plugin specification, ``xrm.plugins.spec``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from xrm.plugins.spec import (
    ActionCall,
    ActionSpec,
    AdminPage,
    CatalogPack,
    FieldFormat,
    PluginContext,
    PluginError,
    TriggerSource,
    hookimpl,
)

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
    title = {"en": "A tiny help desk", "ko": "작은 헬프데스크"}
    return [CatalogPack("sample_helpdesk", title, [TICKET, STAMP_TICKETS])]


def stamps_page(request: Any) -> str:
    """An admin page: the stamps so far, and a form that clears them (an HTML fragment)."""
    if request.method == "POST":
        STAMPED.clear()
    items = "".join(f"<li>{escape(str(s['label']))}</li>" for s in STAMPED)
    return (
        f"<p data-stamps>{len(STAMPED)}</p><ul>{items}</ul>"
        f'<form method="post"><input type="hidden" name="csrf" '
        f'value="{escape(request.state.csrf)}"><button type="submit">Clear</button></form>'
    )


@hookimpl
def xrm_admin_pages() -> list[AdminPage]:
    return [
        AdminPage(
            "stamps",
            stamps_page,
            title={"en": "Stamps", "ko": "스탬프"},
            menu_label={"en": "Stamps", "ko": "스탬프"},
            methods=("GET", "POST"),
        )
    ]


VOUCHER_LENGTH = 8
NOT_A_VOUCHER = "is not a voucher code (eight letters or digits, like ABCD-1234)"


def voucher_problem(value: str) -> str | None:
    """A voucher code is eight ASCII letters or digits; spaces and hyphens are ignored."""
    bare = value.replace("-", "").replace(" ", "")
    if len(bare) != VOUCHER_LENGTH or not (bare.isascii() and bare.isalnum()):
        return NOT_A_VOUCHER
    return None


def voucher_normal(value: str) -> str:
    """The stored spelling: upper case, in two groups of four (``abcd 1234`` -> ``ABCD-1234``)."""
    bare = value.replace("-", "").replace(" ", "").upper()
    return f"{bare[:4]}-{bare[4:]}"


@hookimpl
def xrm_field_formats() -> list[FieldFormat]:
    return [
        FieldFormat(
            "voucher",
            voucher_problem,
            voucher_normal,
            label={"en": "Voucher code", "ko": "바우처 코드"},
            translations={
                NOT_A_VOUCHER: {"ko": "바우처 코드가 아닙니다(ABCD-1234처럼 영문자나 숫자 8개)"}
            },
        )
    ]


# The door's job: something outside xrm (here, a test) queues a knock; the plugin emits the
# door's "opened" event in that job's transaction, which starts the workflows listening.
KNOCK_JOB = "sample.knock"


@hookimpl
def xrm_trigger_sources() -> list[TriggerSource]:
    return [TriggerSource("door", {"en": "Front door", "ko": "현관문"}, ("opened", "closed"))]


@hookimpl
def xrm_job_handlers(context: PluginContext) -> dict[str, Any]:
    def knock(payload: dict[str, Any], job: Any) -> None:
        context.emit("sample.door", "opened", {"who": payload.get("who")}, conn=job.conn)

    return {KNOCK_JOB: knock}
