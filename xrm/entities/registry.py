"""The registry: stored definitions, the schema version, and applying changes to both.

Definitions and a schema version live in the database, so every process (each
``xrm serve`` worker, the CLI) agrees on them: ``current()`` compares the
stored version with its cached snapshot on each call and rebuilds the snapshot
only when another process changed something.

``apply`` is the one way definitions change. It parses and checks everything
before touching anything, diffs old against new into a plan, checks stored
rows where the plan tightens or converts, then runs the DDL, stores the new
definitions, bumps the version and writes the audit rows, all in one
transaction: a failure anywhere leaves the old definitions and data intact.
A dry run does the same work and rolls it back, so it reports exactly the
refusals a real run would meet.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm.entities import ddl, workflow_store
from xrm.entities.broken_rules import Breaks
from xrm.entities.catalog_state import Catalog, build_catalog
from xrm.errors import (
    ConfirmationRequired,
    Conflict,
    DefinitionError,
    Fault,
    NotFound,
    ValidationFailed,
)
from xrm.platform import audit
from xrm.platform import tables as platform
from xrm.platform.db import Database
from xrm.platform.identity import SYSTEM_ACTOR, Actor
from xrm.platform.settings import Settings
from xrm.schemas.admission import admit
from xrm.schemas.formats import NUL
from xrm.schemas.model import EntityType, Property, Relationship
from xrm.schemas.naming import new_name_problem
from xrm.schemas.parse import (
    check_catalog,
    parse_entity_type,
    parse_properties,
    parse_relationship,
)
from xrm.schemas.plan import Plan, Step, diff_entity_type, diff_relationship
from xrm.schemas.plugin_formats import PluginFormats
from xrm.schemas.roles import Role, check_role, parse_role
from xrm.schemas.tables import search_index, unique_index
from xrm.schemas.validate import compile_property
from xrm.schemas.workflows import ActionTypes, TriggerSources, Workflow

VERSION_KEY = "schema_version"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class _DryRun(Exception):
    """Raised inside the transaction to roll back a dry run after all its checks passed."""


def is_role(definition: Mapping[str, Any]) -> bool:
    """Roles say ``"role": name``."""
    return "role" in definition and "x-xrm" not in definition


def is_relationship(definition: Mapping[str, Any]) -> bool:
    """Relationships say ``"relationship": name``; entity types carry an ``x-xrm`` block."""
    return "relationship" in definition


ENTITY_TYPE = "entity_type"
RELATIONSHIP = "relationship"
ROLE = "role"
WORKFLOW = "workflow"
KIND_WORDS = {
    ENTITY_TYPE: "an entity-type",
    RELATIONSHIP: "a relationship",
    ROLE: "a role",
    WORKFLOW: "a workflow",
}


def definition_kind(definition: Mapping[str, Any]) -> str:
    """``entity_type``, ``relationship``, ``role`` or ``workflow``: how ``apply`` reads it.

    Callers that accept one kind only (each GraphQL define mutation, the
    admin UI's role editor) ask this before anything else, because each kind
    needs its own right: a role sent through the door for types must not be
    stored with the rights of that door.
    """
    if workflow_store.is_workflow(definition):
        return WORKFLOW
    if is_role(definition):
        return ROLE
    if is_relationship(definition):
        return RELATIONSHIP
    return ENTITY_TYPE


def _definition_label(definition: Any, index: int) -> str:
    if isinstance(definition, Mapping):
        meta = definition.get("x-xrm")
        if isinstance(meta, Mapping) and isinstance(meta.get("name"), str):
            return str(meta["name"])
        if isinstance(definition.get("relationship"), str):
            return str(definition["relationship"])
        if isinstance(definition.get("role"), str):
            return str(definition["role"])
        if isinstance(definition.get("name"), str):
            return str(definition["name"])
    return f"definitions.{index}"


def _retired_json(retired: Mapping[str, Property]) -> dict[str, Any]:
    return {n: {"schema": dict(p.schema), "required": p.required} for n, p in retired.items()}


def _revive_retired(raw: Mapping[str, Any]) -> dict[str, Property]:
    schemas = {name: item["schema"] for name, item in raw.items()}
    required = [name for name, item in raw.items() if item.get("required")]
    # A property stored by an older release under other rules keeps what still parses.
    props, _faults = parse_properties("retired", schemas, required, refs_allowed=True)
    return props


def read_version(conn: Connection) -> int:
    return version_value(conn.execute(version_query()).scalar_one_or_none())


def version_query() -> sa.Select[Any]:
    """The stored schema version's row, as a query (callers may fold it into theirs)."""
    return sa.select(platform.state.c.value).where(platform.state.c.key == VERSION_KEY)


def version_value(stored: Any) -> int:
    """The schema version from what ``version_query`` read (0 before any definition)."""
    return int(stored) if stored is not None else 0


def load_definitions(
    conn: Connection, formats: PluginFormats | None = None
) -> tuple[dict[str, EntityType], dict[str, Relationship]]:
    """Every stored entity type (with its retired properties) and relationship, their plugin
    formats bound to ``formats`` (a format whose plugin is gone refuses new values)."""
    formats = formats if formats is not None else PluginFormats()
    types: dict[str, EntityType] = {}
    for row in conn.execute(sa.select(platform.entity_types)).mappings():
        et = formats.bind_type(parse_entity_type(row["definition"], version=row["version"]))
        types[et.name] = dataclasses.replace(et, retired=_revive_retired(row["retired"] or {}))
    relationships: dict[str, Relationship] = {}
    for row in conn.execute(sa.select(platform.relationships)).mappings():
        rel = parse_relationship(row["definition"], version=row["version"])
        retired = _revive_retired(row["retired"] or {})
        rel = formats.bind_relationship(rel)
        relationships[rel.name] = dataclasses.replace(rel, retired=retired)
    return types, relationships


def _format_faults(
    formats: PluginFormats,
    new: Mapping[str, EntityType | Relationship],
    stored: Mapping[str, EntityType | Relationship],
    several: bool,
) -> list[Fault]:
    """A new or changed property may name only an enabled plugin's format, and its default
    must be a value that format accepts; one already stored with its format keeps loading."""
    faults: list[Fault] = []
    for name, item in new.items():
        prefix = f"{name}." if several else ""
        old = stored.get(name)
        for prop in item.properties.values():
            fmt = prop.plugin_format
            if fmt is None:
                continue
            here = f"{prefix}properties.{prop.name}"
            was = old.properties.get(prop.name) if old is not None else None
            if not fmt.available:
                if was is None or was.schema.get("format") != fmt.name:
                    faults.append(Fault(f"{here}.format", formats.problem(fmt.name) or ""))
                continue
            if prop.has_default:
                try:
                    compile_property(prop)(prop.default)
                except ValueError as exc:
                    faults.append(
                        Fault(f"{here}.default", f"the default is not a valid value: {exc}")
                    )
    return faults


def load_roles(conn: Connection) -> dict[str, Role]:
    """Every stored (non-built-in) role."""
    roles: dict[str, Role] = {}
    for row in conn.execute(sa.select(platform.roles)).mappings():
        role = parse_role(row["definition"])
        roles[role.name] = dataclasses.replace(role, version=row["version"])
    return roles


def _check_kinds(definitions: Sequence[Mapping[str, Any]], kinds: Collection[str]) -> None:
    """``BAD_DEFINITION`` for every definition whose kind is not one of ``kinds``."""
    wanted = " or ".join(f"{KIND_WORDS[k]} definition" for k in sorted(kinds))
    faults = []
    for index, definition in enumerate(definitions):
        label = _definition_label(definition, index) if len(definitions) > 1 else ""
        if not isinstance(definition, Mapping):
            faults.append(Fault(label, "a definition is a JSON object"))
            continue
        kind = definition_kind(definition)
        if kind not in kinds:
            said = f"this is {KIND_WORDS[kind]} definition; only {wanted} is accepted here"
            faults.append(Fault(label, said))
    if faults:
        raise DefinitionError(faults)


def _check_expected_version(
    expected: int, pairs: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]
) -> None:
    """``CONFLICT`` unless the one definition being applied is stored at ``expected``."""
    for stored, new in pairs:
        for name in new:
            current = stored[name].version if name in stored else 0
            if current != expected:
                raise Conflict(
                    f"{name!r} is at version {current}, not {expected}: "
                    "it was changed since it was loaded; reload it and apply again",
                    currentVersion=current,
                )


