"""The home page, ``/admin/``: a dashboard of what the signed-in user may read.

Three parts, each read through the record service as the user (channel
``admin``), in one read transaction: the types with their record counts (one
statement for all), the latest changes from the audit trail (said in words as
a record's history says them, each record by its name with a link), and the
charts of ``dashboard_charts.CHARTS`` that the catalog and the user's rights
allow. A type the user may not read is in none of them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from xrm.admin_ui import record_views as rv
from xrm.admin_ui.auth import admin_view, page
from xrm.admin_ui.dashboard_charts import charts_for
from xrm.admin_ui.navigation import trail
from xrm.admin_ui.pages import gettext_for, language
from xrm.admin_ui.record_fields import display_field, number_text, type_label
from xrm.admin_ui.record_history import HistoryLine, history_lines, referenced_ids
from xrm.admin_ui.records import base_of, in_session
from xrm.entities.records import RecordSession
from xrm.platform import sessions

Gettext = Callable[[str], str]
RECENT = 20  # changes listed under "Recent activity"


@dataclass(frozen=True, slots=True)
class TypeCount:
    """A type on the dashboard: its name for links and tests, its label, its count in words."""

    name: str
    label: str
    count: int
    shown: str


@dataclass(frozen=True, slots=True)
class Activity:
    """One change in the recent activity list."""

    entity: str
    type_label: str
    name: str
    href: str | None  # None once the record is gone (deleted, erased)
    line: HistoryLine


def type_counts(records: RecordSession, lang: str) -> list[TypeCount]:
    """The types the user may read, by label, with their record counts."""
    counts = records.counts(records.readable_types())
    found = [
        TypeCount(name, type_label(records.catalog.types[name], lang), n, number_text(n, lang))
        for name, n in counts.items()
    ]
    return sorted(found, key=lambda t: t.label)


def recent_activity(records: RecordSession, lang: str, _: Gettext) -> list[Activity]:
    """The latest changes the user may see, newest first, each said in words."""
    entries = records.recent(RECENT)
    by_type: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_type[entry["entity"]].append(entry)
    names: dict[str, str] = {}  # record id -> name, for the records and what they refer to
    wanted: dict[str, set[str]] = defaultdict(set)
    for entity, listed in by_type.items():
        wanted[entity].update(e["record_id"] for e in listed)
        for other, ids in referenced_ids(records.catalog.types[entity], listed).items():
            wanted[other].update(ids)
    names = rv.names_of(records, wanted, _)
    out = []
    for entry in entries:
        entity = entry["entity"]
        et = records.catalog.types[entity]
        record_id = entry["record_id"]
        exists = record_id in names
        name = names.get(record_id) or _gone_name(et, entry, records, _)
        line = history_lines(et, [entry], lang, _, names)[0]
        if entry["action"] == "create":  # every field of a new record: too much for a summary
            line = dataclasses.replace(line, changes=())
        out.append(
            Activity(
                entity=entity,
                type_label=type_label(et, lang),
                name=name,
                href=f"{base_of(entity)}/{record_id}" if exists else None,
                line=line,
            )
        )
    return out


def _gone_name(et: Any, entry: Mapping[str, Any], records: RecordSession, _: Gettext) -> str:
    """A deleted record's name, from the values its delete entry kept; else words for it."""
    shown = display_field(et, records.hidden(et.name))
    changes = entry.get("changes")
    if shown and isinstance(changes, Mapping):
        pair = changes.get(shown)
        if isinstance(pair, Sequence) and not isinstance(pair, str) and pair and pair[0]:
            return str(pair[0])
    return _("a record that no longer exists")


@admin_view
async def home(request: Request, session: sessions.Session) -> Response:
    lang = language(request, session.locale)
    _ = gettext_for(request, session.locale)
    today = dt.datetime.now(dt.UTC).date()

    def load(records: RecordSession) -> dict[str, Any]:
        return {
            "types": type_counts(records, lang),
            "activity": recent_activity(records, lang, _),
            "charts": charts_for(records, lang, _, today),
        }

    found = await in_session(request, session, load, write=False)
    return page(request, session, "home.html", {**found, "crumbs": trail(request, _("Home"))})
