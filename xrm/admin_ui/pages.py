"""Rendering admin pages: one Jinja2 environment per language, built once and reused.

Every page goes out with ``no-store`` (pages show personal data and one-time
tokens), ``X-Frame-Options: DENY`` and the ``Content-Language`` it was
rendered in.
"""

from __future__ import annotations

from functools import cache, partial
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from xrm.admin_ui import i18n
from xrm.admin_ui.navigation import path_for

_TEMPLATES = Path(__file__).with_name("templates")


@cache
def _environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


def language(request: Request, locale: str | None = None) -> str:
    """The page language for this request (the user's ``locale`` first)."""
    return i18n.negotiate(locale, request.headers.get("accept-language"))


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status: int = 200,
    locale: str | None = None,
) -> HTMLResponse:
    """The template ``name`` rendered in the request's language."""
    lang = language(request, locale)
    url = partial(path_for, request)  # templates name routes: url("records", entity="customer")
    html = _environment(lang).get_template(name).render(lang=lang, url=url, **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Vary"] = "Accept-Language, Cookie, HX-Request"
    response.headers["Content-Language"] = lang
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def gettext_for(request: Request, locale: str | None = None) -> Any:
    """``gettext`` in the request's language, for messages made in Python."""
    return i18n.translations(language(request, locale)).gettext
