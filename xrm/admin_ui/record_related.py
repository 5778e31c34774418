"""A record's related records, in tabs: each to-many field of its type, a page at a time.

A to-many field is either the other side of a reference (a customer's
contracts) or one side of a many-to-many relationship (a contract's
contacts, with the link's attributes). Each gets a tab listing its records
by name, ``PER_TAB`` at a time; "More" follows the record service's keyset
cursor of that tab alone (``?rel.<field>.after=<cursor>``), so every tab keeps
its own place in the address and no count is made. Each tab is read with
``children``, one query on the indexed column, as the signed-in user: types
they may not read have no tab, and rows outside their scope are not listed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from xrm.admin_ui.record_fields import (
    Input,
    display_field,
    field_label,
    in_language,
    record_name,
    shown_value,
    type_label,
)
from xrm.admin_ui.record_links import LinkState, attribute_inputs
from xrm.admin_ui.record_views import filter_param, record_choices
from xrm.entities.records import RecordSession
from xrm.errors import ValidationFailed
from xrm.schemas.model import EntityType, Relationship

Gettext = Callable[[str], str]

PER_TAB = 10


def after_param(key: str) -> str:
    """The address parameter holding a tab's cursor."""
    return f"rel.{key}.after"


@dataclass(slots=True)
class Linked:
    """One related record in a tab: its page, its name, and a link's attributes in words."""

    id: str
    href: str
    name: str
    attributes: list[tuple[str, str]] = field(default_factory=list)  # (label, value shown)
    values: dict[str, Any] = field(default_factory=dict)  # the link's stored attributes
    inputs: list[Input] = field(default_factory=list)  # the link's attributes, to change them
    open: bool = False  # its change form comes back refused


@dataclass(slots=True)
class Tab:
    key: str  # the to-many field's name on the record's type
    label: str
    entity: str  # the type of the records listed
    rows: list[Linked]
    more_href: str | None  # the tab's next page
    first_href: str | None  # back to the tab's first page
    all_href: str | None = None  # the list of them all, narrowed to this record (references)
    new_href: str | None = None  # a new one referring to this record already (references)
    relationship: Relationship | None = None  # set for a many-to-many tab
    outgoing: bool = True  # whether the record is the relationship's ``from`` side
    note: str = ""  # e.g. "that page no longer exists"
    extra: dict[str, Any] = field(default_factory=dict)  # what the link forms need
    may_link: bool = False
    new_inputs: list[Input] = field(default_factory=list)  # a new link's attributes
    options: list[tuple[str, str]] = field(default_factory=list)  # records to link (id, name)
    search: bool = False  # too many to list: the name is typed
    picker: str = ""  # where typed names are looked up
    other: str = ""  # the record chosen or typed in a refused form
    other_error: str = ""
    open_new: bool = False


def _href(path: str, params: Mapping[str, str], key: str, cursor: str | None) -> str:
    """This page's address with one tab's cursor changed, the other tabs' kept."""
    kept = {k: v for k, v in params.items() if k.startswith("rel.") and k != after_param(key)}
    if cursor:
        kept[after_param(key)] = cursor
    query = urlencode(kept)
    return (f"{path}?{query}" if query else path) + f"#rel-{key}"


def _page(
    session: RecordSession,
    et: EntityType,
    key: str,
    other: EntityType,
    record_id: str,
    after: str | None,
) -> tuple[Any, str]:
    """A page of the tab's records by name; an unusable cursor starts again from the top."""
    hidden = session.hidden(other.name)
    shown = display_field(other, hidden)
    order = [{shown: "ASC"}] if shown else [{"updated_at": "DESC"}]
    fields = frozenset({shown}) if shown else frozenset()

    def read(cursor: str | None) -> Any:
        return session.children(
            et.name, key, [record_id], order_by=order, first=PER_TAB, after=cursor, fields=fields
        )[record_id]

    if after:
        try:
            return read(after), ""
        except ValidationFailed:
            return read(None), "stale"
    return read(None), ""


