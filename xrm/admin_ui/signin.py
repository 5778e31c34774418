"""Signing in and out of the admin UI, and its home page.

A failed sign-in says only "wrong e-mail or password", whatever was wrong,
and costs the same time; throttling is checked before any password is hashed.
"""

from __future__ import annotations

import logging
import math

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from xrm.admin_ui.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Door,
    client_address,
    csrf_refused,
    door_of,
    page,
    same,
    signed_in,
)
from xrm.admin_ui.navigation import trail
from xrm.admin_ui.pages import gettext_for, language, render
from xrm.admin_ui.record_fields import type_label
from xrm.entities.registry import Registry
from xrm.platform import sessions, throttle
from xrm.platform.access import Permissions
from xrm.platform.identity import Actor, check_password

log = logging.getLogger("xrm.admin")


def _safe_next(value: object) -> str:
    """Only a path inside the admin UI: never another site (``//evil``, ``https://...``)."""
    if (
        isinstance(value, str)
        and value.startswith("/admin/")
        and not any(bad in value for bad in ("//", "\\", "\r", "\n"))
    ):
        return value
    return "/admin/"


def _login_page(
    request: Request, door: Door, *, status: int = 200, error: str | None = None, **form: str
) -> HTMLResponse:
    token = door.login_token(request)
    response = render(
        request,
        "login.html",
        {
            "csrf": token,
            "error": error,
            "email": form.get("email", ""),
            "next": _safe_next(form.get("next") or request.query_params.get("next")),
        },
        status,
    )
    door.set_cookie(request, response, LOGIN_COOKIE, token)
    return response


async def login_form(request: Request) -> Response:
    door = door_of(request)
    if await door.session(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(request, door)


async def login(request: Request) -> Response:
    door = door_of(request)
    form = await request.form()
    email = str(form.get("email") or "").strip()
    password = str(form.get("password") or "")
    next_page = _safe_next(form.get("next"))
    _ = gettext_for(request)
    if not same(door.cookie(request, LOGIN_COOKIE), form.get("csrf")):
        return _login_page(
            request,
            door,
            status=403,
            error=_("This form has expired. Please sign in again."),
            email=email,
            next=next_page,
        )
    address = client_address(request)
    outcome = await run_in_threadpool(_sign_in, door, email, password, address)
    if isinstance(outcome, float):
        page = _login_page(
            request,
            door,
            status=429,
            error=_("Too many failed attempts. Try again in %(seconds)s seconds.")
            % {"seconds": math.ceil(outcome)},
            email=email,
            next=next_page,
        )
        page.headers["Retry-After"] = str(math.ceil(outcome))
        return page
    if outcome is None:
        log.info("failed sign-in for %r from %s", email, address)
        return _login_page(
            request,
            door,
            status=401,
            error=_("Wrong e-mail or password."),
            email=email,
            next=next_page,
        )
    actor, token = outcome
    log.info("%s signed in from %s", actor.email, address)
    response = RedirectResponse(next_page, status_code=303)
    door.set_cookie(request, response, SESSION_COOKIE, token)
    door.clear_cookie(response, LOGIN_COOKIE)
    return response


def _sign_in(
    door: Door, email: str, password: str, address: str
) -> float | tuple[Actor, str] | None:
    """Seconds to wait, (actor, session token) on success, or None for a wrong password.

    The attempt is admitted (and counted) in one transaction before the
    password is hashed, so parallel guesses cannot all slip past the wait.
    """
    with door.db.write() as conn:
        wait = throttle.attempt(conn, email, address)
    if wait is not None:
        return wait.total_seconds()
    with door.db.read() as conn:
        actor = check_password(conn, email, password) if email and password else None
    if actor is None:
        return None
    with door.db.write() as conn:
        throttle.succeeded(conn, email, address)
        return actor, sessions.start(conn, actor, address)


async def logout(request: Request) -> Response:
    door = door_of(request)
    session = await door.session(request)
    form = await request.form()
    if session is None:
        return RedirectResponse("/admin/login", status_code=303)
    if not same(session.csrf, form.get("csrf")):
        return csrf_refused(request, session)

    def end() -> None:
        with door.db.write() as conn:
            sessions.end(conn, session.token_hash)

    await run_in_threadpool(end)
    response = RedirectResponse("/admin/login", status_code=303)
    door.clear_cookie(response, SESSION_COOKIE)
    return response


async def home(request: Request) -> Response:
    session = await signed_in(request)
    if not isinstance(session, sessions.Session):
        return session
    registry: Registry = request.app.state.registry
    catalog = await run_in_threadpool(registry.current)
    lang = language(request, session.locale)
    readable = Permissions.of(session.actor, catalog.roles)
    types = sorted(
        (
            {"name": et.name, "label": type_label(et, lang)}
            for et in catalog.types.values()
            if not et.system and readable.scope(et.name, "read") != "none"
        ),
        key=lambda t: t["label"],
    )
    _ = gettext_for(request, session.locale)
    context = {"types": types, "crumbs": trail(request, _("Home"))}
    return page(request, session, "home.html", context)


async def admin_root(request: Request) -> Response:
    return RedirectResponse("/admin/", status_code=307)