def _check_new_names(
    several: bool, kinds: Sequence[tuple[Mapping[str, Any], Mapping[str, Any], str]]
) -> None:
    """``BAD_DEFINITION`` at the name of each definition not stored yet whose name is taken
    for a page of the admin UI (``new``); one stored before that rule may still change."""
    faults = [
        Fault(f"{name}.{path}" if several else path, problem)
        for new, stored, path in kinds
        for name in new
        if name not in stored and (problem := new_name_problem(name))
    ]
    if faults:
        raise DefinitionError(faults)


class Registry:
    """Definitions of one database, cached per schema version, changed only through ``apply``."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        action_types: ActionTypes | None = None,
        formats: PluginFormats | None = None,
        sources: TriggerSources | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        # Plugin action types a workflow may use (app.py hands down the plugin manager's).
        self.action_types = action_types or ActionTypes()
        # Plugin field formats a property may name (``"format": "<plugin>.<format>"``).
        self.formats = formats if formats is not None else PluginFormats()
        # Plugin trigger sources a new workflow may name (``"source": "<plugin>.<source>"``).
        self.sources = sources if sources is not None else TriggerSources()
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()

    # --- reading -----------------------------------------------------------------------------

    def current(self, conn: Connection | None = None, version: int | None = None) -> Catalog:
        """The snapshot of the stored schema version (one cheap query when nothing changed).

        ``version``: the version already read in ``conn``'s transaction.
        """
        if conn is None:
            with self.db.read() as own:
                return self.current(own)
        if version is None:
            version = read_version(conn)
        cached = self._catalog
        if cached is not None and cached.version == version:
            return cached
        with self._lock:
            cached = self._catalog
            if cached is not None and cached.version == version:
                return cached
            types, relationships = load_definitions(conn, self.formats)
            catalog = build_catalog(
                version,
                types,
                relationships,
                self.settings.phone_region,
                load_roles(conn),
                workflow_store.load(conn, self.settings, self.action_types),
            )
            self._catalog = catalog
            return catalog

    def export(self) -> list[tuple[str, dict[str, Any]]]:
        """Every definition as ``(relative path, definition)``, in the catalog's file layout.

        Deep copies: the caller may change them without touching the shared snapshot.
        """
        catalog = self.current()
        out: list[tuple[str, dict[str, Any]]] = []
        for name in sorted(catalog.types):
            definition = copy.deepcopy(dict(catalog.types[name].definition))
            out.append((f"{name}/definition.json", definition))
        for name in sorted(catalog.relationships):
            definition = copy.deepcopy(dict(catalog.relationships[name].definition))
            out.append((f"relationships/{name}.json", definition))
        for name in sorted(catalog.roles):
            out.append((f"roles/{name}.json", copy.deepcopy(dict(catalog.roles[name].definition))))
        for name in sorted(catalog.workflows):
            definition = copy.deepcopy(dict(catalog.workflows[name].definition))
            out.append((f"workflows/{name}.json", definition))
        return out

    def stored_values(self, table: str, column: str) -> int:
        """How many stored rows of ``table`` hold a value in ``column``.

        The type designer's plan says how many values a conversion or a new
        rule meets ("118 values to convert"); a plan alone names only the
        records that block it. A column missing from the table counts 0.
        """
        with self.db.read() as conn:
            existing = {c["name"] for c in sa.inspect(conn).get_columns(table)}
            if column not in existing:
                return 0
            target = sa.table(table, sa.column(column))
            query = sa.select(sa.func.count()).where(target.c[column].is_not(None))
            return int(conn.execute(query).scalar_one())

    # --- changing ----------------------------------------------------------------------------

    def define(self, definition: Mapping[str, Any], **options: Any) -> Plan:
        """Apply one entity-type or relationship definition (see :meth:`apply`)."""
        return self.apply([definition], **options)

    def apply(
        self,
        definitions: Sequence[Mapping[str, Any]],
        *,
        actor: Actor = SYSTEM_ACTOR,
        channel: str = "system",
        dry_run: bool = False,
        confirm_data_loss: bool = False,
        request_id: str | None = None,
        expected_version: int | None = None,
        kinds: Collection[str] | None = None,
    ) -> Plan:
        """Make the stored definitions equal to ``definitions`` (others stay as they are).

        Raises ``DefinitionError`` listing every fault (and, for a refused
        change, the ids of the records that would break) and
        ``ConfirmationRequired`` for a plan that drops data without
        ``confirm_data_loss``. Returns the plan, applied unless ``dry_run``.

        ``expected_version`` (one definition only) is optimistic locking for
        editors: the stored definition must still be at that version (0: not
        defined yet), else ``CONFLICT`` and nothing changes — two admins
        editing one definition never silently overwrite each other.

        ``kinds`` (``definition_kind`` values) refuses, before anything is
        parsed or stored, a definition of any other kind: a caller that
        checked the right one kind needs passes that kind alone.
        """
        if kinds is not None:
            _check_kinds(definitions, kinds)
        new_types, new_relationships, new_roles, new_workflows = self._parse(definitions)
        if expected_version is not None and len(definitions) != 1:
            raise ValidationFailed([Fault("expectedVersion", "applies to exactly one definition")])
        plan = Plan()
        try:
            with self._schema_transaction() as conn:
                version = read_version(conn)
                old_catalog = self.current(conn)
                stored_types, stored_relationships = load_definitions(conn, self.formats)
                faults = _format_faults(
                    self.formats, new_types, stored_types, len(definitions) > 1
                ) + _format_faults(
                    self.formats, new_relationships, stored_relationships, len(definitions) > 1
                )
                if faults:
                    raise DefinitionError(faults)
                stored_roles = load_roles(conn)
                stored_workflows = workflow_store.load(conn, self.settings, self.action_types)
                if expected_version is not None:
                    _check_expected_version(
                        expected_version,
                        [
                            (stored_types, new_types),
                            (stored_relationships, new_relationships),
                            (stored_roles, new_roles),
                            (stored_workflows, new_workflows),
                        ],
                    )
                _check_new_names(
                    len(definitions) > 1,
                    [
                        (new_types, stored_types, "x-xrm.name"),
                        (new_relationships, stored_relationships, "relationship"),
                        (new_workflows, stored_workflows, "name"),
                    ],
                )
                merged_types = {**stored_types, **new_types}
                merged_relationships = {**stored_relationships, **new_relationships}
                check_catalog(
                    merged_types,
                    merged_relationships,
                    focus=[*new_types, *new_relationships],
                )
                for name, et in new_types.items():
                    result, steps = diff_entity_type(
                        stored_types.get(name), et, confirm_data_loss=confirm_data_loss
                    )
                    merged_types[name] = result
                    if steps:
                        plan.types[name] = result
                        plan.steps.extend(steps)
                for name, rel in new_relationships.items():
                    rel_result, steps = diff_relationship(
                        stored_relationships.get(name), rel, confirm_data_loss=confirm_data_loss
                    )
                    merged_relationships[name] = rel_result
                    if steps:
                        plan.relationships[name] = rel_result
                        plan.steps.extend(steps)
                merged_roles = {**stored_roles}
                self._diff_roles(new_roles, stored_roles, merged_types, plan)
                merged_roles.update(plan.roles)
                merged_workflows = self._diff_workflows(
                    new_workflows, stored_workflows, merged_types, merged_relationships, plan
                )
                if plan.empty:
                    return plan
                if plan.loses_data and not confirm_data_loss:
                    lost = [str(s) for s in plan.steps if s.loses_data]
                    raise ConfirmationRequired(
                        "this change drops stored data; confirm data loss to apply it: "
                        + "; ".join(lost),
                        steps=lost,
                    )
                new_catalog = build_catalog(
                    version + 1,
                    merged_types,
                    merged_relationships,
                    self.settings.phone_region,
                    merged_roles,
                    merged_workflows,
                )
                executor = _Executor(conn, old_catalog, new_catalog, self.settings.phone_region)
                executor.run(plan, prefixed=len(new_types) + len(new_relationships) > 1)
                if plan.refusals:
                    faults = plan.faults()
                    # A dry run answers a plan that stored rows block; anything else is refused.
                    if dry_run and all(f.count for f in faults):
                        raise _DryRun
                    raise DefinitionError(faults)
                self._store(conn, plan, version + 1)
                workflow_store.store(conn, plan.workflows, actor.id)
                audit.write(conn, self._audit_rows(plan, actor, channel, request_id))
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        return plan

    def delete_workflow(
        self,
        name: str,
        *,
        actor: Actor = SYSTEM_ACTOR,
        channel: str = "system",
        request_id: str | None = None,
    ) -> bool:
        """Remove a workflow (audited; every process sees it at its next request).

        False when there is none by that name. Its runs stay in the history; the audit
        entry keeps what it was about (entity, title, label) to show them by
        (``workflow_store.deleted``).
        """
        with self._schema_transaction() as conn:
            version = read_version(conn)
            stored = self.current().workflows.get(name)
            if not workflow_store.delete(conn, name):
                return False
            conn.execute(
                platform.state.update()
                .where(platform.state.c.key == VERSION_KEY)
                .values(value=str(version + 1))
            )
            changes: dict[str, Any] = {
                "kind": "workflow",
                "version": None,
                "steps": [f"delete workflow {name}"],
            }
            if stored is not None:  # what its kept runs were about, for whoever reads them
                was = stored.definition
                changes["was"] = {k: was[k] for k in ("entity", "title", "label") if k in was}
            audit.write(
                conn, [audit.entry(actor, channel, "delete", name, None, changes, request_id)]
            )
        return True

    def remove_relationship(
        self,
        name: str,
        *,
        actor: Actor = SYSTEM_ACTOR,
        channel: str = "system",
        confirm_data_loss: bool = False,
        expected_version: int | None = None,
        expected_links: int | None = None,
        request_id: str | None = None,
    ) -> int:
        """Remove a many-to-many relationship: its link table with every link, and its
        definition (audited as a purge; every process sees it at its next request).

        Returns how many links were dropped. ``NOT_FOUND`` when there is no
        relationship by that name; ``CONFLICT`` when ``expected_version`` is
        stale; ``BAD_DEFINITION`` at ``relationship`` naming each workflow that
        uses it (a link trigger or a link action: change those first);
        ``CONFIRMATION_REQUIRED``, saying how many links would go
        (``extensions.links``), without ``confirm_data_loss`` or when it holds
        another number of links than ``expected_links`` (what the admin was
        shown). Nothing changes unless everything passes.
        """
        with self._schema_transaction() as conn:
            version = read_version(conn)
            types, relationships = load_definitions(conn)
            rel = relationships.get(name) if NUL not in name else None
            if rel is None:
                raise NotFound(f"no relationship named {name!r}", relationship=name)
            if expected_version is not None and rel.version != expected_version:
                raise Conflict(
                    f"{name!r} is at version {rel.version}, not {expected_version}: "
                    "it was changed since it was loaded; reload it and try again",
                    currentVersion=rel.version,
                )
            workflows = workflow_store.load(conn, self.settings, self.action_types)
            users = workflow_store.users_of(name, workflows, types, relationships)
            if users:
                raise DefinitionError(
                    [
                        Fault("relationship", f"the workflow {user!r} uses {name!r}")
                        for user in users
                    ]
                )
            table = self.current(conn, version).link_tables[name]
            if not self.db.is_sqlite:  # no link added between counting and dropping
                conn.execute(sa.text(f'LOCK TABLE "{table.name}" IN ACCESS EXCLUSIVE MODE'))
            links = int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            step = f"drop relationship {name} with its {links} links"
            if not confirm_data_loss or (expected_links is not None and links != expected_links):
                raise ConfirmationRequired(
                    f"removing {name!r} drops its {links} links; confirm data loss to remove it",
                    steps=[step],
                    links=links,
                )
            conn.execute(sa.text(f'DROP TABLE "{table.name}"'))
            conn.execute(
                platform.relationships.delete().where(platform.relationships.c.name == name)
            )
            conn.execute(
                platform.state.update()
                .where(platform.state.c.key == VERSION_KEY)
                .values(value=str(version + 1))
            )
            changes = {"kind": "relationship", "version": None, "steps": [step], "links": links}
            audit.write(
                conn, [audit.entry(actor, channel, "purge", name, None, changes, request_id)]
            )
        return links

    @staticmethod
    def _diff_roles(
        new: Mapping[str, Role],
        stored: Mapping[str, Role],
        types: Mapping[str, EntityType],
        plan: Plan,
    ) -> None:
        """Check roles against the (new) types and plan the changed ones."""
        fields = {name: set(et.properties) for name, et in types.items()}
        faults: list[Fault] = []
        for name, role in new.items():
            try:
                check_role(role, fields)
            except DefinitionError as exc:
                prefix = f"{name}." if len(new) > 1 else ""
                faults.extend(Fault(prefix + f.field, f.message) for f in exc.faults)
                continue
            old = stored.get(name)
            if old is not None and dict(old.definition) == dict(role.definition):
                continue
            version = old.version + 1 if old is not None else 1
            plan.roles[name] = dataclasses.replace(role, version=version)
            plan.steps.append(Step("define_role", name))
        if faults:
            raise DefinitionError(faults)

    @staticmethod
    def _diff_workflows(
        new: Mapping[str, Workflow],
        stored: Mapping[str, Workflow],
        types: Mapping[str, EntityType],
        relationships: Mapping[str, Relationship],
        plan: Plan,
    ) -> dict[str, Workflow]:
        """Check every workflow against the catalog as it will be, and plan the changed ones.

        Stored workflows are checked too: a type change that removes a field or a
        relationship a workflow uses is refused, naming the workflow.
        """
        workflow_store.check_all(new, types, relationships, prefixed=len(new) > 1)
        untouched = {n: w for n, w in stored.items() if n not in new}
        workflow_store.check_all(untouched, types, relationships, prefixed=True)
        merged = dict(stored)
        for name, workflow in new.items():
            old = stored.get(name)
            if old is not None and dict(old.definition) == dict(workflow.definition):
                continue
            version = old.version + 1 if old is not None else 1
            merged[name] = plan.workflows[name] = dataclasses.replace(workflow, version=version)
            plan.steps.append(Step("define_workflow", name))
        return merged

    def _parse(
        self, definitions: Sequence[Mapping[str, Any]]
    ) -> tuple[
        dict[str, EntityType], dict[str, Relationship], dict[str, Role], dict[str, Workflow]
    ]:
        """Parse every definition, collecting all faults (prefixed by name when several)."""
        faults: list[Fault] = []
        records: list[str] = []
        types: dict[str, EntityType] = {}
        relationships: dict[str, Relationship] = {}
        roles: dict[str, Role] = {}
        workflows: dict[str, Workflow] = {}
        several = len(definitions) > 1
        for index, definition in enumerate(definitions):
            label = _definition_label(definition, index)
            try:
                if not isinstance(definition, Mapping):
                    raise DefinitionError([Fault("", "a definition is a JSON object")])
                admit(definition)  # rules for new definitions only: stored ones still load
                if workflow_store.is_workflow(definition):
                    workflow = workflow_store.parse(
                        definition, self.settings, action_types=self.action_types
                    )
                    if source_faults := self.sources.faults(workflow):
                        raise DefinitionError(source_faults)
                    if workflow.name in workflows:
                        raise DefinitionError([Fault("name", "defined twice")])
                    workflows[workflow.name] = workflow
                elif is_role(definition):
                    role = parse_role(definition)
                    if role.name in roles:
                        raise DefinitionError([Fault("role", "defined twice")])
                    roles[role.name] = role
                elif is_relationship(definition):
                    rel = self.formats.bind_relationship(parse_relationship(definition))
                    if rel.name in relationships:
                        raise DefinitionError([Fault("relationship", "defined twice")])
                    relationships[rel.name] = rel
                else:
                    et = self.formats.bind_type(parse_entity_type(definition))
                    if et.name in types:
                        raise DefinitionError([Fault("x-xrm.name", "defined twice")])
                    types[et.name] = et
            except DefinitionError as exc:
                for fault in exc.faults:
                    field = f"{label}.{fault.field}" if several and fault.field else fault.field
                    faults.append(Fault(field or label, fault.message))
                records.extend(exc.extensions.get("records") or [])
        if faults:
            raise DefinitionError(faults)
        return types, relationships, roles, workflows

    @contextmanager
    def _schema_transaction(self) -> Iterator[Connection]:
        """One write transaction that serialises definition changes across processes.

        On SQLite, rebuilding a table (batch mode) drops and renames it; foreign
        keys must be off for that (a PRAGMA that only works outside a
        transaction), and are checked in full before the commit instead.
        """
        with self.db.engine.connect() as conn:
            sqlite = self.db.is_sqlite
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            try:
                conn = conn.execution_options(xrm_write=True)
                with conn.begin():
                    # Take the version row first: concurrent appliers queue here.
                    conn.execute(
                        platform.state.update()
                        .where(platform.state.c.key == VERSION_KEY)
                        .values(value=platform.state.c.value)
                    )
                    yield conn
                    if sqlite:
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise DefinitionError(
                                [Fault("", f"the change would break references in {broken[0][0]}")]
                            )
            finally:
                if sqlite:
                    conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]

    def _store(self, conn: Connection, plan: Plan, version: int) -> None:
        now = dt.datetime.now(dt.UTC)
        # Plurals are unique per row; park the changed rows on their names (never another
        # type's plural) so two types may trade plurals in one apply.
        conn.execute(
            platform.entity_types.update()
            .where(platform.entity_types.c.name.in_(list(plan.types)))
            .values(plural=platform.entity_types.c.name)
        )
        for name, et in plan.types.items():
            values = {
                "plural": et.plural,
                "definition": dict(et.definition),
                "retired": _retired_json(et.retired),
                "version": et.version,
                "updated_at": now,
            }
            done = conn.execute(
                platform.entity_types.update()
                .where(platform.entity_types.c.name == name)
                .values(**values)
            )
            if done.rowcount == 0:
                conn.execute(platform.entity_types.insert().values(name=name, **values))
        for name, rel in plan.relationships.items():
            rel_values = {
                "definition": dict(rel.definition),
                "retired": _retired_json(rel.retired),
                "version": rel.version,
                "updated_at": now,
            }
            done = conn.execute(
                platform.relationships.update()
                .where(platform.relationships.c.name == name)
                .values(**rel_values)
            )
            if done.rowcount == 0:
                conn.execute(platform.relationships.insert().values(name=name, **rel_values))
        for name, role in plan.roles.items():
            role_values = {
                "definition": dict(role.definition),
                "version": role.version,
                "updated_at": now,
            }
            done = conn.execute(
                platform.roles.update().where(platform.roles.c.name == name).values(**role_values)
            )
            if done.rowcount == 0:
                conn.execute(platform.roles.insert().values(name=name, **role_values))
        conn.execute(
            platform.state.update()
            .where(platform.state.c.key == VERSION_KEY)
            .values(value=str(version))
        )

    @staticmethod
    def _audit_rows(
        plan: Plan, actor: Actor, channel: str, request_id: str | None
    ) -> list[dict[str, Any]]:
        rows = []
        for target, version, kind in [
            *((n, et.version, "entity_type") for n, et in plan.types.items()),
            *((n, r.version, "relationship") for n, r in plan.relationships.items()),
            *((n, r.version, "role") for n, r in plan.roles.items()),
            *((n, w.version, "workflow") for n, w in plan.workflows.items()),
        ]:
            steps = [
                s
                for s in plan.steps
                if s.target == target
                and s.relationship == (kind == "relationship")
                and (s.action == "define_role") == (kind == "role")
                and (s.action == "define_workflow") == (kind == "workflow")
            ]
            action = "purge" if any(s.loses_data for s in steps) else "define"
            changes = {"kind": kind, "version": version, "steps": [str(s) for s in steps]}
            rows.append(audit.entry(actor, channel, action, target, None, changes, request_id))
        return rows


class _Executor:
    """Carries out one plan inside the registry's transaction, checks before DDL."""

    # Steps run in this order: drops of old indexes first, new unique indexes last; purges
    # before adds, so a column purged in the same change frees its name for a new one.
    ORDER: ClassVar[dict[str, int]] = {
        "drop_unique": 0,
        "drop_index": 0,
        "relink": 1,
        "create_table": 2,
        "purge_column": 3,
        "add_column": 4,
        "restore_column": 5,
        "check_rows": 6,
        "convert_column": 6,
        "retire_column": 7,
        "add_unique": 8,
        "add_index": 8,
        "update_definition": 9,
    }

    def __init__(self, conn: Connection, old: Catalog, new: Catalog, phone_region: str) -> None:
        self.conn = conn
        self.old = old
        self.new = new
        self.phone_region = phone_region
        self.changer = ddl.SchemaChanger(conn)

    def run(self, plan: Plan, *, prefixed: bool = False) -> None:
        """Every step in order, noting in ``plan.refusals`` each step that cannot be made.

        A step refused by its check makes no change and the others still run,
        so one answer names every broken rule of every step; the caller rolls
        the whole transaction back. ``prefixed`` names the definition in each
        fault's path.
        """
        steps = sorted(enumerate(plan.steps), key=lambda s: self.ORDER.get(s[1].action, 9))
        created = [s for _, s in steps if s.action == "create_table"]
        relinked = [s for _, s in steps if s.action == "relink"]
        for step in relinked:
            self.conn.execute(sa.text(f'DROP TABLE "{self.old.link_tables[step.target].name}"'))
        self.changer.create_tables(
            self.new,
            [s.target for s in created if not s.relationship],
            [s.target for s in [*created, *relinked] if s.relationship],
        )
        for index, step in steps:
            if step.action in (
                "create_table",
                "relink",
                "update_definition",
                "define_role",
                "define_workflow",
            ):
                continue
            breaks = Breaks()
            try:
                getattr(self, step.action)(step, breaks)
            except DefinitionError as exc:
                faults = list(exc.faults)
            else:
                faults = breaks.faults()
            if faults:
                if prefixed:
                    faults = [
                        dataclasses.replace(f, field=f"{step.target}.{f.field}".rstrip("."))
                        for f in faults
                    ]
                plan.refusals[index] = tuple(faults)

    # --- helpers ---

    def _old_table(self, step: Step) -> sa.Table:
        return (self.old.link_tables if step.relationship else self.old.tables)[step.target]

    def _new_table(self, step: Step) -> sa.Table:
        return (self.new.link_tables if step.relationship else self.new.tables)[step.target]

    def _check_collisions(
        self, step: Step, values: Sequence[tuple[str, Any, Any]], breaks: Breaks
    ) -> None:
        """Records whose values a conversion would make equal under a kept unique set.

        A rewrite (text to e-mail lowercases ``A@x.org``; text to UUID lowercases)
        can map two distinct stored values onto one; the unique index would then
        stop the write halfway. Found here instead, each colliding record named.
        """
        if step.relationship or step.prop is None:
            return
        old_et, new_et = self.old.types[step.target], self.new.types[step.target]
        name = step.prop.name
        table = self._old_table(step)
        converted = {str(k): new for k, new, _ in values}
        for index, group in enumerate(new_et.unique):
            if name not in group or group not in old_et.unique:
                continue  # a new unique set is checked by its own step, after the conversion
            where = group.index(name)
            cols = [table.c[old_et.properties[n].column] for n in group]
            seen: dict[tuple[Any, ...], list[str]] = {}
            for row in self.conn.execute(sa.select(table.c.id, *cols).order_by(table.c.id)):
                record_id, key = str(row[0]), list(row[1:])
                key[where] = converted.get(record_id)
                if all(v is not None for v in key):
                    seen.setdefault(tuple(key), []).append(record_id)
            for ids in seen.values():
                if len(ids) > 1:
                    for record_id in ids:
                        breaks.add(
                            f"x-xrm.unique.{index}",
                            "unique",
                            f"the values of ({', '.join(group)}) would no longer be unique "
                            f"once {name} is converted",
                            record_id,
                        )

    # --- steps ---

    def drop_unique(self, step: Step, breaks: Breaks) -> None:
        old_et = self.old.types[step.target]
        index = unique_index(old_et.table_name, old_et, step.group)
        assert index.name is not None
        self.changer.drop_unique(old_et.table_name, str(index.name))

    def drop_index(self, step: Step, breaks: Breaks) -> None:
        old_et = self.old.types[step.target]
        index = search_index(old_et.table_name, old_et, step.group)
        self.changer.drop_index(old_et.table_name, str(index.name))

    def add_index(self, step: Step, breaks: Breaks) -> None:
        et = self.new.types[step.target]
        index = search_index(et.table_name, et, step.group)
        columns = [et.properties[n].column for n in step.group]
        self.changer.add_index(et.table_name, str(index.name), [*columns, "id"])

    def add_column(self, step: Step, breaks: Breaks) -> None:
        prop = step.prop
        assert prop is not None
        table = self._new_table(step)
        self.changer.add_column(table.name, prop)
        if prop.autonumber:
            return
        if prop.has_default:
            # As SQL's ADD COLUMN ... DEFAULT: the stored records get the default too (the plan
            # says so), so a record reads the same whether it was made before or after.
            default = compile_property(prop, self.phone_region)(prop.default)
            self.conn.execute(table.update().values({prop.column: default}))
            return
        if not prop.required:
            return
        key = table.c.from_id if step.relationship else table.c.id
        for row in self.conn.execute(sa.select(key).order_by(key)):
            breaks.add(
                f"properties.{prop.name}",
                "required",
                "is required and has no default, so the stored records have no value",
                row[0],
            )

    def restore_column(self, step: Step, breaks: Breaks) -> None:
        """A retired column still holds its data; defining the property again shows it."""

    def retire_column(self, step: Step, breaks: Breaks) -> None:
        """Nothing to do in the database: the column and its data stay, hidden."""

    def purge_column(self, step: Step, breaks: Breaks) -> None:
        assert step.old is not None
        self.changer.drop_column(self._old_table(step).name, step.old)

    def check_rows(self, step: Step, breaks: Breaks) -> None:
        assert step.prop is not None
        values = ddl.check_rows(self.conn, self._old_table(step), step, self.phone_region, breaks)
        if breaks:
            return
        changed = [(k, new) for k, new, old in values if new != old]
        if changed:
            self._check_collisions(step, values, breaks)
            if breaks:
                return
        if changed and not step.relationship:
            self.changer.write_values(self._old_table(step).name, step.prop, changed, "id")

    def convert_column(self, step: Step, breaks: Breaks) -> None:
        assert step.prop is not None and step.old is not None
        if step.old.ref is None and step.prop.ref is not None and not step.relationship:
            self._text_to_reference(step, breaks)
            return
        if (step.old.ref is None) != (step.prop.ref is None):
            raise DefinitionError(
                [
                    Fault(
                        f"properties.{step.prop.name}",
                        "a reference cannot become a plain property or the other way round; "
                        "add a property with a new name instead",
                    )
                ]
            )
        table = self._old_table(step)
        values = ddl.check_rows(self.conn, table, step, self.phone_region, breaks)
        if step.relationship and values:
            for from_id, _new, _old in values:
                breaks.add(
                    f"properties.{step.prop.name}",
                    "type",
                    "a link attribute with stored values cannot change type; remove it "
                    "(confirming data loss) and add it again",
                    from_id,
                )
        if breaks:
            return
        self._check_collisions(step, values, breaks)
        if breaks:
            return
        converted = [(k, new) for k, new, _ in values]
        self.changer.convert_column(table.name, step.old, step.prop, converted, "id")

    def _text_to_reference(self, step: Step, breaks: Breaks) -> None:
        """A text field holding record ids becomes a reference to those records.

        Every stored value must be the id of a record of the referenced type
        (spelled in any letter case: ids are lowercase UUIDs); each record
        whose value points at none blocks the change, named like any other
        refused conversion. The ids move to the reference's column
        (``partner`` -> ``partner_id``), with its foreign key, and the text
        column goes: every value it held is in the new one.
        """
        old, new = step.old, step.prop
        assert old is not None and new is not None and new.ref is not None
        path = f"properties.{new.name}"
        if old.kind not in ("string", "uuid"):
            raise DefinitionError(
                [Fault(path, f"a {old.kind} field cannot become a reference; only a text field")]
            )
        et = self.old.types[step.target]
        if any(old.name in group for group in (*et.unique, *et.indexes)):
            raise DefinitionError(
                [
                    Fault(
                        path,
                        "a field in a unique set or an index cannot become a reference; "
                        "take it out of them first",
                    )
                ]
            )
        table = self._old_table(step)
        target = self.new.tables[new.ref.entity]
        rows = self.conn.execute(
            sa.select(table.c.id, table.c[old.column]).order_by(table.c.id)
        ).all()
        wanted = sorted(
            {v.strip().lower() for _, v in rows if isinstance(v, str) and _UUID.match(v.strip())}
        )
        existing: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found = self.conn.execute(sa.select(target.c.id).where(target.c.id.in_(chunk)))
            existing.update(str(row[0]) for row in found)
        converted: list[tuple[str, Any]] = []
        for record_id, value in rows:
            if value is None:
                if new.required:
                    breaks.add(path, "required", "is required", record_id)
                continue
            key = value.strip().lower() if isinstance(value, str) else ""
            if key in existing:
                converted.append((str(record_id), key))
            else:
                said = f"{str(value)[:60]!r} is not the id of a {new.ref.entity} record"
                breaks.add(path, "ref", said, record_id)
        if breaks:
            return
        self.changer.add_column(table.name, new)
        self.changer.write_values(table.name, new, converted, "id")
        self.changer.drop_column(table.name, old)

    def add_unique(self, step: Step, breaks: Breaks) -> None:
        et = self.new.types[step.target]
        table = self.new.tables[step.target]
        columns = [et.properties[n].column for n in step.group]
        path = f"x-xrm.unique.{et.unique.index(step.group)}"
        ddl.check_unique(self.conn, table, columns, path, breaks)
        if breaks:
            return
        index = unique_index(table.name, et, step.group)
        self.changer.add_unique(table.name, str(index.name), columns)
