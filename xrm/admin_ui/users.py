"""The user screens: users, their roles and settings (right ``manage_users``), and API tokens.

Anyone signed in sees their own account page: they change their own name
and language there and manage their own tokens. User managers also create
users, change anyone's roles, name, language and password, deactivate and
reactivate them, and manage everyone's tokens. Every change goes through
the identity service (:class:`xrm.platform.accounts.Accounts`), which checks
it and writes its audit row with channel ``admin``; a new token is shown
once, on the page that answers its creation, and never again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from xrm.admin_ui import i18n
from xrm.admin_ui.auth import (
    FormView,
    admin_form,
    admin_view,
    database,
    forbidden,
    may,
    message,
    page,
)
from xrm.admin_ui.messages import Shown, explain
from xrm.admin_ui.navigation import Crumb, path_for, trail
from xrm.admin_ui.pages import gettext_for, language
from xrm.admin_ui.user_history import history_lines, language_name, role_labels
from xrm.entities.registry import Registry
from xrm.errors import Forbidden, NotFound, XrmError
from xrm.platform import sessions
from xrm.platform.accounts import UNSET, Accounts, UserChange
from xrm.platform.identity import list_users

T = TypeVar("T")


def _accounts_call(
    request: Request, session: sessions.Session, work: Callable[[Accounts], T], *, write: bool
) -> T:
    """Run ``work`` with the identity service, as the signed-in user, in one transaction."""
    registry: Registry = request.app.state.registry
    db = database(request)
    with db.write() if write else db.read() as conn:
        accounts = Accounts(conn, session.actor, "admin", defined_roles=registry.current().roles)
        return work(accounts)


async def _run(
    request: Request, session: sessions.Session, work: Callable[[Accounts], T], write: bool = False
) -> T:
    return await run_in_threadpool(_accounts_call, request, session, work, write=write)


def _field_labels(request: Request, session: sessions.Session) -> Callable[[str], str]:
    _ = gettext_for(request, session.locale)
    labels = {
        "email": _("E-mail"),
        "name": _("Name"),
        "locale": _("Language"),
        "roles": _("Roles"),
        "password": _("Password"),
        "active": _("Status"),
        "expiresIn": _("Expires in days (empty: never)"),
    }
    return lambda field: labels.get(field, field)


def _errors(request: Request, session: sessions.Session, exc: XrmError) -> list[Shown]:
    _ = gettext_for(request, session.locale)
    return explain(exc, _, _field_labels(request, session))


def _chosen_roles(form: FormData) -> list[str]:
    """The roles ticked in a form (``roles`` checkboxes; one ``role`` from older forms)."""
    return [str(r) for r in (*form.getlist("roles"), *form.getlist("role")) if str(r).strip()]


# --- the list of users --------------------------------------------------------------------------


@admin_view
async def users_page(request: Request, session: sessions.Session) -> Response:
    return await _users(request, session)


async def _users(
    request: Request,
    session: sessions.Session,
    *,
    errors: list[Shown] | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    def load(accounts: Accounts) -> tuple[list[Any], list[str]]:
        if not accounts.manager:
            raise Forbidden("manage_users")
        return list_users(accounts.conn), accounts.role_names()

    try:
        users, roles = await _run(request, session, load)
    except Forbidden:
        return forbidden(request, session)
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)
    return page(
        request,
        session,
        "users.html",
        {
            "crumbs": trail(request, _("Home"), Crumb(_("Users"))),
            "users": users,
            "roles": roles,
            "role_label": role_labels(request.app.state.registry, lang),
            "languages": i18n.language_names(),
            "errors": errors or [],
            "form": form or {"roles": []},
        },
        status,
    )


@admin_form
async def create_user_form(request: Request, session: sessions.Session, form: FormData) -> Response:
    if not may(request, session, "manage_users"):
        return forbidden(request, session)
    email = str(form.get("email") or "").strip()
    name = str(form.get("name") or "").strip() or None
    roles = _chosen_roles(form)
    password = str(form.get("password") or "")
    locale = str(form.get("locale") or "").strip() or None
    shown = {"email": email, "name": name or "", "roles": roles, "locale": locale or ""}

    def create(accounts: Accounts) -> str:
        made = accounts.create_user(
            email, roles, name=name, password=password or None, locale=locale
        )
        return made.id

    try:
        user_id = await _run(request, session, create, write=True)
    except XrmError as exc:
        errors = _errors(request, session, exc)
        return await _users(request, session, errors=errors, form=shown, status=400)
    return RedirectResponse(path_for(request, "user", user_id=user_id), status_code=303)


# --- one user's page ----------------------------------------------------------------------------


async def _user(
    request: Request,
    session: sessions.Session,
    user_id: str,
    *,
    new_token: str | None = None,
    errors: list[Shown] | None = None,
    errors_at: str = "settings",
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """The account page; ``errors`` are shown in its card ``errors_at`` (status, settings,
    tokens), next to what they are about."""

    def load(accounts: Accounts) -> dict[str, Any]:
        shown = accounts.user(user_id)
        return {
            "shown": shown,
            "tokens": accounts.tokens(user_id),
            "history": accounts.history(user_id),
            "roles": accounts.role_names(),
            "manager": accounts.manager,
        }

    _ = gettext_for(request, session.locale)
    try:
        found = await _run(request, session, load)
    except NotFound:
        return message(request, session, _("No such user."), 404)
    except Forbidden:
        return forbidden(request, session)
    lang = language(request, session.locale)
    role_label = role_labels(request.app.state.registry, lang)
    shown = found["shown"]
    steps = [Crumb(shown.email)]
    if found["manager"]:
        steps.insert(0, Crumb(_("Users"), path_for(request, "users")))
    languages = i18n.language_names()
    if shown.locale and shown.locale not in {code for code, _label in languages}:
        languages.append((shown.locale, language_name(shown.locale, lang)))
    return page(
        request,
        session,
        "user.html",
        {
            **found,
            "itself": shown.id == session.actor.id,
            "new_token": new_token,
            "role_label": role_label,
            "language_label": language_name(shown.locale, lang) if shown.locale else None,
            "languages": languages,
            "history_lines": history_lines(found["history"], _, role_label, lang),
            "errors": errors or [],
            "errors_at": errors_at,
            "form": form
            or {"name": shown.name or "", "locale": shown.locale or "", "roles": shown.roles},
            "saved": request.query_params.get("saved") == "1",
            "crumbs": trail(request, _("Home"), *steps),
        },
        status,
    )


@admin_view
async def user_page(request: Request, session: sessions.Session) -> Response:
    return await _user(request, session, request.path_params["user_id"])


def _visible_user(view: FormView) -> FormView:
    """A form post to a user's page, refused before anything is read when the signed-in
    user may not see that page at all (the identity service decides the rest)."""

    @functools.wraps(view)
    async def checked(request: Request, session: sessions.Session, form: FormData) -> Response:
        def visible(accounts: Accounts) -> bool:
            return accounts.manager or request.path_params["user_id"] == session.actor.id

        if not await _run(request, session, visible):
            return forbidden(request, session)
        return await view(request, session, form)

    return checked


@admin_form
@_visible_user
async def update_user_form(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Save the account form: name and language; roles and password for user managers."""
    user_id = request.path_params["user_id"]
    roles = _chosen_roles(form) if form.get("roles_shown") == "1" else None
    password = str(form.get("password") or "")
    name = str(form.get("name") or "").strip()
    locale = str(form.get("locale") or "").strip()
    change = UserChange(
        name=name or None,
        locale=locale or None,
        roles=roles if roles is not None else UNSET,
        password=password if password else UNSET,
    )

    def update(accounts: Accounts) -> None:
        accounts.update_user(user_id, change)

    try:
        await _run(request, session, update, write=True)
    except Forbidden:
        return forbidden(request, session)
    except XrmError as exc:
        shown = {"name": name, "locale": locale, "roles": roles or []}
        errors = _errors(request, session, exc)
        return await _user(request, session, user_id, errors=errors, form=shown, status=400)
    return RedirectResponse(
        path_for(request, "user", user_id=user_id) + "?saved=1", status_code=303
    )


