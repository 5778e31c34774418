"""Who is at the admin UI's door: the signed session cookie, and the CSRF checks of its forms.

Two cookies, both HttpOnly, SameSite=Lax, Secure over HTTPS, and signed
with the one secret key: ``xrm_session`` (a server-side session's token) and,
before sign-in, ``xrm_login`` (the sign-in form's CSRF token, checked by
double submission). Every state-changing form carries its token in a hidden
``csrf`` field; a POST without the right one changes nothing.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from xrm.admin_ui.pages import forbidden
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


CSRF_REFUSED = "Forbidden: the form's CSRF token is missing or wrong."


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
        return HTMLResponse(CSRF_REFUSED, 403)
    if right is not None and not may(request, session, right):
        return forbidden(request, session)
    return session, form
