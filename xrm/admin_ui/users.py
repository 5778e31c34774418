"""The user screens: users and their roles (right ``manage_users``), and API tokens.

Anyone signed in manages their own tokens on their own page; user managers
also create users, enable and disable them, and manage everyone's tokens. A
new token is shown once, on the page that answers its creation, and never
again. Every change is audited with channel ``admin``.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui import i18n
from xrm.admin_ui.auth import database, may, signed_form, signed_in
from xrm.admin_ui.pages import forbidden, gettext_for, render
from xrm.entities.registry import Registry
from xrm.errors import XrmError
from xrm.platform import audit, sessions
from xrm.platform.identity import (
    Actor,
    UserInfo,
    create_token,
    create_user,
    list_tokens,
    list_users,
    revoke_token,
    set_active,
    token_id,
)
from xrm.schemas.roles import BUILTIN_ROLES

MIN_PASSWORD_LENGTH = 8


def _role_names(request: Request) -> list[str]:
    registry: Registry = request.app.state.registry
    return sorted({*BUILTIN_ROLES, *registry.current().roles})


async def users_page(request: Request) -> Response:
    session = await signed_in(request)
    if not isinstance(session, sessions.Session):
        return session
    if not may(request, session, "manage_users"):
        return forbidden(request, session)
    return await _users(request, session)


async def _users(
    request: Request,
    session: sessions.Session,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    def load() -> list[UserInfo]:
        with database(request).read() as conn:
            return list_users(conn)

    users = await run_in_threadpool(load)
    return render(
        request,
        "users.html",
        {
            "csrf": session.csrf,
            "user": session.actor,
            "users": users,
            "roles": _role_names(request),
            "languages": i18n.language_names(),
            "error": error,
            "form": form or {},
        },
        status=status,
        locale=session.locale,
    )


async def create_user_form(request: Request) -> Response:
    checked = await signed_form(request, "manage_users")
    if isinstance(checked, Response):
        return checked
    session, form = checked
    _ = gettext_for(request, session.locale)
    email = str(form.get("email") or "").strip()
    name = str(form.get("name") or "").strip() or None
    role = str(form.get("role") or "")
    password = str(form.get("password") or "")
    locale = str(form.get("locale") or "").strip() or None
    shown = {"email": email, "name": name or "", "role": role, "locale": locale or ""}
    if role not in _role_names(request):
        return await _users(request, session, error=_("Choose a role."), form=shown, status=400)
    if password and len(password) < MIN_PASSWORD_LENGTH:
        error = _("A password needs at least %(n)s characters.") % {"n": MIN_PASSWORD_LENGTH}
        return await _users(request, session, error=error, form=shown, status=400)

    def create() -> str:
        with database(request).write() as conn:
            made = create_user(
                conn, email, (role,), name=name, password=password or None, locale=locale
            )
            assert made.id is not None
            changes = {"email": [None, made.email], "roles": [None, [role]]}
            if locale:
                changes["locale"] = [None, locale]
            audit.write(
                conn, [audit.entry(session.actor, "admin", "create", "user", made.id, changes)]
            )
            return made.id

    try:
        user_id = await run_in_threadpool(create)
    except XrmError as exc:
        return await _users(request, session, error=exc.message, form=shown, status=400)
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


async def _user(
    request: Request, session: sessions.Session, user_id: str, *, new_token: str | None = None
) -> Response:
    manager = may(request, session, "manage_users")
    if not manager and user_id != session.actor.id:
        return forbidden(request, session)

    def load() -> tuple[UserInfo | None, list[Any]]:
        with database(request).read() as conn:
            found = list_users(conn, user_id)
            if not found:
                return None, []
            return found[0], list_tokens(conn, found[0].email)

    shown, tokens = await run_in_threadpool(load)
    if shown is None:
        _ = gettext_for(request, session.locale)
        return render(
            request,
            "message.html",
            {"csrf": session.csrf, "user": session.actor, "message": _("No such user.")},
            status=404,
            locale=session.locale,
        )
    return render(
        request,
        "user.html",
        {
            "csrf": session.csrf,
            "user": session.actor,
            "shown": shown,
            "tokens": tokens,
            "manager": manager,
            "itself": shown.id == session.actor.id,
            "new_token": new_token,
        },
        locale=session.locale,
    )


async def user_page(request: Request) -> Response:
    session = await signed_in(request)
    if not isinstance(session, sessions.Session):
        return session
    return await _user(request, session, request.path_params["user_id"])


async def _checked_post(request: Request) -> tuple[sessions.Session, Any] | Response:
    """The session and form of a POST to a user's page, after the CSRF and rights checks."""
    checked = await signed_form(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    user_id = request.path_params["user_id"]
    if not may(request, session, "manage_users") and user_id != session.actor.id:
        return forbidden(request, session)
    return session, form


async def create_token_form(request: Request) -> Response:
    checked = await _checked_post(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    user_id = request.path_params["user_id"]
    name = str(form.get("name") or "").strip() or None
    try:
        days = float(str(form.get("expires_in") or 0)) or None
    except ValueError:
        days = None
    if days is not None and days <= 0:
        days = None

    def create() -> str | None:
        with database(request).write() as conn:
            found = list_users(conn, user_id)
            if not found:
                return None
            owner = found[0]
            token = create_token(conn, Actor(owner.id, owner.email, owner.roles), name, days)
            changes = {"name": [None, name], "user": [None, owner.email]}
            made = token_id(conn, token)
            audit.write(
                conn, [audit.entry(session.actor, "admin", "create", "token", made, changes)]
            )
            return token

    token = await run_in_threadpool(create)
    return await _user(request, session, user_id, new_token=token)


async def revoke_token_form(request: Request) -> Response:
    checked = await _checked_post(request)
    if isinstance(checked, Response):
        return checked
    session, _form = checked
    user_id = request.path_params["user_id"]
    token_id = request.path_params["token_id"]

    def revoke() -> None:
        with database(request).write() as conn:
            found = list_users(conn, user_id)
            if not found or token_id not in {t.id for t in list_tokens(conn, found[0].email)}:
                return  # not this user's token: nothing to do here
            info = revoke_token(conn, token_id)
            changes = {"revoked": [None, True], "user": [None, info.user_email]}
            audit.write(
                conn, [audit.entry(session.actor, "admin", "revoke", "token", info.id, changes)]
            )

    await run_in_threadpool(revoke)
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


async def set_active_form(request: Request) -> Response:
    checked = await _checked_post(request)
    if isinstance(checked, Response):
        return checked
    session, form = checked
    user_id = request.path_params["user_id"]
    if not may(request, session, "manage_users") or user_id == session.actor.id:
        return forbidden(request, session)  # nobody disables themselves
    active = form.get("active") == "1"

    def change() -> None:
        with database(request).write() as conn:
            found = list_users(conn, user_id)
            if not found or found[0].active == active:
                return
            set_active(conn, user_id, active)
            changes = {"active": [not active, active]}
            audit.write(
                conn, [audit.entry(session.actor, "admin", "update", "user", user_id, changes)]
            )

    await run_in_threadpool(change)
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)
