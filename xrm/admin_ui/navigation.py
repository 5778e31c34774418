"""Where a page sits: the breadcrumb trail above it, and whether htmx asked for part of it.

Every signed-in page shows a trail from Home to itself (Home › Customers ›
Acme Corp), built from the named routes of ``routes.py`` so that no template
spells an ``/admin`` address by hand. The last crumb is the page itself and
has no link (``aria-current="page"``).

htmx (``static/`` + ``vendor.py``) sends ``HX-Request: true`` when it fetches
a page to update part of the one on screen; such a request gets only that
part (a list without its page around it). A history restore
(``HX-History-Restore-Request``) and every plain request get the whole page,
so each address still opens on its own, bookmarked or without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request


@dataclass(frozen=True, slots=True)
class Crumb:
    """One step of the trail: its label (translated) and address (None for the page itself)."""

    label: str
    href: str | None = None


def path_for(request: Request, name: str, /, **params: Any) -> str:
    """The path of the named route (``records``, ``record``...) with its parameters filled."""
    return str(request.app.url_path_for(name, **{k: str(v) for k, v in params.items()}))


def trail(request: Request, home: str, *steps: Crumb) -> list[Crumb]:
    """Home, then ``steps``; the last step is shown as the current page, without a link."""
    crumbs = [Crumb(home, path_for(request, "home")), *steps]
    last = crumbs[-1]
    crumbs[-1] = Crumb(last.label, None)
    return crumbs


def wants_fragment(request: Request) -> bool:
    """Whether htmx asked for part of a page (not a history restore, which needs it whole)."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )
