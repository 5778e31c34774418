"""Removing a many-to-many relationship: ``POST /admin/types/{name}/relationships/{rel}/remove``.

Removing drops the link table with every link in it, which no restore brings
back, so the edit page says how many links go and the admin must tick a box
saying so; the count ticked is posted along, and when links were added since,
nothing is removed and the page shows the new count to confirm again. A
workflow whose link trigger or link action uses the relationship blocks the
removal; the page names it with a link to it. The registry does the rest
(``Registry.remove_relationship``): one transaction, audited as a purge with
channel ``admin``; a change made meanwhile is a conflict.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui import type_relationships as tr
from xrm.admin_ui.auth import admin_form, message
from xrm.admin_ui.messages import explain
from xrm.admin_ui.pages import gettext_for
from xrm.admin_ui.types import CHANNEL, Screen, registry_of
from xrm.errors import ConfirmationRequired, Conflict, DefinitionError, NotFound, XrmError
from xrm.platform import sessions


@admin_form
async def remove_relationship(
    request: Request, session: sessions.Session, form: FormData
) -> Response:
    """Drop the relationship and its links when the box is ticked, at the loaded version."""
    found = tr.opened(request, session)
    if isinstance(found, Response):
        return found
    et, rel = found
    _ = gettext_for(request, session.locale)
    screen = Screen(tr.state_of(rel), et, rel.version)
    version = tr.posted_number(form) or 0
    confirmed = tr.posted_number(form, "links")
    if form.get("confirm") != "1" or confirmed is None:
        said = _("Tick the box to confirm that the links are deleted.")
        screen.status = 400
        return await tr.show_edit(request, session, screen, rel, {"error": said})

    def remove() -> int:
        return registry_of(request).remove_relationship(
            rel.name,
            actor=session.actor,
            channel=CHANNEL,
            confirm_data_loss=True,
            expected_version=version,
            expected_links=confirmed,
        )

    try:
        await run_in_threadpool(remove)
    except ConfirmationRequired:
        said = _(
            "Links were added or removed meanwhile: read the number again and tick the box "
            "again to confirm."
        )
        screen.status = 409
        return await tr.show_edit(request, session, screen, rel, {"error": said})
    except Conflict:
        screen.conflict = True
        screen.status = 409
        return await tr.show_edit(request, session, screen, rel)
    except DefinitionError:
        screen.status = 409  # the workflows that use it are listed on the page
        said = _("Workflows use this relationship: change or remove them first.")
        return await tr.show_edit(request, session, screen, rel, {"error": said})
    except NotFound:
        return message(request, session, _("It does not exist (any more)."), 404)
    except XrmError as exc:
        screen.general = explain(exc, _)
        screen.status = 400
        return await tr.show_edit(request, session, screen, rel)
    return RedirectResponse(f"/admin/types/{et.name}?removed=1", status_code=303)
