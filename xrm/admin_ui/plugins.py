"""The plugins screen (``/admin/plugins``, right ``define_workflows``): what is installed, the
webhook destinations, and the latest webhook deliveries.

The list comes from the plugin manager ``app.py`` made (``app.state.plugins``);
destinations and deliveries from the built-in webhook plugin's own tables,
shown only while that plugin is switched on. A destination's secret is never
shown again once saved (only whether one is set); the delivery log names the
record by its type and a link, never by its id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui.auth import database, forbidden, may, page, signed_form, signed_in
from xrm.admin_ui.messages import Gettext, Shown, explain
from xrm.admin_ui.pages import gettext_for, language
from xrm.admin_ui.record_fields import type_label
from xrm.entities.registry import Registry
from xrm.errors import FaultsError, XrmError
from xrm.platform import sessions
from xrm.plugins.manager import Plugins
from xrm.plugins.webhook import store

RIGHT = "define_workflows"
WEBHOOK = "webhook"
SHOWN_DELIVERIES = 50


def _plugins(request: Request) -> Plugins:
    found: Plugins = request.app.state.plugins
    return found


def _webhooks_on(request: Request) -> bool:
    return any(p.name == WEBHOOK and p.enabled for p in _plugins(request).infos)


def _event_labels(_: Gettext) -> dict[str, str]:
    return {"create": _("Created"), "update": _("Changed"), "delete": _("Deleted")}


def _provides(info_provides: dict[str, tuple[str, ...]], _: Gettext) -> list[tuple[str, str]]:
    labels = {
        "actions": _("Workflow actions"),
        "triggers": _("Trigger sources"),
        "formats": _("Field formats"),
        "packs": _("Catalog packs"),
        "pages": _("Admin pages"),
    }
    out = [(labels[key], ", ".join(names)) for key, names in info_provides.items() if key in labels]
    if "listeners" in info_provides:
        out.append((_("Listens to record changes"), ""))
    return out


# Shapes of the webhook plugin's messages (xrm.plugins.webhook), said in the page's language.
def _said(message: str, _: Gettext) -> str | None:
    rules: list[tuple[str, Callable[[re.Match[str]], str]]] = [
        (
            r"^(?P<host>.*) is not in the webhook allow-list",
            lambda m: (
                _("%(host)s is not in the webhook allow-list (XRM_WEBHOOK_ALLOW).")
                % {"host": m["host"]}
            ),
        ),
        (
            r"^(?P<host>\S+) resolves to (?P<address>\S+), an internal address",
            lambda m: (
                _(
                    "%(host)s resolves to the internal address %(address)s; "
                    "webhooks go to public addresses only."
                )
                % {"host": m["host"], "address": m["address"]}
            ),
        ),
        (r".*only http and https URLs", lambda m: _("Only http and https addresses are allowed.")),
        (r".*user name or password", lambda m: _("The address may not hold a user name.")),
        (r".*does not resolve", lambda m: _("This host name does not resolve to any address.")),
        (
            r".*(is not a URL|names no host|at most 2000|no spaces)",
            lambda m: _("Enter a full address such as https://hooks.example.com/in."),
        ),
        (r"^a secret has at least", lambda m: _("A secret has at least 16 characters.")),
        (r"^choose at least one event", lambda m: _("Choose at least one event to post.")),
        (r"^events are posted for", lambda m: _("Choose the record type whose events to post.")),
        (r"^no entity type named", lambda m: _("There is no such record type.")),
        (
            r"^answered (?P<status>\d+) \(a redirect",
            lambda m: (
                _("Answered %(status)s, a redirect (not followed).") % {"status": m["status"]}
            ),
        ),
        (
            r"^answered (?P<status>\d+)$",
            lambda m: _("Answered %(status)s.") % {"status": m["status"]},
        ),
        (
            r"^no answer within (?P<seconds>\S+) s$",
            lambda m: _("No answer within %(seconds)s seconds.") % {"seconds": m["seconds"]},
        ),
        (r"^could not connect", lambda m: _("Could not connect.")),
        (
            r"^refused: (?P<why>.*)$",
            lambda m: _("Refused: %(why)s") % {"why": _said(m["why"], _) or m["why"]},
        ),
    ]
    for pattern, say in rules:
        found = re.match(pattern, message, re.S)
        if found:
            return say(found)
    return None


def _errors(request: Request, session: sessions.Session, exc: XrmError) -> list[Shown]:
    _ = gettext_for(request, session.locale)
    labels = {
        "name": _("Name"),
        "url": _("Address (URL)"),
        "secret": _("Secret"),
        "entity": _("Record type"),
        "events": _("Events"),
    }
    if isinstance(exc, FaultsError) and exc.faults:
        shown = []
        for fault in exc.faults:
            said = _said(fault.message, _)
            if said is not None:
                shown.append(Shown(labels.get(fault.field, fault.field), said))
            else:
                shown.extend(explain(type(exc)([fault]), _, lambda f: labels.get(f, f)))
        return shown
    return explain(exc, _)


def _load(request: Request) -> dict[str, Any]:
    if not _webhooks_on(request):
        return {"destinations": [], "deliveries": []}
    with database(request).read() as conn:
        return {
            "destinations": store.list_destinations(conn),
            "deliveries": store.list_deliveries(conn, SHOWN_DELIVERIES),
        }


async def plugins_page(request: Request) -> Response:
    session = await signed_in(request)
    if not isinstance(session, sessions.Session):
        return session
    return await _page(request, session)


async def _page(
    request: Request,
    session: sessions.Session,
    *,
    errors: list[Shown] | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    if not may(request, session, RIGHT):
        return forbidden(request, session)
    _ = gettext_for(request, session.locale)
    lang = language(request, session.locale)
    registry: Registry = request.app.state.registry
    catalog = await run_in_threadpool(registry.current)
    types = sorted(
        ((et.name, type_label(et, lang)) for et in catalog.types.values()), key=lambda t: t[1]
    )
    type_names = dict(types)
    loaded = await run_in_threadpool(_load, request)
    events = _event_labels(_)
    happened = {
        **events,
        "manual": _("Run by hand"),
        "schedule": _("On schedule"),
        "link": _("Linked"),
        "unlink": _("Unlinked"),
    }
    deliveries = [
        {
            "when": d.created_at,
            "destination": d.destination,
            "event": happened.get(d.event, d.event),
            "entity": type_names.get(d.entity or "", ""),
            "link": (
                request.url_for("record", entity=d.entity, record_id=d.record_id).path
                if d.entity in type_names and d.record_id
                else None
            ),
            "attempt": d.attempt,
            "ok": d.ok,
            "result": (
                _("Answered %(status)s.") % {"status": d.status_code}
                if d.ok
                else (_said(d.error or "", _) or d.error or "")
            ),
            "duration_ms": d.duration_ms,
        }
        for d in loaded["deliveries"]
    ]
    plugins = [
        {
            "name": info.name,
            "version": info.version,
            "distribution": info.distribution,
            "enabled": info.enabled,
            "broken": info.error is not None,
            "provides": _provides(dict(info.provides), _),
        }
        for info in _plugins(request).infos
    ]
    return page(
        request,
        session,
        "plugins.html",
        {
            "plugins": plugins,
            "webhooks_on": _webhooks_on(request),
            "destinations": [
                {
                    "name": d.name,
                    "url": d.url,
                    "entity": type_names.get(d.entity or "", d.entity or ""),
                    "events": ", ".join(events.get(e, e) for e in d.events),
                }
                for d in loaded["destinations"]
            ],
            "deliveries": deliveries,
            "types": types,
            "event_choices": list(events.items()),
            "errors": errors or [],
            "form": form or {"events": []},
        },
        status,
    )


async def save_destination_form(request: Request) -> Response:
    checked = await signed_form(request, RIGHT)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    if not _webhooks_on(request):
        return forbidden(request, session)
    shown = _shown(form)
    registry: Registry = request.app.state.registry

    def save() -> None:
        catalog = registry.current()
        with database(request).write() as conn:
            store.save_destination(
                conn,
                request.app.state.settings,
                name=shown["name"],
                url=shown["url"],
                secret=str(form.get("secret") or ""),
                entity=shown["entity"] or None,
                events=shown["events"],
                entities=catalog.types.keys(),
            )

    try:
        await run_in_threadpool(save)
    except XrmError as exc:
        errors = _errors(request, session, exc)
        return await _page(request, session, errors=errors, form=shown, status=400)
    return RedirectResponse("/admin/plugins#destinations", status_code=303)


def _shown(form: FormData) -> dict[str, Any]:
    return {
        "name": str(form.get("name") or "").strip(),
        "url": str(form.get("url") or "").strip(),
        "entity": str(form.get("entity") or "").strip(),
        "events": [str(e) for e in form.getlist("events")],
    }


async def remove_destination_form(request: Request) -> Response:
    checked = await signed_form(request, RIGHT)
    if isinstance(checked, Response):
        return checked
    session, _form = checked
    if not _webhooks_on(request):
        return forbidden(request, session)
    name = str(request.path_params["name"])

    def remove() -> None:
        with database(request).write() as conn:
            store.remove_destination(conn, name)

    await run_in_threadpool(remove)
    return RedirectResponse("/admin/plugins#destinations", status_code=303)
