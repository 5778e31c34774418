"""Role definitions: what the holders of a role may do, checked like any other definition.

A role grants, per entity type (``"*"`` for every type), the privileges
create, read, update and delete, each with a scope: ``none``, ``own`` (records
the user owns) or ``all``; per field, ``hidden`` or ``read_only``; and
administrative rights. The built-in roles (admin, editor, viewer) are
definitions too, kept in code and not redefinable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xrm.errors import DefinitionError, Fault
from xrm.schemas.naming import name_problem

ACTIONS = ("create", "read", "update", "delete")
SCOPES = ("none", "own", "all")  # in order of reach
ADMIN_RIGHTS = ("define_types", "define_workflows", "manage_users", "erase_records")
ANY_TYPE = "*"


@dataclass(frozen=True, slots=True)
class Grant:
    """A role's rights on one entity type (or on every type, ``*``)."""

    scopes: Mapping[str, str]  # action -> scope
    fields: Mapping[str, str] = field(default_factory=dict)  # property -> hidden | read_only


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    definition: Mapping[str, Any]
    entities: Mapping[str, Grant]
    admin: frozenset[str] = frozenset()
    builtin: bool = False
    version: int = 1


def parse_role(definition: Any) -> Role:
    """Check one role definition (entity and field names are checked against the catalog)."""
    # The meta-schema check (jsonschema) loads only when a role is parsed, not whenever the
    # built-in roles are consulted: `xrm token create` must start fast.
    from xrm.schemas.parse import meta_faults

    faults = meta_faults("role.json", definition)
    if faults:
        raise DefinitionError(faults)
    name = definition["role"]
    if problem := name_problem(name):
        faults.append(Fault("role", problem))
    elif name in BUILTIN_NAMES:
        faults.append(Fault("role", f"{name!r} is a built-in role and cannot be redefined"))
    entities: dict[str, Grant] = {}
    for entity, grant in definition.get("entities", {}).items():
        if entity != ANY_TYPE and (problem := name_problem(entity)):
            faults.append(Fault(f"entities.{entity}", problem))
            continue
        if entity == ANY_TYPE and grant.get("fields"):
            faults.append(Fault("entities.*.fields", "field rules name one entity type"))
        entities[entity] = Grant(
            {a: grant[a] for a in ACTIONS if a in grant}, dict(grant.get("fields", {}))
        )
    if faults:
        raise DefinitionError(faults)
    return Role(name, definition, entities, frozenset(definition.get("admin", ())))


def check_role(role: Role, entity_properties: Mapping[str, Any]) -> None:
    """Refuse grants on types or fields that do not exist (``entity_properties``: type -> names)."""
    faults = []
    for entity, grant in role.entities.items():
        if entity == ANY_TYPE:
            continue
        if entity not in entity_properties:
            faults.append(Fault(f"entities.{entity}", f"no entity type named {entity!r}"))
            continue
        for prop in grant.fields:
            if prop not in entity_properties[entity]:
                faults.append(
                    Fault(f"entities.{entity}.fields.{prop}", f"{entity} has no field {prop!r}")
                )
    if faults:
        raise DefinitionError(faults)


def _builtin(name: str, label: dict[str, str], definition: dict[str, Any]) -> Role:
    full = {"role": name, "label": label, **definition}
    grants = {e: Grant({a: g[a] for a in ACTIONS if a in g}) for e, g in full["entities"].items()}
    return Role(name, full, grants, frozenset(full.get("admin", ())), builtin=True)


BUILTIN_ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        _builtin(
            "admin",
            {"en": "Administrator", "ko": "관리자"},
            {
                "admin": list(ADMIN_RIGHTS),
                "entities": {ANY_TYPE: dict.fromkeys(ACTIONS, "all")},
            },
        ),
        _builtin(
            "editor",
            {"en": "Editor", "ko": "편집자"},
            {"entities": {ANY_TYPE: dict.fromkeys(ACTIONS, "all")}},
        ),
        _builtin(
            "viewer",
            {"en": "Viewer", "ko": "조회자"},
            {"entities": {ANY_TYPE: {"read": "all"}}},
        ),
    )
}
BUILTIN_NAMES = frozenset(BUILTIN_ROLES)
