"""The demo's workflows do what their titles promise, on the built-in catalog: an SLA due date
and a call-back task for the customer's owner on a serious grievance, priority service for an
asset linked to a VIP's contract, renewal tasks from the morning schedule, made once."""

from __future__ import annotations

import datetime as dt

import pytest

from xrm.entities.catalog import demo_workflows
from xrm.entities.records import RecordService
from xrm.platform.identity import Actor
from xrm.platform.jobs import Worker, WorkerConfig
from xrm.workflows.engine import WorkflowEngine

pytest_plugins = ["sandbox_pool"]


@pytest.fixture
def demo(ruled: RecordService) -> RecordService:
    ruled.registry.apply(demo_workflows())
    return ruled


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def test_the_demo_ships_four_checked_workflows(demo: RecordService) -> None:
    workflows = demo.registry.current().workflows
    assert sorted(workflows) == [
        "contract_renewal",
        "grievance_call_back",
        "grievance_sla",
        "vip_asset_service_level",
    ]
    assert all(w.enabled for w in workflows.values())


def test_a_critical_grievance_gets_its_due_date_and_a_call_back_for_the_owner(
    demo: RecordService, admin: Actor
) -> None:
    with demo.session(admin) as session:
        customer = session.create("customer", {"name": "Big Co"})
        loud = session.create(
            "grievance",
            {"subject": "Line down", "severity": "critical", "customer": customer["id"]},
        )
        calm = session.create("grievance", {"subject": "Typo", "customer": customer["id"]})
        (task,) = session.query("task").items
        raised = session.update("grievance", calm["id"], {"severity": "high"})
    assert loud["due_date"] == today() + dt.timedelta(days=1)
    assert calm["due_date"] is None  # medium: no SLA
    assert raised["due_date"] == today() + dt.timedelta(days=3)
    assert (task["title"], task["priority"], task["assignee"], task["grievance"]) == (
        "Call back Big Co: Line down",
        "urgent",
        customer["owner"],
        loud["id"],
    )
    assert task["due_date"] == loud["due_date"]


def test_an_asset_under_a_vip_contract_gets_priority_service(
    demo: RecordService, admin: Actor
) -> None:
    with demo.session(admin) as session:
        vip = session.create("customer", {"name": "Big Co", "tier": "vip"})
        plain = session.create("customer", {"name": "Small Co"})
        gold = session.create("contract", {"title": "Gold", "customer": vip["id"]})
        basic = session.create("contract", {"title": "Basic", "customer": plain["id"]})
        pump, fan = (session.create("asset", {"name": n}) for n in ("Pump", "Fan"))
        session.link("contract_assets", gold["id"], pump["id"])
        session.link("contract_assets", basic["id"], fan["id"])
        levels = {a["name"]: a["service_level"] for a in session.query("asset").items}
    assert levels == {"Pump": "priority", "Fan": "standard"}


def test_the_morning_schedule_makes_one_renewal_task_per_expiring_contract(
    demo: RecordService, admin: Actor
) -> None:
    with demo.session(admin) as session:
        customer = session.create("customer", {"name": "Big Co"})
        for title, days in (("Ending", 10), ("Far", 90), ("Ended", -5)):
            session.create(
                "contract",
                {
                    "title": title,
                    "customer": customer["id"],
                    "status": "active",
                    "end_date": (today() + dt.timedelta(days=days)).isoformat(),
                },
            )
    engine: WorkflowEngine = demo.listener.engine  # type: ignore[union-attr]
    config = WorkerConfig(poll_seconds=0.02, concurrency=1, lease=dt.timedelta(seconds=30))
    clock = [dt.datetime.now(dt.UTC)]
    jobs = Worker(
        demo.db,
        engine.job_handlers(),
        config,
        on_failure=engine.failure_hooks(),
        clock=lambda: clock[0],
    )
    start = clock[0]
    for day in (1, 2):  # the second morning finds the task made and makes none
        clock[0] = start + dt.timedelta(days=day)
        assert len(engine.tick(now=clock[0])) == 1
        assert jobs.drain() == 1
    with demo.session(admin, write=False) as session:
        titles = [t["title"] for t in session.query("task").items]
    assert titles == ["Renew Ending"]