@admin_form
@_visible_user
async def set_active_form(request: Request, session: sessions.Session, form: FormData) -> Response:
    """Deactivate (their sessions end, their tokens stop working) or reactivate a user."""
    user_id = request.path_params["user_id"]
    change = UserChange(active=form.get("active") == "1")

    def update(accounts: Accounts) -> None:
        accounts.update_user(user_id, change)

    try:
        await _run(request, session, update, write=True)
    except Forbidden:
        return forbidden(request, session)
    except XrmError as exc:
        errors = _errors(request, session, exc)
        return await _user(request, session, user_id, errors=errors, errors_at="status", status=400)
    return RedirectResponse(path_for(request, "user", user_id=user_id), status_code=303)


# --- tokens -------------------------------------------------------------------------------------


@admin_form
@_visible_user
async def create_token_form(
    request: Request, session: sessions.Session, form: FormData
) -> Response:
    user_id = request.path_params["user_id"]
    name = str(form.get("name") or "").strip() or None
    try:
        days = float(str(form.get("expires_in") or 0)) or None
    except ValueError:
        days = None

    def create(accounts: Accounts) -> str:
        token, _info = accounts.create_token(user_id, name, days)
        return token

    try:
        token = await _run(request, session, create, write=True)
    except Forbidden:
        return forbidden(request, session)
    except XrmError as exc:
        errors = _errors(request, session, exc)
        return await _user(request, session, user_id, errors=errors, errors_at="tokens", status=400)
    return await _user(request, session, user_id, new_token=token)


@admin_form
@_visible_user
async def revoke_token_form(
    request: Request, session: sessions.Session, form: FormData
) -> Response:
    user_id = request.path_params["user_id"]
    token_id = request.path_params["token_id"]

    def revoke(accounts: Accounts) -> None:
        accounts.revoke_token(token_id, user_id=user_id)

    # Not this user's token (or not one this user may touch): nothing to do here.
    with suppress(NotFound, Forbidden):
        await _run(request, session, revoke, write=True)
    return RedirectResponse(path_for(request, "user", user_id=user_id), status_code=303)
