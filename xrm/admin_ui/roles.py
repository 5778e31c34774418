"""The role screens: read every role, define and edit roles as JSON, with optimistic locking.

A role is a definition like an entity type (CONTRACT §3), so the editor is
the definition itself: the page shows it as JSON, the form sends it back, and
``Registry.apply`` checks it exactly as ``xrm apply`` and ``defineRole`` do.
The form carries the version it was loaded at; if someone saved the role
since, saving is refused with a conflict instead of overwriting their work.
Reading roles is open to every signed-in user (they decide what each user
sees); changing them needs the ``manage_users`` right.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from xrm.admin_ui.auth import admin_form, admin_view, forbidden, may, message, page
from xrm.admin_ui.messages import Shown, explain
from xrm.admin_ui.navigation import Crumb, path_for, trail
from xrm.admin_ui.pages import gettext_for
from xrm.entities.registry import ROLE, Registry
from xrm.errors import Conflict, XrmError
from xrm.platform import sessions
from xrm.schemas.roles import ADMIN_RIGHTS, BUILTIN_ROLES, Role

NEW_ROLE_TEMPLATE: dict[str, Any] = {
    "role": "",
    "title": "",
    "entities": {"*": {"read": "all"}},
    "admin": [],
}


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def _all_roles(request: Request) -> list[Role]:
    defined = _registry(request).current().roles
    return [*BUILTIN_ROLES.values(), *sorted(defined.values(), key=lambda r: r.name)]


def _find(request: Request, name: str) -> Role | None:
    return BUILTIN_ROLES.get(name) or _registry(request).current().roles.get(name)


def _pretty(definition: Any) -> str:
    return json.dumps(definition, indent=2, ensure_ascii=False)


@admin_view
async def roles_page(request: Request, session: sessions.Session) -> Response:
    _ = gettext_for(request, session.locale)
    return page(
        request,
        session,
        "roles.html",
        {
            "roles": _all_roles(request),
            "manager": may(request, session, "manage_users"),
            "crumbs": trail(request, _("Home"), Crumb(_("Roles"))),
        },
    )


@admin_view
async def role_page(request: Request, session: sessions.Session) -> Response:
    name = request.path_params["name"]
    if name == "new":
        if not may(request, session, "manage_users"):
            return forbidden(request, session)
        return _editor(request, session, None, _pretty(NEW_ROLE_TEMPLATE))
    role = _find(request, name)
    if role is None:
        _ = gettext_for(request, session.locale)
        return message(request, session, _("No such role."), 404)
    return _editor(request, session, role, _pretty(dict(role.definition)))


def _editor(
    request: Request,
    session: sessions.Session,
    role: Role | None,
    text: str,
    *,
    version: int | None = None,
    errors: list[Shown] | None = None,
    status: int = 200,
) -> HTMLResponse:
    _ = gettext_for(request, session.locale)
    here = role.name if role is not None else _("New role")
    crumbs = trail(request, _("Home"), Crumb(_("Roles"), path_for(request, "roles")), Crumb(here))
    return page(
        request,
        session,
        "role.html",
        {
            "role": role,
            "text": text,
            "version": version if version is not None else (role.version if role else 0),
            "editable": may(request, session, "manage_users") and not (role and role.builtin),
            "rights": ADMIN_RIGHTS,
            "errors": errors or [],
            "crumbs": crumbs,
        },
        status,
    )


@admin_form
async def save_role(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Apply the posted definition, refusing a stale version; faults are listed by JSON path."""
    if not may(request, session, "manage_users"):
        return forbidden(request, session)
    _ = gettext_for(request, session.locale)
    text = str(form.get("definition") or "")
    editing = str(form.get("name") or "")
    try:
        version = int(str(form.get("version") or "0"))
    except ValueError:
        version = 0
    role = _find(request, editing) if editing else None

    def again(errors: list[Shown], status: int) -> HTMLResponse:
        return _editor(request, session, role, text, version=version, errors=errors, status=status)

    field = _("Definition (JSON)")
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as exc:
        where = _("line %(line)s, column %(column)s") % {"line": exc.lineno, "column": exc.colno}
        return again([Shown(field, f"{_('not valid JSON')} ({where})")], 400)
    except RecursionError:
        return again([Shown(field, _("not valid JSON"))], 400)
    if (
        not isinstance(definition, dict)
        or not isinstance(definition.get("role"), str)
        or "x-xrm" in definition
        or "relationship" in definition
    ):
        # Only roles are saved here: an entity type or a relationship has its own door.
        return again([Shown(field, _('a role definition is a JSON object with "role"'))], 400)
    # Saving under another name makes a new role: it must not exist yet.
    expected = version if definition["role"] == editing else 0

    def apply() -> None:
        _registry(request).apply(
            [definition],
            actor=session.actor,
            channel="admin",
            expected_version=expected,
            kinds={ROLE},
        )

    try:
        await run_in_threadpool(apply)
    except Conflict:
        said = _(
            "Someone else saved this role since you opened it. Your changes are not saved: "
            "reload the page to see theirs, then apply yours again."
        )
        return again([Shown("", said)], 409)
    except XrmError as exc:
        return again(explain(exc, _), 400)
    return RedirectResponse(path_for(request, "role", name=definition["role"]), status_code=303)
