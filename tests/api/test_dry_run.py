"""``dryRun`` on defineEntityType and defineRelationship: the plan, and nothing applied.

Issue 10, point 21 (CONTRACT §4): both mutations answer the object as it is
(or, with ``dryRun``, would be) with its ``plan: ChangePlan { steps { action
target description blockingRecords } blocked }``. A dry run applies nothing
(no DDL, no stored definition, no version, no audit), answers a change that
stored rows block as a plan with ``blocked: true`` and the records on its
steps, and plans exactly the steps that applying then performs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from test_graphql import Api

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin
from xrm.platform.settings import Settings

Snapshot = Callable[[], dict[str, Any]]

GADGET: dict[str, Any] = {
    "type": "object",
    "x-xrm": {"name": "gadget", "plural": "gadgets"},
    "properties": {
        "name": {"type": "string", "maxLength": 50},
        "code": {"type": "string"},
        "size": {"type": "string", "enum": ["s", "m"]},
        "qty": {"type": "integer"},
        "note": {"type": "string"},
    },
}
TAGS: dict[str, Any] = {
    "relationship": "gadget_customers",
    "from": "gadget",
    "to": "customer",
    "fromField": "customers",
    "toField": "gadgets",
}
PLAN = "plan { blocked steps { action target description blockingRecords } }"
DEFINE = f"""mutation($d: JSON!, $dry: Boolean, $loss: Boolean, $v: Int) {{
  defineEntityType(definition: $d, dryRun: $dry, confirmDataLoss: $loss, expectedVersion: $v) {{
    name plural version definition {PLAN} }} }}"""
RELATE = f"""mutation($d: JSON!, $dry: Boolean) {{
  defineRelationship(definition: $d, dryRun: $dry) {{ name version definition {PLAN} }} }}"""


@pytest.fixture
def api(settings: Settings, registry: Registry, db: Database) -> Iterator[Api]:
    registry.apply(definitions())
    with db.write() as conn:
        token = create_token(conn, first_admin(conn))
    with TestClient(create_app(settings)) as client:
        yield Api(client, token)


def changed(**properties: Any) -> dict[str, Any]:
    definition = copy.deepcopy(GADGET)
    for name, schema in properties.items():
        if schema is None:
            definition["properties"].pop(name)
        else:
            definition["properties"][name] = schema
    return definition


def dry_then_apply(
    api: Api, snapshot: Snapshot, query: str, field: str, variables: dict[str, Any]
) -> dict[str, Any]:
    """Dry-run a change (asserting it changed nothing), apply it, and compare the two plans."""
    before = snapshot()
    dry = api(query, {**variables, "dry": True})[field]
    assert snapshot() == before, f"the dry run of {field} changed the database"
    done = api(query, variables)[field]
    assert dry == done  # the same object, version, definition and steps
    assert snapshot() != before
    return dry


def test_a_dry_run_plans_what_applying_then_does_and_changes_nothing(
    api: Api, snapshot: Snapshot
) -> None:
    made = dry_then_apply(api, snapshot, DEFINE, "defineEntityType", {"d": GADGET})
    assert (made["name"], made["plural"], made["version"]) == ("gadget", "gadgets", 1)
    assert made["definition"] == GADGET
    assert made["plan"] == {
        "blocked": False,
        "steps": [
            {
                "action": "create_table",
                "target": "gadget",
                "description": "create type gadget",
                "blockingRecords": [],
            }
        ],
    }
    api('mutation { createGadgets(inputs: [{name: "a", code: "1", qty: 2}, {name: "b"}]) { id } }')
    change = changed(
        code={"type": "integer"},
        qty={"type": "number"},
        colour={"type": "string", "default": "red"},
        note=None,
    )
    change["x-xrm"]["unique"] = [["name"]]
    change["x-xrm"]["indexes"] = [["size", "name"]]
    second = dry_then_apply(api, snapshot, DEFINE, "defineEntityType", {"d": change})
    assert second["version"] == 2 and second["definition"] == change
    assert sorted(s["action"] for s in second["plan"]["steps"]) == [
        "add_column",
        "add_index",
        "add_unique",
        "convert_column",
        "convert_column",
        "retire_column",
    ]
    assert all(s["target"] == "gadget" for s in second["plan"]["steps"])
    [added] = [s for s in second["plan"]["steps"] if s["action"] == "add_column"]
    assert added["description"] == (
        "add gadget.colour (string), filling the stored records with its default 'red'"
    )
    rows = api("{ gadgets(orderBy: [{name: ASC}]) { nodes { code qty colour } } }")
    assert rows["gadgets"]["nodes"] == [  # the default fills the stored records (point 19)
        {"code": 1, "qty": 2.0, "colour": "red"},
        {"code": None, "qty": None, "colour": "red"},
    ]
    linked = dry_then_apply(api, snapshot, RELATE, "defineRelationship", {"d": TAGS})
    assert linked["version"] == 1 and linked["plan"]["steps"][0]["action"] == "create_table"
    with_attribute = {**TAGS, "properties": {"since": {"type": "string", "format": "date"}}}
    attributed = dry_then_apply(api, snapshot, RELATE, "defineRelationship", {"d": with_attribute})
    assert attributed["version"] == 2
    assert [s["action"] for s in attributed["plan"]["steps"]] == ["add_column"]


def test_a_change_of_nothing_answers_an_empty_plan(api: Api, snapshot: Snapshot) -> None:
    api(DEFINE, {"d": GADGET})
    before = snapshot()
    for dry in (True, False):
        same = api(DEFINE, {"d": GADGET, "dry": dry})["defineEntityType"]
        assert same["version"] == 1
        assert same["plan"] == {"blocked": False, "steps": []}
    assert snapshot() == before
    listed = api("{ entityTypes { name plan { blocked } } }")["entityTypes"]
    assert {t["name"]: t["plan"] for t in listed}["gadget"] is None  # only a change has a plan


def test_a_blocked_dry_run_answers_the_plan_with_the_blocking_records(
    api: Api, snapshot: Snapshot
) -> None:
    api(DEFINE, {"d": GADGET})
    made = api(
        """mutation { createGadgets(inputs: [
             {name: "a very long name indeed", size: "m", code: "x"},
             {name: "short", size: "s", code: "12"},
             {name: "another long name", size: "m"}]) { id name } }"""
    )["createGadgets"]
    ids = {g["name"]: g["id"] for g in made}
    tightened = changed(
        name={"type": "string", "maxLength": 10},
        size={"type": "string", "enum": ["s"]},
        code={"type": "integer"},
        colour={"type": "string"},
    )
    before = snapshot()
    dry = api(DEFINE, {"d": tightened, "dry": True})["defineEntityType"]
    assert snapshot() == before
    assert dry["version"] == 2 and dry["definition"] == tightened
    plan = dry["plan"]
    assert plan["blocked"] is True
    steps = {s["description"].split(";")[0]: s for s in plan["steps"]}
    long_ones = sorted([ids["a very long name indeed"], ids["another long name"]])
    assert steps["check stored gadget.name against the new rules"]["blockingRecords"] == long_ones
    assert steps["check stored gadget.size against the new rules"]["blockingRecords"] == long_ones
    code = steps["convert gadget.code from string to integer"]
    assert code["blockingRecords"] == [ids["a very long name indeed"]]
    assert "blocked: properties.code:" in code["description"]
    assert steps["add gadget.colour (string)"]["blockingRecords"] == []
    assert (
        "2 stored records would break"
        in steps["check stored gadget.name against the new rules"]["description"]
    )

    # Applying it is refused with the same reasons, each with its records; nothing changes.
    error = api.error(DEFINE, {"d": tightened})
    assert error["extensions"]["code"] == "BAD_DEFINITION"
    reasons = {(e["field"], e["rule"]): e["records"] for e in error["extensions"]["errors"]}
    assert reasons == {
        ("properties.name", "maxLength"): long_ones,
        ("properties.size", "enum"): long_ones,
        ("properties.code", "type"): [ids["a very long name indeed"]],
    }
    assert sorted(error["extensions"]["records"]) == long_ones
    assert snapshot() == before


def test_a_dry_run_meets_the_same_refusals_a_change_would(api: Api, snapshot: Snapshot) -> None:
    api(DEFINE, {"d": GADGET})
    before = snapshot()
    stale = api.error(DEFINE, {"d": changed(extra={"type": "string"}), "dry": True, "v": 0})
    assert stale["extensions"]["code"] == "CONFLICT"
    bad = api.error(DEFINE, {"d": changed(qty={"type": "nonsense"}), "dry": True})
    assert bad["extensions"]["code"] == "BAD_DEFINITION"
    role = api.error(DEFINE, {"d": {"role": "x", "admin": ["manage_users"]}, "dry": True})
    assert role["extensions"]["code"] == "BAD_DEFINITION"
    assert snapshot() == before


def test_the_plan_types_names_are_not_type_names(api: Api, snapshot: Snapshot) -> None:
    before = snapshot()
    for name in ("change_plan", "plan_step"):
        taken = {**GADGET, "x-xrm": {"name": name, "plural": f"{name}s"}}
        error = api.error(DEFINE, {"d": taken, "dry": True})
        assert error["extensions"]["code"] == "BAD_DEFINITION"
        assert error["extensions"]["errors"][0]["field"] == "x-xrm.name"
    assert snapshot() == before
    assert api("{ entityTypes { name } }")  # the API still serves