def tabs(
    session: RecordSession,
    et: EntityType,
    record: Mapping[str, Any],
    params: Mapping[str, str],
    path: str,
    lang: str,
    _: Gettext,
    state: LinkState | None = None,
) -> list[Tab]:
    """Every to-many field of ``et`` the user may read, each with a page of its records; the
    many-to-many ones with their link forms when the user may change both sides (``state``:
    a refused link form to show again)."""
    out: list[Tab] = []
    record_id = str(record["id"])
    # A relationship between records of one type has two tabs picking from the same records:
    # they share one read of the choices.
    choices: dict[str, tuple[list[tuple[str, str]], bool]] = {}
    for key, inverse in session.catalog.inverses.get(et.name, {}).items():
        other = session.catalog.entity(inverse.entity)
        prop = other.properties[inverse.property]
        if (
            other.system
            or prop.name in session.hidden(other.name)
            or session.permissions.scope(other.name, "read") == "none"
        ):
            continue
        label = in_language((prop.schema.get("x-xrm-ref") or {}).get("inverseLabel"), lang, "")
        if not label:
            label = f"{type_label(other, lang)} ({field_label(prop, lang)})"
        tab = _tab(session, et, key, other, record_id, params, path, label, _)
        base = f"/admin/records/{other.name}"
        tab.all_href = f"{base}?{urlencode({filter_param(prop): record_id})}"
        if session.permissions.scope(other.name, "create") != "none":
            tab.new_href = f"{base}/new?{urlencode({prop.name: record_id})}"
        out.append(tab)
    for key, link in session.catalog.links.get(et.name, {}).items():
        other = session.catalog.entity(link.other)
        if other.system or session.permissions.scope(other.name, "read") == "none":
            continue
        rel = session.catalog.relationships[link.relationship]
        labels = rel.definition.get("fromLabel" if link.outgoing else "toLabel")
        label = in_language(labels, lang, type_label(other, lang))
        tab = _tab(session, et, key, other, record_id, params, path, label, _)
        tab.relationship, tab.outgoing = rel, link.outgoing
        mine = state if state is not None and state.key == key else None
        tab.may_link = all(
            session.permissions.scope(name, "update") != "none" for name in (et.name, other.name)
        )
        for row, values in zip(tab.rows, tab.extra.pop("attributes"), strict=True):
            row.values = dict(values or {})
            row.attributes = [
                (field_label(p, lang), shown_value(p, row.values.get(p.name), lang, _))
                for p in rel.properties.values()
            ]
            if tab.may_link:
                refused = mine is not None and mine.editing == row.id
                row.inputs = attribute_inputs(
                    rel,
                    row.values,
                    lang,
                    _,
                    typed=mine.typed if refused and mine else None,
                    errors=mine.errors if refused and mine else None,
                )
                row.open = refused
        if tab.may_link:
            new = mine is not None and not mine.editing
            tab.new_inputs = attribute_inputs(
                rel,
                {p.name: p.default for p in rel.properties.values() if p.has_default},
                lang,
                _,
                typed=mine.typed if new and mine else None,
                errors=mine.errors if new and mine else None,
            )
            if other.name not in choices:
                choices[other.name] = record_choices(session, other, _)
            tab.options, tab.search = choices[other.name]
            tab.picker = f"/admin/records/{other.name}" if tab.search else ""
            if new and mine:
                tab.other, tab.other_error, tab.open_new = (
                    mine.other,
                    mine.errors.get("other", ""),
                    True,
                )
        out.append(tab)
    return out


def _tab(
    session: RecordSession,
    et: EntityType,
    key: str,
    other: EntityType,
    record_id: str,
    params: Mapping[str, str],
    path: str,
    label: str,
    _: Gettext,
) -> Tab:
    after = params.get(after_param(key)) or None
    page, stale = _page(session, et, key, other, record_id, after)
    hidden = session.hidden(other.name)
    base = f"/admin/records/{other.name}"
    rows = [
        Linked(str(r["id"]), f"{base}/{r['id']}", record_name(other, r, _, hidden))
        for r in page.items
    ]
    return Tab(
        key=key,
        label=label,
        entity=other.name,
        rows=rows,
        more_href=_href(path, params, key, page.end_cursor) if page.has_next_page else None,
        first_href=_href(path, params, key, None) if after and not stale else None,
        note=_("That page no longer exists; here is the first page.") if stale else "",
        extra={"attributes": list(page.attributes) or [None] * len(rows)},
    )
