"""Workflows in the registry: stored, versioned, audited, exported, checked against the
catalog whichever side changes, and deleted."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import sqlalchemy as sa

from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.errors import Conflict, DefinitionError
from xrm.platform import tables
from xrm.platform.db import Database
from xrm.platform.identity import Actor

ESCALATE: dict[str, Any] = {
    "name": "escalate",
    "entity": "grievance",
    "on": ["create", "update"],
    "fields": ["severity"],
    "stage": "before",
    "when": "record['severity'] == 'critical'",
    "actions": [{"type": "set", "values": {"status": "escalated"}}],
}
ON_CONTRACT_LINK: dict[str, Any] = {
    "name": "on_contract",
    "entity": "grievance",
    "on": ["link"],
    "relationship": "grievance.contract",
    "actions": [{"type": "script", "code": "log('linked')"}],
}


@pytest.fixture
def catalog_registry(registry: Registry) -> Registry:
    registry.apply(definitions())
    return registry


def audit_rows(db: Database) -> list[tuple[str, str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(tables.audit.c.action, tables.audit.c.entity, tables.audit.c.changes)
            .where(tables.audit.c.entity.in_(["escalate", "on_contract"]))
            .order_by(tables.audit.c.id)
        )
        return [(r.action, r.entity, r.changes["kind"]) for r in rows]


def test_a_workflow_is_stored_versioned_audited_and_exported(
    catalog_registry: Registry, db: Database, admin: Actor
) -> None:
    before = catalog_registry.current().version
    plan = catalog_registry.apply([ESCALATE, ON_CONTRACT_LINK], actor=admin)
    assert plan.describe() == ["define workflow escalate", "define workflow on_contract"]
    catalog = catalog_registry.current()
    assert catalog.version == before + 1
    assert catalog.workflows["escalate"].stage == "before"
    # A link workflow names a relationship: it is still a workflow, not a relationship.
    assert catalog.workflows["on_contract"].relationship == "grievance.contract"
    assert "on_contract" not in catalog.relationships
    exported = dict(catalog_registry.export())
    assert exported["workflows/escalate.json"] == ESCALATE
    assert audit_rows(db) == [
        ("define", "escalate", "workflow"),
        ("define", "on_contract", "workflow"),
    ]
    # The same definition again changes nothing; a changed one is version 2.
    assert catalog_registry.apply([ESCALATE]).empty
    changed = {**ESCALATE, "order": 5}
    catalog_registry.apply([changed], expected_version=1)
    assert catalog_registry.current().workflows["escalate"].version == 2
    with pytest.raises(Conflict):
        catalog_registry.apply([{**changed, "order": 6}], expected_version=1)


def test_a_workflow_naming_what_does_not_exist_is_refused_with_its_paths(
    catalog_registry: Registry,
) -> None:
    broken = copy.deepcopy(ESCALATE)
    broken["fields"] = ["severity", "mood"]
    broken["actions"] = [{"type": "set", "values": {"colour": "red"}}]
    with pytest.raises(DefinitionError) as caught:
        catalog_registry.apply([broken])
    assert {(f.field, f.message) for f in caught.value.faults} == {
        ("fields.mood", "grievance has no field 'mood'"),
        ("actions.0.values.colour", "grievance has no field 'colour'"),
    }
    assert catalog_registry.current().workflows == {}


def test_a_type_change_that_would_break_a_workflow_is_refused_naming_it(
    catalog_registry: Registry,
) -> None:
    catalog_registry.apply([ESCALATE])
    grievance = copy.deepcopy(dict(catalog_registry.current().types["grievance"].definition))
    del grievance["properties"]["severity"]
    with pytest.raises(DefinitionError) as caught:
        catalog_registry.apply([grievance])
    messages = [f"{f.field}: {f.message}" for f in caught.value.faults]
    assert messages == ["fields.severity: workflow escalate: grievance has no field 'severity'"]
    assert "severity" in catalog_registry.current().types["grievance"].properties


def test_a_workflow_above_the_admins_ceiling_is_refused(catalog_registry: Registry) -> None:
    greedy = {**ESCALATE, "limits": {"cpuSeconds": 1000}}
    with pytest.raises(DefinitionError) as caught:
        catalog_registry.apply([greedy])
    assert [f.field for f in caught.value.faults] == ["limits.cpuSeconds"]


def test_deleting_a_workflow_is_audited_and_seen_at_once(
    catalog_registry: Registry, db: Database, admin: Actor
) -> None:
    catalog_registry.apply([ESCALATE], actor=admin)
    version = catalog_registry.current().version
    assert catalog_registry.delete_workflow("escalate", actor=admin) is True
    catalog = catalog_registry.current()
    assert (catalog.version, catalog.workflows) == (version + 1, {})
    assert catalog_registry.delete_workflow("escalate", actor=admin) is False
    assert audit_rows(db)[-1] == ("delete", "escalate", "workflow")
