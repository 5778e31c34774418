"""Workflows as the registry's fourth kind of definition: parsed, checked, stored, versioned.

A workflow is stored like a role (one row of JSON, a version) but it depends
on the types and relationships it names, so it is checked against the
catalog whenever either side changes: saving a workflow that names a field
that does not exist, and changing a type so that a stored workflow's fields
or relationships disappear, are both ``BAD_DEFINITION`` naming the workflow.
Saving one bumps the schema version like any definition, so every server
process sees the change at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from xrm.errors import DefinitionError, Fault
from xrm.platform import tables as platform
from xrm.platform.settings import Settings
from xrm.schemas.formats import NUL
from xrm.schemas.model import EntityType, Relationship
from xrm.schemas.workflows import ActionTypes, Limits, Workflow, check_workflow, parse_workflow

# The keys only a workflow has (an entity type carries x-xrm, a role "role").
_WORKFLOW_KEYS = frozenset({"on", "actions"})


def is_workflow(definition: Mapping[str, Any]) -> bool:
    """Workflows say what they react to (``on``) and what they do (``actions``)."""
    return definition.keys() >= _WORKFLOW_KEYS and "x-xrm" not in definition


def ceiling(settings: Settings) -> Limits:
    """The most a workflow may ask of the sandbox (``XRM_SANDBOX_MAX_*``)."""
    s = settings.sandbox
    return Limits(s.max_cpu_seconds, s.max_wall_seconds, s.max_memory_mb)


def parse(
    definition: Any,
    settings: Settings,
    *,
    version: int = 1,
    action_types: ActionTypes | None = None,
) -> Workflow:
    return parse_workflow(
        definition, action_types=action_types, ceiling=ceiling(settings), version=version
    )


def load(
    conn: Connection, settings: Settings, action_types: ActionTypes | None = None
) -> dict[str, Workflow]:
    """Every stored workflow.

    Plugin actions load even when their plugin is gone (``ActionTypes.loose``):
    the workflow stays listed, and its run fails naming the missing action type.

    A stored workflow that no longer parses (a ceiling lowered since) is loaded
    with its limits cut to the ceiling rather than refused: the server must
    start, and the workflow keeps running within what the admin now allows.
    """
    workflows: dict[str, Workflow] = {}
    top = ceiling(settings)
    loose = (action_types or ActionTypes()).loose()
    for row in conn.execute(sa.select(platform.workflows)).mappings():
        definition = dict(row["definition"])
        try:
            workflow = parse(definition, settings, version=row["version"], action_types=loose)
        except DefinitionError:
            lenient = {k: v for k, v in definition.items() if k != "limits"}
            workflow = parse(lenient, settings, version=row["version"], action_types=loose)
            workflow = dataclasses.replace(
                workflow, definition=definition, limits=_limits(definition).within(top)
            )
        workflows[workflow.name] = workflow
    return workflows


def _limits(definition: Mapping[str, Any]) -> Limits:
    raw = definition.get("limits") or {}
    return Limits(raw.get("cpuSeconds"), raw.get("wallSeconds"), raw.get("memoryMb"))


def check_all(
    workflows: Mapping[str, Workflow],
    types: Mapping[str, EntityType],
    relationships: Mapping[str, Relationship],
    *,
    prefixed: bool,
) -> None:
    """Check ``workflows`` against the catalog; every fault of every workflow at once."""
    faults: list[Fault] = []
    for name in sorted(workflows):
        try:
            check_workflow(workflows[name], types, relationships)
        except DefinitionError as exc:
            prefix = f"workflow {name}: " if prefixed else ""
            faults.extend(Fault(f.field, prefix + f.message) for f in exc.faults)
    if faults:
        raise DefinitionError(faults)


def users_of(
    relationship: str,
    workflows: Mapping[str, Workflow],
    types: Mapping[str, EntityType],
    relationships: Mapping[str, Relationship],
) -> list[str]:
    """The workflows (by name) that would break without ``relationship``: a link or unlink
    trigger on it, or a link/unlink action through it. Scripts are not read."""
    rest = {name: rel for name, rel in relationships.items() if name != relationship}
    users = []
    for name in sorted(workflows):
        try:
            check_workflow(workflows[name], types, rest)
        except DefinitionError as exc:
            if any(f"named {relationship!r}" in f.message for f in exc.faults):
                users.append(name)
    return users


def store(conn: Connection, changed: Mapping[str, Workflow], author_id: str | None) -> None:
    now = dt.datetime.now(dt.UTC)
    t = platform.workflows
    for name, workflow in changed.items():
        values = {
            "definition": dict(workflow.definition),
            "version": workflow.version,
            "updated_at": now,
            "author_id": author_id,
        }
        done = conn.execute(t.update().where(t.c.name == name).values(**values))
        if done.rowcount == 0:
            conn.execute(t.insert().values(name=name, **values))


def delete(conn: Connection, name: str) -> bool:
    """Remove a stored workflow (and its schedule tick); False when there was none.

    A name with NUL is none: no stored name holds one (every door refuses it), and
    PostgreSQL cannot even compare one.
    """
    if NUL in name:
        return False
    done = conn.execute(platform.workflows.delete().where(platform.workflows.c.name == name))
    conn.execute(platform.workflow_ticks.delete().where(platform.workflow_ticks.c.workflow == name))
    return bool(done.rowcount)


def deleted(conn: Connection, names: Iterable[str]) -> dict[str, Mapping[str, Any]]:
    """What each of these deleted workflows was (``entity``, ``title``, ``label``), from the
    audit entry of its deletion (the last one); a name never deleted is left out."""
    wanted = [n for n in names if NUL not in n]
    if not wanted:
        return {}
    t = platform.audit
    rows = conn.execute(
        sa.select(t.c.entity, t.c.changes)
        .where(t.c.action == "delete", t.c.record_id.is_(None), t.c.entity.in_(wanted))
        .order_by(t.c.id)
    ).all()
    found: dict[str, Mapping[str, Any]] = {}
    for name, changes in rows:
        if isinstance(changes, Mapping) and changes.get("kind") == "workflow":
            was = changes.get("was")
            found[str(name)] = dict(was) if isinstance(was, Mapping) else {}
    return found
