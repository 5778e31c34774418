"""Writes fire workflows: ``before`` rules shape or refuse a record, ``after`` rules write more
in the same transaction, ``async`` rules are queued with the write; creates, updates,
deletes (cascades included), many-to-many links and references all fire, and rules that
fire rules stop at depth 8. Real database, real sandbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from xrm.entities.records import RecordService, RecordSession
from xrm.errors import XrmError
from xrm.platform.identity import Actor
from xrm.platform.jobs import Worker, WorkerConfig
from xrm.workflows import runs
from xrm.workflows.errors import RuleRejected
from xrm.workflows.listener import MAX_DEPTH
from xrm.workflows.runs import Run, RunStatus

pytest_plugins = ["sandbox_pool"]


@pytest.fixture
def writer(ruled: RecordService, admin: Actor) -> Iterator[Any]:
    """``writer()``: a committed session as the admin."""

    def open_session() -> Any:
        return ruled.session(admin)

    yield open_session


def define(ruled: RecordService, *workflows: dict[str, Any]) -> None:
    ruled.registry.apply(list(workflows))


def all_runs(ruled: RecordService) -> list[Run]:
    with ruled.db.read() as conn:
        return runs.list_runs(conn, limit=500)


def titles(ruled: RecordService, admin: Actor) -> list[str]:
    with ruled.session(admin, write=False) as session:
        return sorted(t["title"] for t in session.query("task").items)


def log_rule(name: str, entity: str, on: list[str], **extra: Any) -> dict[str, Any]:
    """An ``after`` rule that logs what it saw, so the run history says it fired and how."""
    code = "log(event['type'], record['id'] if record else None, old['id'] if old else None)"
    return {
        "name": name,
        "entity": entity,
        "on": on,
        "actions": [{"type": "script", "code": code}],
        **extra,
    }


def fired(ruled: RecordService, name: str) -> list[tuple[str, ...]]:
    """The log of each run of ``name``, oldest first."""
    return [run.log for run in reversed(all_runs(ruled)) if run.workflow == name]


# -- before ------------------------------------------------------------------------------------


def test_a_before_rule_fills_a_required_field_and_sees_the_id_to_come(
    ruled: RecordService, writer: Any
) -> None:
    define(
        ruled,
        {
            "name": "subject_from_channel",
            "entity": "grievance",
            "on": ["create"],
            "stage": "before",
            "actions": [
                {
                    "type": "script",
                    "code": "record['subject'] = 'By ' + record['channel']\nlog(record['id'])",
                },
                {"type": "set", "values": {"severity": "high"}},
            ],
        },
    )
    with writer() as session:
        made = session.create("grievance", {"channel": "phone"})
    assert (made["subject"], made["severity"]) == ("By phone", "high")
    (run,) = all_runs(ruled)
    assert (run.status, run.stage, run.record_id, run.log) == (
        RunStatus.DONE,
        "before",
        made["id"],
        (made["id"],),
    )


def test_a_before_rejection_refuses_the_write_and_is_kept_in_the_history(
    ruled: RecordService, writer: Any, admin: Actor
) -> None:
    define(
        ruled,
        {
            "name": "closed_stays_closed",
            "entity": "grievance",
            "on": ["update"],
            "stage": "before",
            "when": "old['status'] == 'closed'",
            "actions": [{"type": "reject", "message": {"en": "closed stays closed", "ko": "닫힘"}}],
        },
    )
    with writer() as session:
        made = session.create("grievance", {"subject": "Gone", "status": "closed"})
    with pytest.raises(RuleRejected, match="closed stays closed"), writer() as session:
        session.update("grievance", made["id"], {"subject": "Back again"})
    with ruled.session(admin, write=False) as session:
        assert session.get("grievance", made["id"])["subject"] == "Gone"
    (run,) = all_runs(ruled)
    assert (run.workflow, run.status, run.error) == (
        "closed_stays_closed",
        RunStatus.REJECTED,
        "closed stays closed",
    )


def test_before_rules_run_by_order_then_name_each_seeing_the_last_ones_change(
    ruled: RecordService, writer: Any
) -> None:
    def append(name: str, order: int) -> dict[str, Any]:
        return {
            "name": name,
            "entity": "grievance",
            "on": ["create"],
            "stage": "before",
            "order": order,
            "actions": [{"type": "script", "code": f"record['subject'] += ' {name}'"}],
        }

    define(ruled, append("b", 1), append("a", 1), append("z", 0))
    with writer() as session:
        made = session.create("grievance", {"subject": "Order:"})
    assert made["subject"] == "Order: z a b"


# -- update: what counts as a change ----------------------------------------------------------


def test_an_update_that_changes_nothing_fires_nothing_and_fields_narrow_a_trigger(
    ruled: RecordService, writer: Any
) -> None:
    define(
        ruled,
        log_rule("any_change", "contract", ["update"]),
        log_rule("value_change", "contract", ["update"], fields=["value"]),
    )
    with writer() as session:
        customer = session.create("customer", {"name": "Big Co"})
        contract = session.create(
            "contract", {"title": "Support", "customer": customer["id"], "value": "1.5"}
        )
        session.update("contract", contract["id"], {"value": "1.50", "title": "Support"})
    assert fired(ruled, "any_change") == []  # "1.50" is the 1.5 already stored
    with writer() as session:
        session.update("contract", contract["id"], {"title": "Support plus"})
    assert len(fired(ruled, "any_change")) == 1
    assert fired(ruled, "value_change") == []
    with writer() as session:
        session.update("contract", contract["id"], {"value": "2"})
    assert len(fired(ruled, "value_change")) == 1


def test_a_condition_on_old_fires_on_a_transition_only(
    ruled: RecordService, writer: Any, admin: Actor
) -> None:
    define(
        ruled,
        {
            "name": "on_close",
            "entity": "grievance",
            "on": ["update"],
            "when": "old['status'] != 'closed' and record['status'] == 'closed'",
            "actions": [{"type": "create", "entity": "task", "values": {"title": "Survey"}}],
        },
    )
    with writer() as session:
        made = session.create("grievance", {"subject": "Noise", "status": "open"})
        session.update("grievance", made["id"], {"status": "closed"})
        session.update("grievance", made["id"], {"subject": "Noise, closed"})
    assert titles(ruled, admin) == ["Survey"]


# -- after -------------------------------------------------------------------------------------


def test_an_after_rule_writes_in_the_same_transaction_and_its_failure_undoes_the_write(
    ruled: RecordService, writer: Any, admin: Actor
) -> None:
    rule = {
        "name": "task_per_grievance",
        "entity": "grievance",
        "on": ["create"],
        "actions": [
            {
                "type": "script",
                "code": "create('task', {'title': 'Handle ' + record['subject'],"
                " 'grievance': record['id']})\nif record['subject'] == 'bad':\n    1 / 0",
            }
        ],
    }
    define(ruled, rule)
    with writer() as session:
        session.create("grievance", {"subject": "Leak"})
    assert titles(ruled, admin) == ["Handle Leak"]
    with pytest.raises(XrmError) as caught, writer() as session:
        session.create("grievance", {"subject": "bad"})
    assert caught.value.code == "RULE_FAILED"
    assert "task_per_grievance" in caught.value.message
    assert "ZeroDivisionError" in caught.value.message
    assert titles(ruled, admin) == ["Handle Leak"]  # neither the grievance nor its task
    with ruled.session(admin, write=False) as session:
        assert [g["subject"] for g in session.query("grievance").items] == ["Leak"]
    statuses = sorted(run.status.value for run in all_runs(ruled))
    assert statuses == ["done", "failed"]


# -- async -------------------------------------------------------------------------------------


def test_an_async_rule_is_queued_with_the_write_and_only_with_it(
    ruled: RecordService, writer: Any, admin: Actor
) -> None:
    define(
        ruled,
        {
            "name": "later",
            "entity": "grievance",
            "on": ["create"],
            "stage": "async",
            "actions": [{"type": "create", "entity": "task", "values": {"title": "Later"}}],
        },
    )
    with pytest.raises(RuntimeError), writer() as session:
        session.create("grievance", {"subject": "Undone"})
        raise RuntimeError("the request failed after the write")
    assert all_runs(ruled) == []  # the write was rolled back, and its job with it
    with writer() as session:
        session.create("grievance", {"subject": "Kept"})
    (queued,) = all_runs(ruled)
    assert queued.status is RunStatus.QUEUED and titles(ruled, admin) == []
    engine = ruled.listener.engine  # type: ignore[union-attr]
    config = WorkerConfig(poll_seconds=0.02, concurrency=1, lease=dt.timedelta(seconds=30))
    worker = Worker(ruled.db, engine.job_handlers(), config, on_failure=engine.failure_hooks())
    assert worker.drain() == 1
    (done,) = all_runs(ruled)
    assert (done.id, done.status) == (queued.id, RunStatus.DONE)
    assert titles(ruled, admin) == ["Later"]


# -- delete, cascades, links and references ------------------------------------------------


def test_a_delete_fires_for_every_record_its_cascade_removes(
    ruled: RecordService, writer: Any
) -> None:
    define(
        ruled,
        log_rule("customer_gone", "customer", ["delete"]),
        log_rule("task_gone", "task", ["delete"]),
    )
    with writer() as session:
        customer = session.create("customer", {"name": "Old Co"})
        tasks = [
            session.create("task", {"title": f"T{i}", "customer": customer["id"]}) for i in range(2)
        ]
        session.delete("customer", customer["id"])
    assert fired(ruled, "customer_gone") == [(f"delete {customer['id']} {customer['id']}",)]
    assert sorted(fired(ruled, "task_gone")) == sorted(
        (f"delete {t['id']} {t['id']}",) for t in tasks
    )


def test_a_before_delete_rule_can_refuse_a_cascade(
    ruled: RecordService, writer: Any, admin: Actor
) -> None:
    define(
        ruled,
        {
            "name": "keep_open_tasks",
            "entity": "task",
            "on": ["delete"],
            "stage": "before",
            "when": "record['status'] != 'done'",
            "actions": [{"type": "reject", "message": "an open task would be lost"}],
        },
    )
    with writer() as session:
        customer = session.create("customer", {"name": "Old Co"})
        session.create("task", {"title": "Open", "customer": customer["id"], "status": "todo"})
    with pytest.raises(RuleRejected, match="open task"), writer() as session:
        session.delete("customer", customer["id"])
    assert titles(ruled, admin) == ["Open"]


def test_a_reference_cleared_by_a_delete_fires_update_and_unlink(
    ruled: RecordService, writer: Any
) -> None:
    define(
        ruled,
        log_rule("task_changed", "task", ["update"], fields=["grievance"]),
        log_rule("task_unlinked", "task", ["unlink"], relationship="task.grievance"),
    )
    with writer() as session:
        grievance = session.create("grievance", {"subject": "Old"})
        task = session.create("task", {"title": "Keep me", "grievance": grievance["id"]})
        session.delete("grievance", grievance["id"])  # task.grievance is set_null
        assert session.get("task", task["id"])["grievance"] is None
    assert fired(ruled, "task_changed") == [(f"update {task['id']} {task['id']}",)]
    assert fired(ruled, "task_unlinked") == [(f"unlink {task['id']} {task['id']}",)]


def test_setting_changing_and_clearing_a_reference_fire_link_and_unlink(
    ruled: RecordService, writer: Any
) -> None:
    ends = (
        "log(event['type'], event['relationship'], event['fromId'] == record['id'], event['toId'])"
    )
    define(
        ruled,
        {
            "name": "contract_links",
            "entity": "grievance",
            "on": ["link", "unlink"],
            "relationship": "grievance.contract",
            "actions": [{"type": "script", "code": ends}],
        },
    )
    with writer() as session:
        customer = session.create("customer", {"name": "Big Co"})
        first, second = (
            session.create("contract", {"title": t, "customer": customer["id"]})
            for t in ("First", "Second")
        )
        grievance = session.create("grievance", {"subject": "S", "contract": first["id"]})
        session.update("grievance", grievance["id"], {"contract": second["id"]})
        session.update("grievance", grievance["id"], {"contract": None})
    assert fired(ruled, "contract_links") == [
        (f"link grievance.contract True {first['id']}",),
        (f"unlink grievance.contract True {first['id']}",),
        (f"link grievance.contract True {second['id']}",),
        (f"unlink grievance.contract True {second['id']}",),
    ]


def test_many_to_many_links_fire_with_their_attributes(ruled: RecordService, writer: Any) -> None:
    code = "log(event['type'], record['title'], event['attributes'].get('coverage'))"
    define(
        ruled,
        {
            "name": "coverage",
            "entity": "contract",
            "on": ["link", "unlink"],
            "relationship": "contract_assets",
            "actions": [{"type": "script", "code": code}],
        },
    )
    with writer() as session:
        customer = session.create("customer", {"name": "Big Co"})
        contract = session.create("contract", {"title": "Care", "customer": customer["id"]})
        asset = session.create("asset", {"name": "Pump"})
        session.link("contract_assets", contract["id"], asset["id"], {"coverage": "partial"})
        session.link("contract_assets", contract["id"], asset["id"])  # linked already: nothing
        session.unlink("contract_assets", contract["id"], asset["id"])
        assert not session.unlink("contract_assets", contract["id"], asset["id"])
    assert fired(ruled, "coverage") == [("link Care partial",), ("unlink Care partial",)]


def test_a_rule_follows_relationships_vip_contract_raises_priority_and_tasks_the_owner(
    ruled: RecordService, writer: Any, admin: Actor
) -> None:
    """The issue's own example: a grievance linked to a contract whose customer is a VIP."""
    code = (
        "contract = get('contract', event['toId'])\n"
        "customer = get('customer', contract['customer'])\n"
        "if customer['tier'] == 'vip':\n"
        "    update('grievance', record['id'], {'severity': 'critical'})\n"
        "    create('task', {'title': 'VIP: ' + record['subject'], 'grievance': record['id'],"
        " 'assignee': customer['owner'], 'priority': 'urgent'})\n"
        "    log('escalated for', customer['name'])"
    )
    define(
        ruled,
        {
            "name": "vip_grievance",
            "entity": "grievance",
            "on": ["link"],
            "relationship": "grievance.contract",
            "actions": [{"type": "script", "code": code}],
        },
    )
    with writer() as session:
        vip = session.create("customer", {"name": "Big Co", "tier": "vip"})
        plain = session.create("customer", {"name": "Small Co", "tier": "standard"})
        vip_contract = session.create("contract", {"title": "Gold", "customer": vip["id"]})
        plain_contract = session.create("contract", {"title": "Basic", "customer": plain["id"]})
        calm = session.create("grievance", {"subject": "Slow", "contract": plain_contract["id"]})
        loud = session.create("grievance", {"subject": "Down", "severity": "low"})
        session.update("grievance", loud["id"], {"contract": vip_contract["id"]})
    with ruled.session(admin, write=False) as session:
        assert session.get("grievance", loud["id"])["severity"] == "critical"
        assert session.get("grievance", calm["id"])["severity"] == "medium"  # its default
        (task,) = session.query("task").items
    assert (task["title"], task["assignee"], task["priority"]) == ("VIP: Down", admin.id, "urgent")


