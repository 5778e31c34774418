"""GraphQL names of an entity type's fields, and the record-service keys they stand for.

CONTRACT §4 spells fields in camelCase (``partnerId``, ``createdAt``); the
record service speaks the definition's snake_case. One table per type maps
each GraphQL name to what it is, so filters, orderings, inputs and error
paths translate the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xrm.entities.catalog_state import Catalog
from xrm.errors import Fault, ValidationFailed
from xrm.schemas import graphql_names
from xrm.schemas.graphql_names import OWNER_INPUT, SYSTEM_FIELDS, FieldName
from xrm.schemas.naming import camel

__all__ = ["OWNER_INPUT", "SYSTEM_FIELDS", "FieldName", "Translator", "field_names"]


def field_names(catalog: Catalog, entity: str) -> dict[str, FieldName]:
    """Every GraphQL field name of ``entity`` that filters, orders and inputs may use."""
    return graphql_names.field_names(
        catalog.entity(entity),
        [(inv.name, inv.entity) for inv in catalog.inverses.get(entity, {}).values()],
        [(link.name, link.other) for link in catalog.links.get(entity, {}).values()],
    )


class Translator:
    """GraphQL-shaped arguments to record-service arguments, for one catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._names: dict[str, dict[str, FieldName]] = {}

    def names(self, entity: str) -> dict[str, FieldName]:
        found = self._names.get(entity)
        if found is None:
            found = self._names[entity] = field_names(self.catalog, entity)
        return found

    def filter(self, entity: str, spec: Any, path: str = "filter") -> dict[str, Any] | None:
        if spec is None:
            return None
        if not isinstance(spec, Mapping):
            raise ValidationFailed([Fault(path, "a filter is an object")])
        out: dict[str, Any] = {}
        names = self.names(entity)
        for key, value in spec.items():
            if value is None:
                continue
            if key in ("and", "or"):
                out[key] = [
                    self.filter(entity, v, f"{path}.{key}.{i}") for i, v in enumerate(value)
                ]
            elif key == "not":
                out[key] = self.filter(entity, value, f"{path}.not")
            else:
                name = names.get(key)
                if name is None:
                    raise ValidationFailed([Fault(f"{path}.{key}", f"no field {key!r}")])
                if name.kind == "ref" and name.target == "user":
                    out[name.key] = _user_filter(value)
                elif name.kind == "ref":
                    assert name.target is not None
                    out[name.key] = self.filter(name.target, value, f"{path}.{key}")
                elif name.kind == "many":
                    assert name.target is not None
                    out[name.key] = {
                        q: self.filter(name.target, v, f"{path}.{key}.{q}") or {}
                        for q, v in value.items()
                        if v is not None
                    }
                elif name.kind == "ref_id":
                    out[name.key + "_id"] = _comparison(value)
                else:
                    out[name.key] = _comparison(value)
        return out

    def order(self, entity: str, spec: Any) -> list[dict[str, str]] | None:
        if spec is None:
            return None
        names = self.names(entity)
        out = []
        for index, item in enumerate(spec):
            entries = [(k, v) for k, v in item.items() if v is not None]
            if len(entries) != 1:
                raise ValidationFailed([Fault(f"orderBy.{index}", "name exactly one field")])
            ((key, direction),) = entries
            name = names.get(key)
            if name is None or name.kind in ("many", "ref"):
                raise ValidationFailed([Fault(f"orderBy.{index}.{key}", "not a sortable field")])
            service_key = name.key + "_id" if name.kind == "ref_id" else name.key
            out.append({service_key: getattr(direction, "value", direction)})
        return out

    def group_by(self, entity: str, spec: Any) -> list[str] | None:
        if spec is None:
            return None
        names = self.names(entity)
        out = []
        for index, item in enumerate(spec):
            field, colon, unit = str(item).partition(":")
            name = names.get(field)
            if name is None or name.kind in ("many", "ref"):
                raise ValidationFailed([Fault(f"groupBy.{index}", f"{field!r} cannot be grouped")])
            key = name.key + "_id" if name.kind == "ref_id" else name.key
            out.append(key + colon + unit)
        return out

    def values(self, entity: str, spec: Any) -> dict[str, Any]:
        """An input or patch object (GraphQL names) as record values (property names)."""
        names = self.names(entity)
        out = {}
        for key, value in spec.items():
            name = names.get(key)
            out[OWNER_INPUT[1] if key == OWNER_INPUT[0] else name.key if name else key] = value
        return out

    def field_path(self, entity: str, path: str) -> str:
        """A fault path in service terms (``inputs.3.partner``) in GraphQL terms.

        In inputs a reference is its id (``partnerId``); in filters a reference
        names the related record (``filter.partner.name``), so there each part is
        only camel-cased (``partner_id`` is ``partnerId`` there too).
        """
        if path.split(".", 1)[0] in ("filter", "orderBy", "groupBy"):
            return ".".join(camel(part) for part in path.split("."))
        graphql = {
            (n.key if n.kind != "ref" else None): g
            for g, n in self.names(entity).items()
            if n.kind in ("value", "ref_id")
        }
        graphql[OWNER_INPUT[1]] = OWNER_INPUT[0]
        return ".".join(graphql.get(part, part) for part in path.split("."))


def _user_filter(spec: Any) -> Any:
    """A ``UserFilter`` as a record-service filter (the same names; nulls dropped)."""
    if not isinstance(spec, Mapping):
        return spec
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if value is None:
            continue
        if key in ("and", "or"):
            out[key] = [_user_filter(v) for v in value]
        elif key == "not":
            out[key] = _user_filter(value)
        else:
            out[key] = _comparison(value)
    return out


def _comparison(value: Any) -> dict[str, Any]:
    return (
        {k: v for k, v in value.items() if v is not None} if isinstance(value, Mapping) else value
    )


def history_entry(catalog: Catalog, entity: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """An audit entry of the record service as ``AuditEntry`` shows it: the API's own words.

    ``changes`` are stored under property names (``serial_no``, ``partner``,
    ``owner``); the API names them as its fields and inputs do (``serialNo``,
    ``partnerId``, ``ownerId``). A retired property, no longer in the
    definition, is spelled the same way. An erasure lists the fields it
    redacted, named the same way too.
    """
    properties = catalog.entity(entity).properties

    def api_name(key: str) -> str:
        prop = properties.get(key)
        if key == "owner" or (prop is not None and prop.ref is not None):
            return camel(key) + "Id"
        return camel(key)

    changes = entry.get("changes")
    if isinstance(changes, Mapping):
        if entry.get("action") == "erase":
            changes = {
                k: [api_name(str(f)) for f in v] if k == "fields" and isinstance(v, list) else v
                for k, v in changes.items()
            }
        else:
            changes = {api_name(str(k)): v for k, v in changes.items()}
    return {
        "at": entry.get("at"),
        "actor": entry.get("actor"),
        "action": entry.get("action"),
        "version": entry.get("version"),
        "changes": changes,
        "channel": entry.get("channel"),
        "requestId": entry.get("request_id"),
    }
