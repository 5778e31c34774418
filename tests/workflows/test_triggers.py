"""Which workflows a write fires: trigger, stage, fields, relationship, order."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from xrm.schemas.workflows import Workflow, parse_workflow
from xrm.workflows.triggers import Happening, fired

LOG = [{"type": "script", "code": "log('x')"}]


def wf(name: str, on: list[str], **more: Any) -> Workflow:
    return parse_workflow({"name": name, "entity": "grievance", "on": on, "actions": LOG, **more})


def names(workflows: list[Workflow]) -> list[str]:
    return [w.name for w in workflows]


def test_an_update_that_changed_nothing_fires_nothing() -> None:
    on_update = wf("on_update", ["update"])
    assert fired([on_update], Happening("update", "grievance"), "after") == []
    changed = Happening("update", "grievance", changed=frozenset({"status"}))
    assert names(fired([on_update], changed, "after")) == ["on_update"]


def test_fields_narrow_an_update_trigger() -> None:
    status_only = wf("status_only", ["update"], fields=["status"])
    assert (
        fired(
            [status_only], Happening("update", "grievance", changed=frozenset({"title"})), "after"
        )
        == []
    )
    both = Happening("update", "grievance", changed=frozenset({"title", "status"}))
    assert names(fired([status_only], both, "after")) == ["status_only"]


def test_the_stage_the_entity_and_enabled_must_match() -> None:
    before = wf("before", ["create"], stage="before")
    off = wf("off", ["create"], enabled=False)
    other = parse_workflow(
        {"name": "other", "entity": "contract", "on": ["create"], "actions": LOG}
    )
    created = Happening("create", "grievance")
    assert names(fired([before, off, other], created, "before")) == ["before"]
    assert fired([before, off, other], created, "after") == []


def test_link_triggers_match_their_relationship_only() -> None:
    linked = wf("linked", ["link", "unlink"], relationship="grievance.contract")
    assert names(
        fired([linked], Happening("link", "grievance", "grievance.contract"), "after")
    ) == ["linked"]
    assert fired([linked], Happening("link", "grievance", "grievance.customer"), "after") == []
    assert fired([linked], Happening("create", "grievance"), "after") == []


def test_schedule_and_manual_workflows_are_never_fired_by_a_write() -> None:
    hourly = wf("hourly", ["schedule"], cron="0 * * * *")
    by_hand = wf("by_hand", ["manual"])
    for trigger in ("create", "update", "delete", "schedule", "manual"):
        what = Happening(trigger, "grievance", changed=frozenset({"status"}))
        assert fired([hourly, by_hand], what, "after") == []


@given(orders=st.lists(st.integers(-5, 5), min_size=1, max_size=8), data=st.data())
def test_several_workflows_run_by_order_then_name(orders: list[int], data: st.DataObject) -> None:
    workflows = [wf(f"w{i}", ["create"], order=order) for i, order in enumerate(orders)]
    shuffled = data.draw(st.permutations(workflows))
    got = fired(shuffled, Happening("create", "grievance"), "after")
    assert names(got) == [w.name for w in sorted(workflows, key=lambda w: (w.order, w.name))]