# -- chains ------------------------------------------------------------------------------------


def count_up(until: int) -> dict[str, Any]:
    """An ``after`` rule that updates its own record, firing itself, ``until`` times."""
    return {
        "name": "count_up",
        "entity": "customer",
        "on": ["update"],
        "fields": ["employee_count"],
        "when": f"record['employee_count'] < {until}",
        "actions": [
            {
                "type": "script",
                "code": "update('customer', record['id'],"
                " {'employee_count': record['employee_count'] + 1})",
            }
        ],
    }


def test_rules_that_fire_rules_run_up_to_depth_eight(
    ruled: RecordService, writer: Any, admin: Actor
) -> None:
    define(ruled, count_up(MAX_DEPTH))
    with writer() as session:
        made = session.create("customer", {"name": "Loop Co", "employee_count": 0})
        session.update("customer", made["id"], {"employee_count": 1})
    with ruled.session(admin, write=False) as session:
        assert session.get("customer", made["id"])["employee_count"] == MAX_DEPTH
    # Run k saw the count k; the run at depth 8 found its condition false (not recorded).
    assert sorted(run.depth for run in all_runs(ruled)) == list(range(1, MAX_DEPTH))


def test_a_rule_that_keeps_firing_itself_ends_with_one_clear_error_and_nothing_kept(
    ruled: RecordService, writer: Any, admin: Actor
) -> None:
    define(ruled, count_up(10_000))
    with writer() as session:
        made = session.create("customer", {"name": "Loop Co", "employee_count": 0})
    with pytest.raises(XrmError) as caught, writer() as session:
        session.update("customer", made["id"], {"employee_count": 1})
    assert caught.value.code == "RULE_FAILED"
    message = caught.value.message
    assert f"more than {MAX_DEPTH} deep" in message
    assert message.count("count_up") == MAX_DEPTH + 1  # the chain, named once, not nested
    with ruled.session(admin, write=False) as session:
        assert session.get("customer", made["id"])["employee_count"] == 0


def test_writes_no_rule_watches_build_no_event(
    ruled: RecordService, writer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    define(ruled, log_rule("only_tasks", "task", ["create"]))
    built: list[str] = []
    real = RecordSession._stored

    def spy(self: RecordSession, et: Any, record_id: str) -> Any:
        built.append(et.name)
        return real(self, et, record_id)

    monkeypatch.setattr(RecordSession, "_stored", spy)
    with writer() as session:
        customer = session.create("customer", {"name": "Quiet"})
        contract = session.create("contract", {"title": "C", "customer": customer["id"]})
        asset = session.create("asset", {"name": "A"})
        session.link("contract_assets", contract["id"], asset["id"])
        session.delete("asset", asset["id"])
    assert built == [] and all_runs(ruled) == []
