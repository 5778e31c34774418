"""Workflow definitions (CONTRACT §5): good ones become frozen objects, bad ones name each fault."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from xrm.entities.catalog import definitions
from xrm.errors import DefinitionError, Fault
from xrm.schemas.model import EntityType, Relationship
from xrm.schemas.parse import parse_entity_type, parse_relationship
from xrm.schemas.workflows import (
    TRIGGERS,
    ActionType,
    ActionTypes,
    CreateAction,
    Limits,
    LinkAction,
    PluginAction,
    RejectAction,
    ScriptAction,
    SetAction,
    UpdateAction,
    Workflow,
    check_workflow,
    parse_workflow,
)

CONTRACT_EXAMPLE = {
    "name": "escalate_vip_grievance",
    "entity": "grievance",
    "on": ["create", "update"],
    "stage": "before",
    "when": "record['severity'] == 'high'",
    "actions": [
        {"type": "set", "values": {"status": "escalated"}},
        {
            "type": "script",
            "code": "if old and old['status'] == 'closed':\n"
            "    reject('closed grievances stay closed')",
        },
        {"type": "create", "entity": "task", "values": {"title": "Call the customer"}},
        {"type": "reject", "message": "..."},
    ],
}
WEBHOOK = ActionType(
    "webhook",
    {
        "type": "object",
        "required": ["url"],
        "additionalProperties": False,
        "properties": {"url": {"type": "string", "pattern": "^https://"}, "secret": {}},
    },
)


def catalog() -> tuple[dict[str, EntityType], dict[str, Relationship]]:
    types: dict[str, EntityType] = {}
    relationships: dict[str, Relationship] = {}
    for definition in definitions():
        if "relationship" in definition:
            rel = parse_relationship(definition)
            relationships[rel.name] = rel
        else:
            et = parse_entity_type(definition)
            types[et.name] = et
    return types, relationships


TYPES, RELATIONSHIPS = catalog()


def workflow(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "w",
        "entity": "grievance",
        "on": ["create"],
        "actions": [{"type": "script", "code": "log(record['id'])"}],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def faults_of(definition: Any, **options: Any) -> dict[str, str]:
    with pytest.raises(DefinitionError) as caught:
        parse_workflow(definition, **options)
    assert caught.value.code == "BAD_DEFINITION"
    return {f.field: f.message for f in caught.value.faults}


def catalog_faults(definition: dict[str, Any]) -> dict[str, str]:
    parsed = parse_workflow(definition)
    with pytest.raises(DefinitionError) as caught:
        check_workflow(parsed, TYPES, RELATIONSHIPS)
    return {f.field: f.message for f in caught.value.faults}


def test_the_contract_example_becomes_frozen_objects() -> None:
    parsed = parse_workflow(CONTRACT_EXAMPLE)
    assert parsed.name == "escalate_vip_grievance"
    assert parsed.on == ("create", "update")
    assert parsed.stage == "before"
    assert parsed.actions == (
        SetAction({"status": "escalated"}),
        ScriptAction(CONTRACT_EXAMPLE["actions"][1]["code"]),
        CreateAction("task", {"title": "Call the customer"}),
        RejectAction("..."),
    )
    assert (parsed.enabled, parsed.order, parsed.limits) == (True, 0, Limits())
    assert parsed.definition is CONTRACT_EXAMPLE
    check_workflow(parsed, TYPES, RELATIONSHIPS)
    with pytest.raises(AttributeError):
        parsed.name = "other"  # type: ignore[misc]


def test_defaults_and_order() -> None:
    parsed = parse_workflow(workflow(order=-3, enabled=False))
    assert (parsed.stage, parsed.order, parsed.enabled) == ("after", -3, False)
    later = parse_workflow(workflow(name="a", order=5))
    assert sorted([later, parsed], key=lambda w: w.sort_key) == [parsed, later]
    assert parsed.fires_on("create") and not parsed.fires_on("update")


def test_unknown_keys_and_wrong_shapes_are_refused_by_path() -> None:
    assert faults_of(workflow(colour="red", on="create")) == {
        "colour": "unknown keyword 'colour'",
        "on": "'create' is not of type 'array'",
    }
    assert faults_of(workflow(actions=[{"type": "set", "values": {}, "extra": 1}])) == {
        "actions.0.extra": "unknown keyword 'extra'"
    }
    assert "is a required property" in faults_of({"name": "x"})[""]
    assert faults_of(workflow(on=["create", "explode"]))["on.1"].startswith("'explode' is not one")


def test_names_are_snake_case() -> None:
    found = faults_of(workflow(name="Escalate VIP", entity="Grievance"))
    assert set(found) == {"name", "entity"}
    assert "snake_case" in found["name"]


def test_trigger_options_go_with_their_triggers() -> None:
    assert faults_of(workflow(on=["link"])) == {
        "relationship": "link and unlink triggers name a relationship"
    }
    assert faults_of(workflow(relationship="contract_assets")) == {
        "relationship": "a relationship goes with a link or unlink trigger"
    }
    assert faults_of(workflow(fields=["status"])) == {
        "fields": "fields limit an update trigger; this workflow has none"
    }
    assert faults_of(workflow(on=["schedule"])) == {
        "cron": "a schedule trigger needs a cron expression"
    }
    assert faults_of(workflow(cron="0 9 * * *", timezone="UTC")) == {
        "cron": "cron goes with a schedule trigger",
        "timezone": "timezone goes with a schedule trigger",
    }
    assert faults_of(workflow(on=["link"], relationship="a.b.c")) == {
        "relationship": "'a.b.c' is neither a relationship name nor <entity>.<property>"
    }


def test_cron_and_time_zone_are_checked() -> None:
    found = faults_of(workflow(on=["schedule"], cron="61 * * * *", timezone="Mars/Olympus"))
    assert found == {
        "cron": "'61 * * * *' is not a cron expression: Bad minute",
        "timezone": "'Mars/Olympus' is not an IANA time zone (e.g. 'Asia/Seoul', 'UTC')",
    }
    parsed = parse_workflow(
        workflow(on=["schedule"], cron="0 9 * * MON-FRI", timezone="Asia/Seoul", stage="async")
    )
    assert parsed.next_tick(datetime(2024, 1, 1, 0, 0, tzinfo=UTC)) == datetime(
        2024, 1, 2, 0, 0, tzinfo=UTC
    )  # 09:00 in Seoul is midnight UTC; a tick is strictly after
    utc = parse_workflow(workflow(on=["schedule"], cron="*/15 * * * *"))
    assert utc.timezone == "UTC"
    assert utc.next_tick(datetime(2024, 1, 1, 0, 7)) == datetime(2024, 1, 1, 0, 15, tzinfo=UTC)
    assert parse_workflow(workflow()).next_tick(datetime.now(UTC)) is None


def test_actions_must_suit_the_stage_and_the_trigger() -> None:
    set_status = {"type": "set", "values": {"status": "open"}}
    assert "needs stage 'before'" in faults_of(workflow(actions=[set_status]))["actions.0.type"]
    assert (
        "created or updated only"
        in faults_of(workflow(stage="before", on=["delete"], actions=[set_status]))[
            "actions.0.type"
        ]
    )
    reject = {"type": "reject", "message": {"en": "No", "ko": "안 됩니다"}}
    assert "after it" in faults_of(workflow(stage="async", actions=[reject]))["actions.0.type"]
    assert parse_workflow(workflow(stage="before", actions=[reject])).actions == (
        RejectAction({"en": "No", "ko": "안 됩니다"}),
    )
    update_self = {"type": "update", "values": {"status": "closed"}}
    assert (
        "does not have"
        in faults_of(workflow(on=["delete"], actions=[update_self]))["actions.0.type"]
    )
    assert faults_of(workflow(actions=[{"type": "set", "values": {"id": "x", "Bad": 1}}])) == {
        "actions.0.values.id": "'id' is set by the platform",
        "actions.0.values.Bad": faults_of(workflow(name="Bad"))["name"],
        "actions.0.type": faults_of(workflow(actions=[set_status]))["actions.0.type"],
    }


def test_when_and_script_are_compiled_with_line_and_column() -> None:
    found = faults_of(
        workflow(
            when="record['a'] == = 2",
            actions=[
                {"type": "script", "code": "x = 1\nimport os"},
                {"type": "script", "code": "ok = 1"},
                {"type": "script", "code": "y = record.__dict__"},
            ],
        )
    )
    assert found == {
        "when": "line 1, column 16: syntax error: invalid syntax",
        "actions.0.code": "line 2, column 1: module 'os' is not available in rules (rules may "
        "import: math, re, datetime, decimal, json, statistics)",
        "actions.2.code": 'line 1, column 12: "__dict__" is an invalid attribute name because '
        'it starts with "_".',
    }


def test_plugin_actions_are_checked_against_their_schema() -> None:
    types = ActionTypes([WEBHOOK])
    parsed = parse_workflow(
        workflow(stage="async", actions=[{"type": "webhook", "url": "https://x.example"}]),
        action_types=types,
    )
    assert parsed.actions == (PluginAction("webhook", {"url": "https://x.example"}),)
    found = faults_of(
        workflow(actions=[{"type": "webhook", "url": "http://x", "retries": 3}, {"type": "fax"}]),
        action_types=types,
    )
    assert found == {
        "actions.0": "Additional properties are not allowed ('retries' was unexpected)",
        "actions.0.url": "'http://x' does not match '^https://'",
        "actions.1.type": "unknown action type 'fax' (available: set, create, update, link, "
        "unlink, reject, script, webhook)",
    }


def test_plugin_action_types_cannot_shadow_built_ins_or_bring_bad_schemas() -> None:
    with pytest.raises(ValueError, match="built in"):
        ActionTypes([ActionType("set", {})])
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        ActionTypes([ActionType("fax", {"type": "nonsense"})])
    with pytest.raises(ValueError, match="snake_case"):
        ActionTypes([ActionType("Fax", {})])


def test_limits_stay_under_the_ceiling() -> None:
    parsed = parse_workflow(workflow(limits={"cpuSeconds": 0.5, "memoryMb": 64}))
    assert parsed.limits == Limits(cpu_seconds=0.5, memory_mb=64)
    ceiling = Limits(cpu_seconds=2, wall_seconds=5, memory_mb=256)
    found = faults_of(
        workflow(limits={"cpuSeconds": 3, "wallSeconds": 60, "memoryMb": 1024}), ceiling=ceiling
    )
    assert found == {
        "limits.cpuSeconds": "3s is above the administrator's ceiling of 2s",
        "limits.wallSeconds": "60s is above the administrator's ceiling of 5s",
        "limits.memoryMb": "1024 MB is above the administrator's ceiling of 256 MB",
    }
    assert "minimum" in faults_of(workflow(limits={"memoryMb": 1}))["limits.memoryMb"]
    defaults = Limits(1.0, 2.0, 128)
    assert parsed.limits.over(defaults) == Limits(0.5, 2.0, 64)
    assert Limits(20, 1, 4000).within(ceiling) == Limits(2, 1, 256)


def test_the_catalog_check_finds_missing_types_fields_and_relationships() -> None:
    assert catalog_faults(workflow(entity="spaceship")) == {
        "entity": "no entity type named 'spaceship'"
    }
    found = catalog_faults(
        workflow(
            on=["update"],
            fields=["status", "colour"],
            stage="before",
            actions=[
                {"type": "set", "values": {"status": "open", "flavour": "x"}},
                {"type": "create", "entity": "spaceship", "values": {}},
                {"type": "create", "entity": "task", "values": {"wings": 2}},
                {"type": "update", "target": "status", "values": {}},
                {"type": "link", "relationship": "contract_assets", "otherId": ID},
                {"type": "unlink", "relationship": "nothing", "otherId": ID},
            ],
        )
    )
    assert found == {
        "fields.colour": "grievance has no field 'colour'",
        "actions.0.values.flavour": "grievance has no field 'flavour'",
        "actions.1.entity": "no entity type named 'spaceship'",
        "actions.2.values.wings": "task has no field 'wings'",
        "actions.3.target": "grievance has no reference named 'status'",
        "actions.4.relationship": "contract_assets links contract to asset, not grievance",
        "actions.5.relationship": "no relationship named 'nothing'",
    }


ID = "0190d1c2-0000-7000-8000-000000000001"


def test_link_workflows_run_on_the_from_side_of_a_relationship() -> None:
    good = workflow(entity="contract", on=["link", "unlink"], relationship="contract_assets")
    check_workflow(parse_workflow(good), TYPES, RELATIONSHIPS)
    assert catalog_faults({**good, "entity": "asset"}) == {
        "relationship": "contract_assets links contract to asset; a link or unlink workflow runs "
        "on its 'from' side, so its entity must be 'contract'"
    }
    reference = workflow(entity="contract", on=["link"], relationship="contract.customer")
    check_workflow(parse_workflow(reference), TYPES, RELATIONSHIPS)
    assert catalog_faults({**reference, "relationship": "contract.title"}) == {
        "relationship": "contract has no reference named 'title'"
    }


def test_an_update_action_may_follow_a_reference() -> None:
    good = workflow(
        entity="contract",
        actions=[{"type": "update", "target": "customer", "values": {"tier": "vip"}}],
    )
    parsed = parse_workflow(good)
    assert parsed.actions == (UpdateAction({"tier": "vip"}, "customer"),)
    check_workflow(parsed, TYPES, RELATIONSHIPS)
    bad = copy.deepcopy(good)
    bad["actions"][0]["values"] = {"rank": 1}
    assert catalog_faults(bad) == {"actions.0.values.rank": "customer has no field 'rank'"}
    link = workflow(
        entity="asset",
        actions=[{"type": "link", "relationship": "contract_assets", "otherId": ID}],
    )
    assert parse_workflow(link).actions == (LinkAction("contract_assets", ID),)
    check_workflow(parse_workflow(link), TYPES, RELATIONSHIPS)


# ---- hostile definitions ----

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
code_text = st.text(alphabet="record[]'()._ =+-*/%<>!:\n\tabcdefgijklmnoprstuxyz0189_", max_size=50)
strings = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["create", "grievance", "contract.customer", "a.b.c", "0 9 * * *", "*/0 * * * *", "UTC"]
    ),
    code_text,
)
KEYS = [
    "name", "entity", "on", "relationship", "fields", "cron", "timezone", "stage", "when",
    "actions", "order", "enabled", "limits", "label", "colour", "$schema",
]  # fmt: skip
ACTIONS = [
    {"type": "set", "values": {"status": "open"}},
    {"type": "script", "code": "log(1)"},
    {"type": "create", "entity": "task", "values": {"title": "t"}},
    {"type": "update", "target": "customer", "values": {}},
    {"type": "link", "relationship": "contract_assets", "otherId": ID},
    {"type": "reject", "message": "no"},
    {"type": "webhook", "url": "https://x"},
]


@st.composite
def hostile_definitions(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)  # not even an object, mostly
    definition: dict[str, Any] = {
        "name": draw(st.sampled_from(["w", "rule_one", "Bad Name", ""])),
        "entity": draw(st.sampled_from(["grievance", "contract", "asset", "spaceship"])),
        "on": draw(st.lists(st.sampled_from([*TRIGGERS, "boom"]), min_size=0, max_size=3)),
        "actions": [copy.deepcopy(a) for a in draw(st.lists(st.sampled_from(ACTIONS), max_size=3))],
    }
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=5)):
        definition[key] = draw(st.one_of(strings, json_values))
    for action in definition["actions"] if isinstance(definition["actions"], list) else []:
        if isinstance(action, dict) and draw(st.booleans()):
            action[draw(st.sampled_from(["code", "values", "otherId", "entity", "x"]))] = draw(
                st.one_of(code_text, json_values)
            )
    return definition


TOP_KEYS = {"name", "entity", "on", "relationship", "fields", "cron", "timezone", "stage", "when"}
TOP_KEYS |= {"actions", "order", "enabled", "limits", "label", "title", "description"}


def _path_is_in(path: str, definition: Any) -> bool:
    """A fault's path starts at the root, a key the definition has, or one it lacks."""
    if path == "":
        return True
    keys = set(definition) | TOP_KEYS if isinstance(definition, dict) else set()
    return any(path == key or path.startswith(f"{key}.") for key in keys)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definition=hostile_definitions())
@example(definition={".": None})  # a key with a dot: its path is the key itself
def test_any_definition_is_parsed_or_refused_with_json_paths(definition: Any) -> None:
    types = ActionTypes([WEBHOOK])
    try:
        parsed = parse_workflow(definition, action_types=types)
    except DefinitionError as exc:
        assert exc.faults
        for fault in exc.faults:
            assert isinstance(fault, Fault) and isinstance(fault.message, str) and fault.message
            assert _path_is_in(fault.field, definition), fault
        return
    assert isinstance(parsed, Workflow)
    assert parsed.name == definition["name"] and parsed.entity == definition["entity"]
    assert set(parsed.on) <= set(TRIGGERS) and parsed.on
    assert len(parsed.actions) == len(definition["actions"])
    try:
        check_workflow(parsed, TYPES, RELATIONSHIPS)
    except DefinitionError as exc:
        assert all(_path_is_in(f.field, definition) for f in exc.faults)
