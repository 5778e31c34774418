"""Who is at the admin UI's door: the signed session cookie, and the CSRF checks of its forms.

Two cookies, both HttpOnly, SameSite=Lax, Secure over HTTPS, and signed
with the one secret key: ``xrm_session`` (a server-side session's token) and,
before sign-in, ``xrm_login`` (the sign-in form's CSRF token, checked by
double submission). Every state-changing form carries its token in a hidden
``csrf`` field; a POST without the right one changes nothing.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from xrm.admin_ui.pages import gettext_for, render
from xrm.entities.registry import Registry
from xrm.platform import sessions
from xrm.platform.access import Permissions
from xrm.platform.db import Database
from xrm.platform.keys import sign, unsign

SESSION_COOKIE = "xrm_session"
LOGIN_COOKIE = "xrm_login"
# "/", not "/admin": a signed-in session also opens GraphiQL at /graphql, where it
# counts only together with its CSRF token (``xrm.api.view``).
COOKIE_PATH = "/"


@dataclass(frozen=True, slots=True)
class Door:
    """What the admin routes need to recognise a caller: the database and the signing key."""

    db: Database
    key: bytes

    def set_cookie(self, request: Request, response: Response, name: str, value: str) -> None:
        response.set_cookie(
            name,
            sign(self.key, value, name),
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def clear_cookie(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path=COOKIE_PATH)

    def cookie(self, request: Request, name: str) -> str | None:
        """A cookie's value if we signed it for this name, else None (forged or absent)."""
        raw = request.cookies.get(name)
        return unsign(self.key, raw, name) if raw else None

    async def session(self, request: Request) -> sessions.Session | None:
        """The caller's live session, recording its use at most once a minute."""
        token = self.cookie(request, SESSION_COOKIE)
        if token is None:
            return None
        return await run_in_threadpool(self._session, token)

    def _session(self, token: str) -> sessions.Session | None:
        with self.db.read() as conn:
            found = sessions.find(conn, token)
        if found is not None and found.stale:
            with self.db.write() as conn:
                sessions.touch(conn, found.token_hash)
        return found

    def login_token(self, request: Request) -> str:
        """The sign-in form's CSRF token: the one in the caller's cookie, or a new one."""
        return self.cookie(request, LOGIN_COOKIE) or secrets.token_urlsafe(32)


def same(expected: str | None, given: object) -> bool:
    """A constant-time comparison of a CSRF token with what a form sent."""
    return (
        bool(expected)
        and isinstance(given, str)
        and hmac.compare_digest(str(expected).encode(), given.encode())
    )


def client_address(request: Request) -> str:
    """The address failed sign-ins are counted under (uvicorn resolves trusted proxies)."""
    return request.client.host if request.client else "unknown"


def database(request: Request) -> Database:
    """The application's database (opened in the lifespan of ``create_app``)."""
    db: Database = request.app.state.db
    return db


def may(request: Request, session: sessions.Session, right: str) -> bool:
    """Whether the signed-in user's roles grant an administrative right (``manage_users``...)."""
    registry: Registry = request.app.state.registry
    return Permissions.of(session.actor, registry.current().roles).may(right)


def door_of(request: Request) -> Door:
    """The application's door (made in the lifespan of ``create_app``)."""
    door: Door = request.app.state.admin_door
    return door


async def signed_in(request: Request) -> sessions.Session | Response:
    """The caller's session, or the redirect to the sign-in page that comes back here."""
    session = await door_of(request).session(request)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/admin/login?next={quote(target)}", status_code=303)
    return session


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One entry of the page header's menu."""

    href: str
    label: str


def menu(request: Request, session: sessions.Session) -> list[MenuItem]:
    """The menu for this user: only places their rights let them into."""
    _ = gettext_for(request, session.locale)
    items = [MenuItem("/admin/", _("Home"))]
    if may(request, session, "define_types"):
        items.append(MenuItem("/admin/types", _("Types")))
    if may(request, session, "manage_users"):
        items.append(MenuItem("/admin/users", _("Users")))
    items.append(MenuItem("/admin/roles", _("Roles")))  # every signed-in user may read roles
    if may(request, session, "define_workflows"):
        items.append(MenuItem("/admin/workflows", _("Workflows")))
        items.append(MenuItem("/admin/plugins", _("Plugins")))
    items.append(MenuItem(f"/admin/users/{session.actor.id}", _("My account")))
    return items


def page(
    request: Request,
    session: sessions.Session,
    template: str,
    context: dict[str, Any],
    status: int = 200,
) -> HTMLResponse:
    """A signed-in page: ``template`` with the user, their menu and the session's CSRF token."""
    full = {"csrf": session.csrf, "user": session.actor, "menu": menu(request, session), **context}
    return render(request, template, full, status, locale=session.locale)


def message(request: Request, session: sessions.Session, text: str, status: int) -> HTMLResponse:
    """A page that says one thing (already translated), e.g. why something was refused."""
    return page(request, session, "message.html", {"message": text}, status)


def forbidden(request: Request, session: sessions.Session) -> HTMLResponse:
    """The 403 page for a signed-in user lacking the right for what they asked."""
    _ = gettext_for(request, session.locale)
    return message(request, session, _("You may not do that."), 403)


def csrf_refused(request: Request, session: sessions.Session | None) -> HTMLResponse:
    """The 403 page for a form without its CSRF token (an old tab, or a forged post)."""
    _ = gettext_for(request, session.locale if session else None)
    text = _("This form has expired or did not come from this site. Reload the page and try again.")
    if session is None:
        return render(request, "message.html", {"message": text}, 403)
    return message(request, session, text, 403)


async def signed_form(
    request: Request, right: str | None = None
) -> tuple[sessions.Session, FormData] | Response:
    """The session and the posted form of a signed-in user whose CSRF token matches.

    Anything else gets its answer back: the sign-in redirect, or 403 for a
    missing or wrong token, or for a user without ``right`` (an
    administrative right), before the form can change anything.
    """
    session = await signed_in(request)
    if not isinstance(session, sessions.Session):
        return session
    form = await request.form()
    if not same(session.csrf, form.get("csrf")):
        return csrf_refused(request, session)
    if right is not None and not may(request, session, right):
        return forbidden(request, session)
    return session, form


SignedInView = Callable[[Request, sessions.Session], Awaitable[Response]]
FormView = Callable[[Request, sessions.Session, FormData], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def admin_view(view: SignedInView) -> Endpoint:
    """An endpoint that lets only signed-in users reach ``view(request, session)``.

    The one door check for pages (Django's ``AdminSite.admin_view``): the
    sign-in redirect for anyone else, before the view reads anything.
    """

    @functools.wraps(view)
    async def endpoint(request: Request) -> Response:
        session = await signed_in(request)
        if not isinstance(session, sessions.Session):
            return session
        return await view(request, session)

    return endpoint


def admin_form(view: FormView) -> Endpoint:
    """An endpoint for a form post: ``view(request, session, form)`` only with the right CSRF
    token (see :func:`signed_form`)."""

    @functools.wraps(view)
    async def endpoint(request: Request) -> Response:
        checked = await signed_form(request)
        if isinstance(checked, Response):
            return checked
        return await view(request, *checked)

    return endpoint
