"""The search over all records, ``/admin/search?q=``: the header's search box on every page.

It looks for the text in the display field (``x-xrm.display``, else the first
text field) of every entity type the signed-in user may read, through the
record service as that user, so the same access rules hold as everywhere
(types, rows in their scope, hidden fields). One query per type, each asking
for one page of at most ``PER_TYPE`` names and whether there are more; the
results come grouped by type, under the type's label in the page's language,
with a link to the type's list searched for the same text when there are
more. The text is matched as typed (``%`` and ``_`` are no wildcards),
ignoring ASCII case, like the lists' own search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from xrm.admin_ui.auth import admin_view, page
from xrm.admin_ui.navigation import Crumb, path_for, trail
from xrm.admin_ui.pages import gettext_for, language
from xrm.admin_ui.record_fields import display_field, record_name, type_label
from xrm.admin_ui.records import in_session
from xrm.entities.records import RecordSession
from xrm.errors import ValidationFailed
from xrm.platform import sessions

Gettext = Callable[[str], str]

PER_TYPE = 5
MAX_LENGTH = 200  # longer text is no name anyone types; the page says so instead of searching


@dataclass(frozen=True, slots=True)
class Group:
    """The matches of one type: their names and addresses, and the type's list if there are more."""

    entity: str
    label: str
    hits: list[tuple[str, str]]  # (address, name)
    more_href: str | None


def find(records: RecordSession, q: str, lang: str, _: Gettext, base: str) -> list[Group]:
    """Every readable type's records whose display field holds ``q``, at most ``PER_TYPE`` each."""
    groups: list[Group] = []
    for et in records.catalog.types.values():
        if et.system or records.permissions.scope(et.name, "read") == "none":
            continue
        hidden = records.hidden(et.name)
        shown = display_field(et, hidden)
        if shown is None:
            continue
        try:
            found = records.query(
                et.name,
                filter={shown: {"contains": q}},
                order_by=[{shown: "ASC"}],
                first=PER_TYPE + 1,
                with_total=False,
                fields=frozenset({shown}),
            )
        except ValidationFailed:  # text the field can never hold: no match here
            continue
        if not found.items:
            continue
        listing = f"{base}/{et.name}"
        hits = [
            (f"{listing}/{r['id']}", record_name(et, r, _, hidden)) for r in found.items[:PER_TYPE]
        ]
        more = f"{listing}?{urlencode({'q': q})}" if len(found.items) > PER_TYPE else None
        groups.append(Group(et.name, type_label(et, lang), hits, more))
    return sorted(groups, key=lambda g: g.label)


@admin_view
async def search_page(request: Request, session: sessions.Session) -> Response:
    """``GET /admin/search?q=``: the matches, grouped by type; an empty box asks for text."""
    _ = gettext_for(request, session.locale)
    lang = language(request, session.locale)
    q = (request.query_params.get("q") or "").strip()
    error = ""
    groups: list[Group] = []
    if len(q) > MAX_LENGTH:
        error = _("Type at most %(n)s characters to search for.") % {"n": MAX_LENGTH}
    elif q and "\x00" not in q:  # stored text holds no NUL, so nothing would match
        base = path_for(request, "records", entity="_").rsplit("/", 1)[0]
        groups = await in_session(
            request, session, lambda records: find(records, q, lang, _, base), write=False
        )
    context = {
        "q": q,
        "search_q": q[:MAX_LENGTH],
        "groups": groups,
        "error": error,
        "crumbs": trail(request, _("Home"), Crumb(_("Search"))),
    }
    return page(request, session, "search.html", context)
