"""A dry run of a ``before`` rule reports what it would set on its record (a ``set`` change).

A before rule changes the record being saved instead of writing another, so without this a
builder's test run of "set Severity to critical" showed no change at all. The model: the
``set`` change holds exactly the fields whose plain value differs from the stored record,
after every set action and script of the rule; a refused run, a run whose condition is
false, and a real (not dry) run report none; nothing is written.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xrm.entities.records import RecordService
from xrm.platform.identity import Actor
from xrm.workflows.engine import WorkflowEngine
from xrm.workflows.pool import SandboxPool
from xrm.workflows.runs import RunStatus

pytest_plugins = ["sandbox_pool"]

ESCALATE: dict[str, Any] = {
    "name": "escalate",
    "entity": "grievance",
    "on": ["create", "update"],
    "stage": "before",
    "actions": [
        {"type": "set", "values": {"severity": "critical", "subject": "No signal"}},
        {"type": "script", "code": "record['status'] = 'escalated'\nlog('escalated')"},
    ],
}


@pytest.fixture
def engine(catalog_service: RecordService, pool: SandboxPool) -> WorkflowEngine:
    return WorkflowEngine(catalog_service, pool)


@pytest.fixture
def grievance(catalog_service: RecordService, admin: Actor) -> dict[str, Any]:
    with catalog_service.session(admin) as session:
        return dict(session.create("grievance", {"subject": "No signal"}))


def stored(service: RecordService, admin: Actor, record_id: str) -> dict[str, Any]:
    with service.session(admin, write=False) as session:
        found = session.get("grievance", record_id)
        assert found is not None
        return dict(found)


def test_a_dry_run_of_a_before_rule_reports_the_fields_it_would_set(
    engine: WorkflowEngine, catalog_service: RecordService, admin: Actor, grievance: Any
) -> None:
    run = engine.test(admin, ESCALATE, grievance["id"])
    assert run.status is RunStatus.DONE and run.log == ("escalated",)
    # The subject is set to what it already is: not a change.
    assert list(run.changes) == [
        {
            "action": "set",
            "entity": "grievance",
            "id": grievance["id"],
            "values": {"severity": "critical", "status": "escalated"},
        }
    ]
    after = stored(catalog_service, admin, grievance["id"])
    assert (after["severity"], after["status"], after["version"]) == (
        grievance["severity"],
        grievance["status"],
        grievance["version"],
    )


def test_a_refused_a_skipped_and_a_real_run_set_nothing(
    engine: WorkflowEngine, catalog_service: RecordService, admin: Actor, grievance: Any
) -> None:
    refusing = {**ESCALATE, "actions": [*ESCALATE["actions"], {"type": "reject", "message": "no"}]}
    assert engine.test(admin, refusing, grievance["id"]).changes == ()
    skipped = {**ESCALATE, "when": "False"}
    assert engine.test(admin, skipped, grievance["id"]).changes == ()
    manual = {**ESCALATE, "on": ["manual"], "actions": ESCALATE["actions"][1:]}
    catalog_service.registry.apply([manual])
    assert engine.run_by_hand(admin, "escalate", grievance["id"]).changes == ()
    assert engine.run_by_hand(admin, "escalate", grievance["id"], dry_run=True).changes != ()


TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30)
SETS = st.fixed_dictionaries(
    {},
    optional={
        "subject": TEXT.filter(lambda s: s.strip() != ""),
        "description": st.one_of(st.none(), TEXT),
        "severity": st.sampled_from(["low", "medium", "high", "critical"]),
    },
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=SETS)
def test_the_set_change_is_exactly_what_differs_from_the_record(
    engine: WorkflowEngine, admin: Actor, grievance: Any, values: dict[str, Any]
) -> None:
    rule = {**ESCALATE, "actions": [{"type": "set", "values": values}]}
    run = engine.test(admin, rule, grievance["id"])
    differs = {k: v for k, v in values.items() if grievance.get(k) != v}
    expected = [{"action": "set", "entity": "grievance", "id": grievance["id"], "values": differs}]
    assert list(run.changes) == (expected if differs else [])
