"""One workflow run on a real database through the real sandbox: conditions, every built-in
action, rules that follow relationships, and how rejections and failures end a run."""

from __future__ import annotations

from typing import Any

import pytest

from xrm.entities.records import RecordService
from xrm.platform.identity import Actor
from xrm.schemas.workflows import parse_workflow
from xrm.workflows.pool import SandboxPool
from xrm.workflows.runner import Firing, Runner
from xrm.workflows.runs import RunStatus

pytest_plugins = ["sandbox_pool"]


def firing(
    definition: dict[str, Any],
    record: dict[str, Any] | None,
    *,
    trigger: str = "create",
    old: dict[str, Any] | None = None,
) -> Firing:
    workflow = parse_workflow(
        {"name": "rule", "entity": "grievance", "on": [trigger], **definition}
    )
    return Firing(
        workflow=workflow,
        trigger=trigger,
        stage=workflow.stage,
        entity="grievance",
        record=record,
        old=old,
        event={"type": trigger},
        user={"id": None, "email": "system", "roles": ["admin"], "locale": "ko"},
    )


@pytest.fixture
def runner(pool: SandboxPool) -> Runner:
    return Runner(pool)


def test_a_false_condition_runs_nothing(
    runner: Runner, catalog_service: RecordService, admin: Actor
) -> None:
    rule = firing(
        {
            "when": "record['severity'] == 'high'",
            "actions": [{"type": "create", "entity": "task", "values": {"title": "Call"}}],
        },
        {"id": "x", "severity": "low"},
    )
    with catalog_service.session(admin) as session:
        outcome = runner.run(rule, session)
        assert session.query("task").items == []
    assert (outcome.fired, outcome.changes) == (False, [])


def test_set_and_a_before_script_change_the_record_being_written(
    runner: Runner, catalog_service: RecordService, admin: Actor
) -> None:
    rule = firing(
        {
            "stage": "before",
            "actions": [
                {"type": "set", "values": {"status": "escalated"}},
                {"type": "script", "code": "record['subject'] = record['subject'].upper()"},
            ],
        },
        {"id": "x", "subject": "noisy", "status": "open", "severity": "high"},
    )
    with catalog_service.session(admin) as session:
        outcome = runner.run(rule, session)
    assert outcome.status is RunStatus.DONE
    assert outcome.record == {
        "id": "x",
        "subject": "NOISY",
        "status": "escalated",
        "severity": "high",
    }


def test_a_rule_follows_relationships_and_creates_work_for_the_right_people(
    runner: Runner, catalog_service: RecordService, admin: Actor
) -> None:
    """When a grievance about a VIP customer's contract arrives, raise it and make a task."""
    with catalog_service.session(admin) as session:
        vip = session.create("customer", {"name": "Big Co", "tier": "vip"})
        contract = session.create("contract", {"title": "Support", "customer": vip["id"]})
        grievance = session.create("grievance", {"subject": "Down", "contract": contract["id"]})
    script = (
        "contract = get('contract', record['contract'])\n"
        "customer = get('customer', contract['customer'])\n"
        "if customer['tier'] == 'vip':\n"
        "    update('grievance', record['id'], {'severity': 'critical'})\n"
        "    create('task', {'title': 'Call ' + customer['name'], 'customer': customer['id'],\n"
        "                    'grievance': record['id']})\n"
        "    log('escalated for', customer['name'])\n"
    )
    rule = firing({"actions": [{"type": "script", "code": script}]}, grievance)
    with catalog_service.session(admin) as session:
        outcome = runner.run(rule, session)
        tasks = session.query("task").items
        stored = session.get("grievance", grievance["id"])
    assert outcome.status is RunStatus.DONE, outcome.error
    assert outcome.log == ["escalated for Big Co"]
    assert stored is not None and stored["severity"] == "critical"
    assert [(t["title"], t["customer"], t["grievance"]) for t in tasks] == [
        ("Call Big Co", vip["id"], grievance["id"])
    ]
    assert [c["action"] for c in outcome.changes] == ["update", "create"]


def test_update_link_and_unlink_actions_act_on_the_triggering_record(
    runner: Runner, catalog_service: RecordService, admin: Actor
) -> None:
    with catalog_service.session(admin) as session:
        customer = session.create("customer", {"name": "Acme"})
        grievance = session.create("grievance", {"subject": "Late", "customer": customer["id"]})
    rule = firing(
        {
            "actions": [
                {"type": "update", "values": {"status": "in_progress"}},
                {"type": "update", "target": "customer", "values": {"notes": "has a grievance"}},
            ]
        },
        grievance,
    )
    with catalog_service.session(admin) as session:
        outcome = runner.run(rule, session)
        again = session.get("grievance", grievance["id"])
        owner = session.get("customer", customer["id"])
    assert outcome.status is RunStatus.DONE, outcome.error
    assert again is not None and again["status"] == "in_progress"
    assert owner is not None and owner["notes"] == "has a grievance"


def test_a_reject_action_ends_the_run_with_the_message_in_the_users_language(
    runner: Runner, catalog_service: RecordService, admin: Actor
) -> None:
    rule = firing(
        {
            "stage": "before",
            "actions": [
                {"type": "script", "code": "log('checked')"},
                {"type": "reject", "message": {"en": "Closed.", "ko": "종결된 민원입니다."}},
                {"type": "create", "entity": "task", "values": {"title": "never"}},
            ],
        },
        {"id": "x", "subject": "s"},
    )
    with catalog_service.session(admin) as session:
        outcome = runner.run(rule, session)
        assert session.query("task").items == []
    assert (outcome.status, outcome.error, outcome.error_code) == (
        RunStatus.REJECTED,
        "종결된 민원입니다.",
        "RULE_REJECTED",
    )
    assert outcome.log == ["checked"]


def test_a_refused_write_fails_the_run_naming_the_field(
    runner: Runner, catalog_service: RecordService, admin: Actor
) -> None:
    rule = firing(
        {"actions": [{"type": "create", "entity": "task", "values": {"priority": "x"}}]},
        {"id": "x"},
    )
    with catalog_service.session(admin) as session:
        outcome = runner.run(rule, session)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_code == "VALIDATION_FAILED"
    assert outcome.error is not None and "title" in outcome.error


def test_a_script_that_breaks_a_limit_fails_the_run_with_its_log(
    runner: Runner, catalog_service: RecordService, admin: Actor
) -> None:
    rule = firing(
        {
            "limits": {"cpuSeconds": 0.2, "wallSeconds": 1},
            "actions": [{"type": "script", "code": "log('start')\nwhile True:\n    pass"}],
        },
        {"id": "x"},
    )
    with catalog_service.session(admin) as session:
        outcome = runner.run(rule, session)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_code == "RULE_FAILED"
    assert outcome.log == ["start"]


def test_a_script_cannot_set_the_platforms_own_fields(
    runner: Runner, catalog_service: RecordService, admin: Actor
) -> None:
    rule = firing(
        {"stage": "before", "actions": [{"type": "script", "code": "record['id'] = 'mine'"}]},
        {"id": "x", "subject": "s"},
        trigger="update",
        old={"id": "x", "subject": "s"},
    )
    with catalog_service.session(admin) as session:
        outcome = runner.run(rule, session)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None and "id" in outcome.error
