"""The GraphQL schema of the registry's current version, and what is served when it cannot build.

The schema is rebuilt only when the stored schema version moves. Definitions
are checked before they are stored (``xrm.schemas.graphql_names``), but a
catalog stored by an older release, or written around the registry, may
still hold one whose GraphQL names clash; graphql-core then refuses to build
the schema at all. One such definition must not take every other type down,
nor stop ``xrm serve`` from starting, so a version that cannot be built whole
is served as the best stand-in, and the log says why (once per version):

1. the catalog without the types whose names clash (of two that clash, the
   one the last schema did not serve), and the fields and relationships that
   lead to them, unless that would drop a type the last schema served;
2. else the last schema that was built;
3. else (at start-up) only the API's own operations, so an admin can still
   read and change definitions.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Collection

from xrm.api.context import RequestContext, Services
from xrm.api.schema import GeneratedSchema, build_schema
from xrm.entities.catalog_state import Catalog
from xrm.schemas.graphql_names import clashes
from xrm.schemas.parse import inverse_fields, link_fields

log = logging.getLogger("xrm.api")


def without(catalog: Catalog, dropped: Collection[str]) -> Catalog:
    """``catalog`` less the entity types ``dropped``, and every field and link leading to them."""
    types = {
        name: dataclasses.replace(
            et,
            properties={
                p: prop
                for p, prop in et.properties.items()
                if prop.ref is None or prop.ref.entity not in dropped
            },
        )
        for name, et in catalog.types.items()
        if name not in dropped
    }
    relationships = {
        name: rel
        for name, rel in catalog.relationships.items()
        if rel.from_entity not in dropped and rel.to_entity not in dropped
    }
    return dataclasses.replace(
        catalog,
        types=types,
        relationships=relationships,
        inverses=inverse_fields(types),
        links=link_fields(types, relationships),
    )


class SchemaCache:
    """The schema of the registry's current version; rebuilt only when the version moves."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._lock = threading.Lock()
        self._schema: GeneratedSchema | None = None
        # A version that could not be built whole and is served by an older schema.
        self._stood_in_for: int | None = None

    def warm(self) -> None:
        """Build the schema of the registry's current version now, before any request."""
        catalog = self.services.registry.current()
        with self._lock:
            if not self._serves(catalog.version):
                self._install(catalog)

    def latest(self) -> GeneratedSchema | None:
        """The schema built last, without asking the database whether it is still current."""
        return self._schema

    def current(self, context: RequestContext) -> GeneratedSchema:
        # A signed-in request opens its read session here and takes that session's
        # snapshot of the definitions: one transaction per query, not two.
        if context.actor is not None:
            catalog = context.reader().catalog
        else:
            catalog = self.services.registry.current()
        context.bind(catalog)
        schema = self._schema
        if schema is not None and self._serves(catalog.version):
            return schema
        with self._lock:
            if not self._serves(catalog.version):
                self._install(catalog)
            assert self._schema is not None
            return self._schema

    def _serves(self, version: int) -> bool:
        schema = self._schema
        return schema is not None and version in (schema.version, self._stood_in_for)

    def _install(self, catalog: Catalog) -> None:
        """Build (or stand in for) ``catalog``'s schema; let go of the one it replaces."""
        old = self._schema
        try:
            schema = build_schema(catalog)
        except Exception as exc:
            schema = self._stand_in(catalog, exc)
        else:
            self._stood_in_for = None
        if old is not None and old is not schema:
            # Replacing the reference frees the retired version once no request uses it.
            old.retire()
        self._schema = schema

    def _stand_in(self, catalog: Catalog, exc: Exception) -> GeneratedSchema:
        """The best schema to serve for ``catalog``, which cannot be built whole."""
        # Two types or root fields of one name stop the builder; a field clash only hides one.
        found = [c for c in clashes(catalog.types, catalog.relationships) if c.scope != "field"]
        reasons = "; ".join(f"{c.owner}: {c.path}: {c.message}" for c in found) or repr(exc)
        log.error(
            "schema version %d cannot be built: %s", catalog.version, reasons, exc_info=not found
        )
        last = self._schema
        served = last.entities if last is not None else frozenset()
        dropped: set[str] = set()
        for clash in found:
            # Of the types that clash, those the last schema did not serve are left out.
            parties = {clash.owner, *clash.others}
            dropped |= (parties - served) or parties
        if dropped and not dropped & served:
            try:
                schema = build_schema(without(catalog, dropped))
            except Exception:
                log.exception("schema version %d: it fails without them too", catalog.version)
            else:
                log.error(
                    "schema version %d is served without %s; the other types are served as usual",
                    catalog.version,
                    ", ".join(sorted(dropped)),
                )
                self._stood_in_for = None
                return schema
        if last is not None:
            log.error(
                "schema version %d: still serving the last good schema (version %d)",
                catalog.version,
                last.version,
            )
            self._stood_in_for = catalog.version
            return last
        log.error(
            "schema version %d: serving only the API's own operations until it is fixed",
            catalog.version,
        )
        self._stood_in_for = None
        return build_schema(without(catalog, catalog.types))
