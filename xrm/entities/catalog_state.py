"""A compiled, immutable snapshot of every definition at one schema version.

Built once per schema version (tables, validators, field maps) and shared by
every request that sees that version; a newer version in the database makes
the registry build a new snapshot, never mutate this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from xrm.errors import NotFound
from xrm.platform import tables as platform_tables
from xrm.schemas.model import EntityType, InverseField, LinkField, Property, Relationship
from xrm.schemas.parse import inverse_fields, link_fields
from xrm.schemas.roles import Role
from xrm.schemas.tables import entity_table, relationship_table
from xrm.schemas.validate import RecordValidator
from xrm.schemas.workflows import Workflow


@dataclass(frozen=True)
class Catalog:
    version: int
    types: Mapping[str, EntityType]
    relationships: Mapping[str, Relationship]
    metadata: sa.MetaData
    tables: Mapping[str, sa.Table]
    link_tables: Mapping[str, sa.Table]
    validators: Mapping[str, RecordValidator]
    link_validators: Mapping[str, RecordValidator]
    inverses: Mapping[str, Mapping[str, InverseField]]
    links: Mapping[str, Mapping[str, LinkField]]
    # For each type, the references pointing at it: (referring type, property).
    referrers: Mapping[str, tuple[tuple[str, Property], ...]] = field(default_factory=dict)
    # Roles defined beyond the built-in ones (xrm.schemas.roles.BUILTIN_ROLES).
    roles: Mapping[str, Role] = field(default_factory=dict)
    # Workflows (CONTRACT §5), checked against the types and relationships above.
    workflows: Mapping[str, Workflow] = field(default_factory=dict)

    def entity(self, name: str) -> EntityType:
        et = self.types.get(name)
        if et is None:
            raise NotFound(f"no entity type named {name!r}", entity=name)
        return et

    def relationship(self, name: str) -> Relationship:
        rel = self.relationships.get(name)
        if rel is None:
            raise NotFound(f"no relationship named {name!r}", relationship=name)
        return rel

    def table(self, name: str) -> sa.Table:
        if name == "user":
            return self.metadata.tables["xrm_users"]
        self.entity(name)
        return self.tables[name]


def build_catalog(
    version: int,
    types: Mapping[str, EntityType],
    relationships: Mapping[str, Relationship],
    phone_region: str,
    roles: Mapping[str, Role] | None = None,
    workflows: Mapping[str, Workflow] | None = None,
) -> Catalog:
    metadata = sa.MetaData()
    platform_tables.users.to_metadata(metadata)
    tables = {name: entity_table(et, metadata) for name, et in types.items()}
    link_tables = {name: relationship_table(rel, metadata) for name, rel in relationships.items()}
    referrers: dict[str, list[tuple[str, Property]]] = {}
    for et in types.values():
        for prop in et.references:
            assert prop.ref is not None
            referrers.setdefault(prop.ref.entity, []).append((et.name, prop))
    return Catalog(
        version=version,
        types=dict(types),
        relationships=dict(relationships),
        metadata=metadata,
        tables=tables,
        link_tables=link_tables,
        validators={n: RecordValidator(et.properties, phone_region) for n, et in types.items()},
        link_validators={
            n: RecordValidator(rel.properties, phone_region) for n, rel in relationships.items()
        },
        inverses=inverse_fields(types),
        links=link_fields(types, relationships),
        referrers={k: tuple(v) for k, v in referrers.items()},
        roles=dict(roles or {}),
        workflows=dict(workflows or {}),
    )
