"""The forms of a many-to-many tab: link a record (with the link's attributes), change a link's
attributes, unlink.

A relationship's attributes are properties like a record's, so they get the
same inputs as the record form (``record_fields.widget_of``), named
``a.<attribute>`` so they can never collide with the form's own fields
(``field``, ``other``, ``csrf``). The record to link is picked by name: a
list of names when there are few enough, else a text box where the name is
typed exactly (suggested as it is typed, like a reference). What the forms
post goes to the record service's ``link``/``unlink``, which alone decides
what is allowed and valid, and audits the change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from xrm.admin_ui.record_fields import (
    Input,
    enum_label,
    enum_values,
    field_label,
    input_value,
    posted_value,
    typed_back,
    widget_of,
)
from xrm.admin_ui.record_views import record_named
from xrm.entities.records import RecordSession, formats_uuid
from xrm.schemas.model import EntityType, Relationship

Gettext = Callable[[str], str]

PREFIX = "a."


@dataclass(slots=True)
class LinkState:
    """A refused link form, to show again with what was typed and each problem by its input."""

    key: str  # the tab (to-many field)
    editing: str = ""  # the linked record whose link was being changed; "" for a new link
    other: str = ""  # what was typed or chosen as the record to link
    typed: dict[str, Any] = field(default_factory=dict)  # attribute values as typed
    errors: dict[str, str] = field(default_factory=dict)  # attribute name or "other" -> problem
    said: str = ""  # a problem about the whole form


def attribute_inputs(
    rel: Relationship,
    values: Mapping[str, Any],
    lang: str,
    _: Gettext,
    *,
    typed: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[Input]:
    """An input per attribute, from the link's stored ``values`` or what was ``typed``."""
    inputs = []
    for prop in rel.properties.values():
        widget, input_type, step = widget_of(prop)
        item = Input(
            name=prop.name,
            label=field_label(prop, lang),
            widget=widget,
            input_type=input_type,
            required=prop.required and prop.kind != "boolean",
            step=step,
            value=input_value(prop, values.get(prop.name)),
            error=(errors or {}).get(prop.name, ""),
        )
        if typed is not None and prop.name in typed:
            item.value = typed[prop.name]
        if prop.kind == "enum" or widget == "choices":
            item.options = [(v, enum_label(prop, v, lang)) for v in enum_values(prop)]
        if widget == "lines":
            item.hint = _("One entry per line.")
        if prop.kind == "datetime":
            item.hint = _("In UTC.")
        if widget == "json":
            item.hint = _("A JSON object.")
        inputs.append(item)
    return inputs


def posted_attributes(rel: Relationship, form: FormData) -> tuple[dict[str, Any], dict[str, Any]]:
    """The attribute values a link form posted, and the same as the inputs show them back."""
    given = FormData([(k[len(PREFIX) :], v) for k, v in form.multi_items() if k.startswith(PREFIX)])
    values: dict[str, Any] = {}
    typed: dict[str, Any] = {}
    for prop in rel.properties.values():
        values[prop.name] = posted_value(prop, given)
        typed[prop.name] = typed_back(prop, values[prop.name])
    return values, typed


def resolve_other(
    session: RecordSession, other: EntityType, given: str, _: Gettext
) -> tuple[str | None, str]:
    """The id of the record to link, from its id or its exact name; else the problem."""
    given = given.strip()
    if not given:
        return None, _("Choose a record to link.")
    try:
        return formats_uuid(given), ""
    except ValueError:
        pass
    return record_named(session, other, given, _)
