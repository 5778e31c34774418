"""Reading records for the record screens: a list page, a form's inputs, a detail page.

Everything here runs inside one record session (one transaction) of the
signed-in user on channel ``admin``, so the screens see exactly what the
record service lets that user see: types they may read, rows in their scope,
no hidden field. Names of referenced records are read for a whole page at
once (one query per referenced type), never one per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from xrm.admin_ui.record_fields import (
    TEXT_KINDS,
    Input,
    columns,
    display_field,
    enum_label,
    enum_values,
    field_label,
    input_value,
    record_name,
    shown_value,
    sortable,
    when,
    widget_of,
)
from xrm.admin_ui.record_filters import Active, Filters, read_filters
from xrm.entities.records import RecordSession, formats_uuid
from xrm.errors import Forbidden, ValidationFailed
from xrm.platform import identity
from xrm.schemas.model import NUMERIC_KINDS, EntityType, Property

Gettext = Callable[[str], str]

USER = "user"  # the referent of a reference to a platform user (definitions.md)
MAX_OPTIONS = 200  # a reference with more records to choose from is typed by name instead
SYSTEM_SORTS = ("updated_at", "created_at")


def may_pick(session: RecordSession, referent: str) -> bool:
    """Whether the user may choose among the records a reference points at: any reader of a
    record may see who its users are (the API's ``User``), other types need read."""
    return referent == USER or session.permissions.scope(referent, "read") != "none"


def names_of(
    session: RecordSession, wanted: Mapping[str, Iterable[str]], _: Gettext
) -> dict[str, str]:
    """``{id: name}`` of referenced records, one query per type; unreadable types are left out."""
    names: dict[str, str] = {}
    for entity, ids in wanted.items():
        ids = [i for i in ids if i]
        if ids and entity == USER:  # the platform's users, not an entity type
            names.update(identity.user_names(session.conn, ids))
            continue
        if not ids or session.permissions.scope(entity, "read") == "none":
            continue
        et = session.catalog.entity(entity)
        hidden = session.hidden(entity)
        shown = display_field(et, hidden)
        fields = frozenset({shown}) if shown else frozenset()
        for record_id, record in session.fetch(entity, ids, fields=fields).items():
            names[record_id] = record_name(et, record, _, hidden)
    return names


def page_names(
    session: RecordSession,
    props: Iterable[Property],
    records: Iterable[Mapping[str, Any]],
    _: Gettext,
) -> dict[str, str]:
    wanted: dict[str, set[str]] = {}
    rows = list(records)
    for prop in props:
        if prop.ref is not None:
            wanted.setdefault(prop.ref.entity, set()).update(
                str(r[prop.name]) for r in rows if isinstance(r.get(prop.name), str)
            )
    return names_of(session, wanted, _)


# --- the list --------------------------------------------------------------------------------


@dataclass(slots=True)
class Column:
    name: str
    label: str
    sort_href: str | None  # None: this column cannot be sorted
    sorted: str = ""  # "asc", "desc" or ""
    css: str = ""  # "num": right-aligned, like numbers in a spreadsheet; "nowrap": dates


@dataclass(slots=True)
class Row:
    id: str
    name: str
    cells: list[str]


@dataclass(slots=True)
class Scope:
    """A reference the list is narrowed to ("Customer: Acme"), and the list without it."""

    label: str
    name: str
    remove_href: str


@dataclass(slots=True)
class Choice:
    """A field the list can be narrowed by, with its values' labels (enums, yes/no)."""

    name: str
    label: str
    options: list[tuple[str, str]]
    chosen: str

    @property
    def param(self) -> str:
        """The query parameter naming this filter (``<field>.eq``)."""
        return f"{self.name}.{EQUALS}"


def _choosable(prop: Property) -> bool:
    return prop.kind in ("enum", "boolean")


def _choices(prop: Property, lang: str, _: Gettext) -> list[tuple[str, str]]:
    if prop.kind == "boolean":
        return [("1", _("Yes")), ("0", _("No"))]
    return [(v, enum_label(prop, v, lang)) for v in enum_values(prop)]


def _typed_choice(prop: Property, value: str) -> Any:
    return value == "1" if prop.kind == "boolean" else value


# The list's own parameters. A filter on a field is ``<field>.eq=`` (an enum or yes/no field) or
# ``<reference>.id=`` (the records referring to one record), in the dotted grammar of
# ``record_filters``, so that a type with a field called ``sort`` or ``q`` can still be filtered
# by it; the older ``?<field>=`` still works for every field whose name is none of these.
LIST_PARAMS = frozenset({"q", "sort", "dir", "after", "columns", "deleted"})
EQUALS = "eq"
REFERS = "id"


def filter_param(prop: Property) -> str:
    """The query parameter that filters the list on ``prop`` by equality."""
    return f"{prop.name}.{REFERS if prop.ref is not None else EQUALS}"


def asked_filter(params: Mapping[str, str], prop: Property) -> str:
    """The value the list is filtered by on ``prop``: ``<field>.eq=`` or ``<reference>.id=``,
    else (older links) ``<field>=`` when that is not one of the list's own parameters."""
    given = params.get(filter_param(prop))
    if given is None and prop.name not in LIST_PARAMS:
        given = params.get(prop.name)
    return str(given or "")


def equality_params(et: EntityType) -> frozenset[str]:
    """The dotted parameters read here, which ``record_filters`` leaves alone."""
    return frozenset(filter_param(p) for p in et.properties.values() if p.ref or _choosable(p))


def _asked_columns(params: Any) -> set[str]:
    """``?columns=a,b`` or ``?columns=a&columns=b`` (the column checkboxes)."""
    given = params.getlist("columns") if hasattr(params, "getlist") else [params.get("columns")]
    return {name.strip() for value in given if value for name in str(value).split(",")}


@dataclass(slots=True)
class ListPage:
    choices: list[tuple[str, str, bool]]  # every field that can be a column, and whether it is
    custom: str  # the chosen columns when not the default ones, for the search form
    new_href: str  # a new record, referring to the record the list is narrowed to
    filters: list[Choice]
    all_href: str  # the list without the search
    scopes: list[Scope]
    kept: list[tuple[str, str]]  # the references narrowed to, for the search form
    columns: list[Column]
    rows: list[Row]
    next_href: str | None
    first_href: str | None
    q: str
    sort: str
    direction: str
    narrowed: Filters
    clean_href: str  # this page's own address, bookmarkable: no empty parameter, no default
    chips: list[Active]  # every filter in force in words, each removable on its own
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ListQuery:
    """What a list's address asks for: its columns, order and filter (the list and its export
    read the same records)."""

    shown: list[Property]
    eligible: list[Property]
    custom: list[str]
    q: str
    sort: str
    direction: str
    scoped: dict[str, str]
    choosable: list[Property]
    chosen: dict[str, str]
    narrowed: Filters
    filter: dict[str, Any] | None
    order: list[dict[str, str]]
    default_sort: str  # the order of an address without ``sort``, which a clean one leaves out
    default_direction: str


def read_list_query(
    session: RecordSession, et: EntityType, params: Mapping[str, str], lang: str, _: Gettext
) -> ListQuery:
    """``?q=&sort=&dir=&columns=`` and the filters, read once; bad parameters fall back."""
    hidden = session.hidden(et.name)
    default = columns(et, hidden)
    eligible = [p for p in et.properties.values() if p.name not in hidden and p.kind != "object"]
    asked = _asked_columns(params)
    shown = [p for p in eligible if p.name in asked] or default
    custom = [p.name for p in shown] if shown != default else []
    q = (params.get("q") or "").strip()
    sort = params.get("sort") or ""
    direction = "desc" if params.get("dir") == "desc" else "asc"
    allowed = {p.name for p in shown if sortable(p)} | set(SYSTEM_SORTS)
    default_sort = display_field(et, hidden) or "updated_at"
    default_direction = "asc" if default_sort != "updated_at" else "desc"
    if sort not in allowed:
        sort, direction = default_sort, default_direction
    texts = [p.name for p in et.properties.values() if p.kind in TEXT_KINDS and p.ref is None]
    texts = [n for n in texts if n not in hidden]
    parts: list[dict[str, Any]] = []
    if q and texts:
        parts.append({"or": [{n: {"contains": q}} for n in texts]})
    scoped = {
        p.name: asked_filter(params, p)
        for p in et.references
        if p.name not in hidden and looks_like_id(asked_filter(params, p))
    }
    parts.extend({f"{name}_id": {"eq": value}} for name, value in scoped.items())
    choosable = [p for p in et.properties.values() if p.name not in hidden and _choosable(p)]
    chosen = {
        p.name: asked_filter(params, p)
        for p in choosable
        if asked_filter(params, p) in {v for v, _label in _choices(p, lang, _)}
    }
    parts.extend({n: {"eq": _typed_choice(et.properties[n], v)}} for n, v in chosen.items())
    narrowed = read_filters(session, et, params, lang, _, skip=equality_params(et))
    parts.extend(narrowed.where)
    return ListQuery(
        shown=shown,
        eligible=eligible,
        custom=custom,
        q=q,
        sort=sort,
        direction=direction,
        scoped=scoped,
        choosable=choosable,
        chosen=chosen,
        narrowed=narrowed,
        filter={"and": parts} if parts else None,
        order=[{sort: direction.upper()}],
        default_sort=default_sort,
        default_direction=default_direction,
    )


def list_page(
    session: RecordSession,
    et: EntityType,
    params: Mapping[str, str],
    base: str,
    lang: str,
    _: Gettext,
    size: int,
) -> ListPage:
    """One page of ``et``'s list for ``?q=&sort=&dir=&after=&columns=`` and the filters."""
    hidden = session.hidden(et.name)
    asked = read_list_query(session, et, params, lang, _)
    shown, eligible, custom = asked.shown, asked.eligible, asked.custom
    q, sort, direction = asked.q, asked.sort, asked.direction
    scoped, choosable, chosen = asked.scoped, asked.choosable, asked.chosen
    narrowed = asked.narrowed
    query_filter, order = asked.filter, asked.order
    wanted = frozenset({*(p.name for p in shown), "updated_at"})
    errors: list[str] = []
    after = params.get("after") or None
    try:
        page = session.query(
            et.name,
            filter=query_filter,
            order_by=order,
            first=size,
            after=after,
            with_total=False,
            fields=wanted,
        )
    except ValidationFailed:  # an old or edited cursor: start again from the top
        errors.append(_("That page no longer exists; here is the first page."))
        after = None
        page = session.query(
            et.name,
            filter=query_filter,
            order_by=order,
            first=size,
            with_total=False,
            fields=wanted,
        )
    names = page_names(session, shown, page.items, _)

    def href(*extra: tuple[str, str], **changes: str) -> str:
        """The list's address with ``changes``: no empty parameter, no default order."""
        kept = {filter_param(et.properties[n]): v for n, v in {**scoped, **chosen}.items()}
        kept.update(dict(narrowed.kept))
        kept.update(q=q, sort=sort, dir=direction, columns=",".join(custom))
        kept.update(changes)
        if (kept["sort"], kept["dir"]) == (asked.default_sort, asked.default_direction):
            kept["sort"] = kept["dir"] = ""
        elif kept["dir"] != "desc":
            kept["dir"] = ""  # a sort without dir is ascending
        query = urlencode([*((k, v) for k, v in kept.items() if v), *extra])
        return f"{base}?{query}" if query else base

    chips = [
        Active(
            filter_param(et.properties[n]),
            v,
            _("%(field)s: %(value)s")
            % {
                "field": field_label(et.properties[n], lang),
                "value": dict(_choices(et.properties[n], lang, _))[v],
            },
        )
        for n, v in chosen.items()
    ]
    chips.extend(narrowed.active)
    for chip in chips:
        chip.remove_href = href(**{chip.param: ""})
    cols = []
    for prop in shown:
        flip = "desc" if sort == prop.name and direction == "asc" else "asc"
        cols.append(
            Column(
                prop.name,
                field_label(prop, lang),
                href(sort=prop.name, dir=flip) if sortable(prop) else None,
                direction if sort == prop.name else "",
                _css(prop),
            )
        )
    flip = "asc" if sort == "updated_at" and direction == "desc" else "desc"
    cols.append(
        Column(
            "updated_at",
            _("Last changed"),
            href(sort="updated_at", dir=flip),
            direction if sort == "updated_at" else "",
            "nowrap",
        )
    )
    rows = []
    for record in page.items:
        cells = [shown_value(p, record.get(p.name), lang, _, names) for p in shown]
        cells.append(when(record["updated_at"]) if record.get("updated_at") else "—")
        rows.append(Row(record["id"], record_name(et, record, _, hidden), cells))
    scope_names = page_names(session, [et.properties[n] for n in scoped], [scoped], _)
    scopes = [
        Scope(
            field_label(et.properties[n], lang),
            scope_names.get(v, _("(not visible to you)")),
            href(**{filter_param(et.properties[n]): ""}),
        )
        for n, v in scoped.items()
    ]
    filters = [
        Choice(p.name, field_label(p, lang), _choices(p, lang, _), chosen.get(p.name, ""))
        for p in choosable
    ]
    return ListPage(
        choices=[(p.name, field_label(p, lang), p in shown) for p in eligible],
        custom=",".join(custom),
        new_href=f"{base}/new" + (f"?{urlencode(scoped)}" if scoped else ""),
        filters=filters,
        all_href=href(
            q="",
            **{filter_param(et.properties[n]): "" for n in chosen},
            **dict.fromkeys(dict(narrowed.kept), ""),
        ),
        scopes=scopes,
        kept=[(filter_param(et.properties[n]), v) for n, v in scoped.items()],
        columns=cols,
        rows=rows,
        next_href=href(after=page.end_cursor or "") if page.has_next_page else None,
        chips=chips,
        clean_href=href(*narrowed.refused, after=params.get("after") or ""),
        first_href=href() if after else None,
        q=q,
        sort=sort,
        direction=direction,
        narrowed=narrowed,
        errors=errors,
    )


def _css(prop: Property) -> str:
    if prop.kind in NUMERIC_KINDS:
        return "num"
    return "nowrap" if prop.kind in ("date", "datetime", "phone") else ""


# --- forms -----------------------------------------------------------------------------------


def _options(
    session: RecordSession, prop: Property, lang: str, _: Gettext
) -> tuple[list[tuple[str, str]], bool]:
    """A reference's choices ``(id, name)`` by name, and whether there are too many to list."""
    assert prop.ref is not None
    if prop.ref.entity == USER:
        return identity.user_choices(session.conn, MAX_OPTIONS)
    return record_choices(session, session.catalog.entity(prop.ref.entity), _)


def record_choices(
    session: RecordSession, target: EntityType, _: Gettext
) -> tuple[list[tuple[str, str]], bool]:
    """Records of ``target`` to choose from ``(id, name)`` by name, at most MAX_OPTIONS, and
    whether there are more (then the name is typed instead): for references and for links."""
    hidden = session.hidden(target.name)
    shown = display_field(target, hidden)
    page = session.query(
        target.name,
        order_by=[{shown: "ASC"}] if shown else [{"created_at": "DESC"}],
        first=MAX_OPTIONS,
        with_total=False,
        fields=frozenset({shown}) if shown else frozenset(),
    )
    return [(r["id"], record_name(target, r, _, hidden)) for r in page.items], page.has_next_page


def form_inputs(
    session: RecordSession,
    et: EntityType,
    values: Mapping[str, Any],
    lang: str,
    _: Gettext,
    *,
    creating: bool,
    typed: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[Input]:
    """The form's inputs, from the stored ``values`` or what the user ``typed`` (refused)."""
    hidden = session.hidden(et.name)
    read_only = session.permissions.read_only(et.name)
    refs = [p for p in et.properties.values() if p.ref is not None and p.name not in hidden]
    names = page_names(session, refs, [values], _)
    inputs = []
    for prop in et.properties.values():
        if prop.name in hidden:
            continue
        widget, input_type, step = widget_of(prop)
        fixed = prop.name in read_only or bool(prop.autonumber)
        shown_now = shown_value(prop, values.get(prop.name), lang, _, names)
        item = Input(
            name=prop.name,
            label=field_label(prop, lang),
            widget=widget,
            input_type=input_type,
            required=prop.required and prop.kind != "boolean",
            read_only=fixed,
            step=step,
            value=input_value(prop, values.get(prop.name)),
            shown=shown_now,
            error=(errors or {}).get(prop.name, ""),
        )
        if prop.autonumber and creating:
            item.hint = _("Numbered automatically when the record is saved.")
            item.shown = _("(numbered on saving)")
        if typed is not None and prop.name in typed and not fixed:
            item.value = typed[prop.name]
        if prop.kind == "enum" or widget == "choices":
            item.options = [(v, enum_label(prop, v, lang)) for v in enum_values(prop)]
        if prop.ref is not None and not fixed:
            if not may_pick(session, prop.ref.entity):
                item.read_only = True
            else:
                item.options, item.search = _options(session, prop, lang, _)
                current = str(values.get(prop.name) or "")
                if item.search:
                    item.hint = _("Type the name of the record exactly.")
                    item.picker = (
                        "" if prop.ref.entity == USER else f"/admin/records/{prop.ref.entity}"
                    )
                    typed_ref = (typed or {}).get(prop.name)
                    item.value = typed_ref if typed_ref is not None else names.get(current, "")
                elif current and current not in {v for v, _n in item.options}:
                    item.options.append((current, names.get(current, _("(not visible to you)"))))
        if widget == "lines":
            item.hint = _("One entry per line.")
        if prop.kind == "datetime":
            item.hint = _("In UTC.")
        if widget == "json":
            item.hint = _("A JSON object.")
        inputs.append(item)
    return inputs


def resolve_references(
    session: RecordSession, et: EntityType, values: dict[str, Any], _: Gettext
) -> dict[str, str]:
    """References typed by name become ids; ``{field: error}`` for names that match no record
    or several."""
    errors: dict[str, str] = {}
    for prop in et.references:
        typed = values.get(prop.name)
        if not isinstance(typed, str) or looks_like_id(typed):
            continue
        assert prop.ref is not None
        if prop.ref.entity == USER:  # a user is typed by e-mail address
            user = identity.find_user(session.conn, typed)
            if user is None:
                errors[prop.name] = _("No user has this e-mail address.")
            else:
                values[prop.name] = user.id
            continue
        found, problem = record_named(session, session.catalog.entity(prop.ref.entity), typed, _)
        if found is not None:
            values[prop.name] = found
        else:
            errors[prop.name] = problem
    return errors


def record_named(
    session: RecordSession, et: EntityType, typed: str, _: Gettext
) -> tuple[str | None, str]:
    """(the id, "") of the one record of ``et`` whose display name is exactly ``typed``, else
    (None, why not): none or several are named so, or the type has no name to type."""
    shown = display_field(et, session.hidden(et.name))
    if shown is None:
        return None, _("Choose a record from the list.")
    try:
        found = session.query(
            et.name,
            filter={shown: {"eq": typed}},
            first=2,
            with_total=False,
            fields=frozenset({shown}),
        ).items
    except (ValidationFailed, Forbidden):
        found = []
    if len(found) == 1:
        return str(found[0]["id"]), ""
    if not found:
        return None, _("No record is named %(name)s.") % {"name": typed}
    return None, _("Several records are named %(name)s.") % {"name": typed}


def looks_like_id(text: str) -> bool:
    try:
        formats_uuid(text)
    except ValueError:
        return False
    return True
