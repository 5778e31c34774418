"""Properties of the workflow builder's form: a definition survives the form, hostile posts
get errors at inputs, never a crash.

The model: every definition the form can spell (any triggers, stage, condition, and actions
of every built-in type with any text in their values, messages and code) comes back equal
after being turned into the form's values and built again; whatever is posted, building
either gives a definition or errors keyed by the form's own input names, and the page
answers 303 or 400 with those errors, never 500.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_signin import csrf_of

from xrm.admin_ui import workflow_form as wf
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.plugins.webhook import SETTINGS_SCHEMA
from xrm.schemas.workflows import STAGES, TRIGGERS

pytest_plugins = ["admin_clients"]

FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
TRIMMED = ANY_TEXT.map(str.strip).filter(bool)
SOME_CODE = ANY_TEXT.filter(lambda s: s.strip() != "")
PLUGINS = {"webhook": SETTINGS_SCHEMA}  # the built-in webhook plugin's action
GRIEVANCE_TEXT_FIELDS = ("subject", "description", "resolution", "severity", "due_date")


def grievance_values() -> st.SearchStrategy[dict[str, Any]]:
    value = st.one_of(st.none(), ANY_TEXT)
    return st.dictionaries(st.sampled_from(GRIEVANCE_TEXT_FIELDS), value, max_size=4)


def actions() -> st.SearchStrategy[dict[str, Any]]:
    message = st.one_of(TRIMMED, st.fixed_dictionaries({"en": TRIMMED, "ko": TRIMMED}))
    return st.one_of(
        st.builds(lambda v: {"type": "set", "values": v}, grievance_values()),
        st.builds(lambda v: {"type": "update", "values": v}, grievance_values()),
        st.builds(
            lambda v: {"type": "update", "target": "customer", "values": v},
            st.dictionaries(st.sampled_from(("name", "tier")), ANY_TEXT, max_size=2),
        ),
        st.builds(
            lambda v: {"type": "create", "entity": "task", "values": v},
            st.dictionaries(st.sampled_from(("title", "description")), ANY_TEXT, max_size=2),
        ),
        st.builds(
            lambda kind, rel, other: {"type": kind, "relationship": rel, "otherId": other},
            st.sampled_from(("link", "unlink")),
            st.sampled_from(("grievance.customer", "contract_contacts")),
            TRIMMED.filter(lambda s: " " not in s),
        ),
        st.builds(lambda m: {"type": "reject", "message": m}, message),
        st.builds(lambda c: {"type": "script", "code": c}, SOME_CODE),
        st.builds(lambda d: {"type": "webhook", "destination": d}, SOME_CODE),
    )


@st.composite
def workflow_definitions(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.sets(st.sampled_from(TRIGGERS), min_size=1))
    definition: dict[str, Any] = {"name": draw(st.sampled_from(("rule", "a_b_1", "x")))}
    if draw(st.booleans()):
        definition["title"] = draw(TRIMMED)
    definition["entity"] = "grievance"
    definition["on"] = [t for t in TRIGGERS if t in chosen]
    definition["stage"] = draw(st.sampled_from(STAGES))
    if draw(st.booleans()):
        definition["fields"] = draw(
            st.lists(st.sampled_from(GRIEVANCE_TEXT_FIELDS), min_size=1, unique=True)
        )
    for key, options in (
        ("relationship", ("grievance.customer", "contract_contacts")),
        ("cron", ("0 9 * * 1-5", "*/5 * * * *")),
        ("timezone", ("Asia/Seoul", "UTC")),
    ):
        if draw(st.booleans()):
            definition[key] = draw(st.sampled_from(options))
    if draw(st.booleans()):  # a plugin trigger's source and event: one choice in the form
        definition["source"], definition["event"] = draw(
            st.sampled_from((("sample.door", "opened"), ("crm_mail.inbox", "received")))
        )
    if draw(st.booleans()):
        definition["when"] = draw(SOME_CODE)
    if draw(st.booleans()):
        definition["order"] = draw(st.integers(-1_000_000, 1_000_000))
    definition["enabled"] = draw(st.booleans())
    definition["actions"] = draw(st.lists(actions(), min_size=1, max_size=4))
    if draw(st.booleans()):
        definition["limits"] = {"cpuSeconds": 1.5}
    return definition


@pytest.fixture
def types(registry: Registry) -> Any:
    registry.apply(definitions())
    return registry.current().types


@settings(max_examples=50, suppress_health_check=FIXTURES)
@given(definition=workflow_definitions())
def test_a_definition_survives_the_form(types: Any, definition: dict[str, Any]) -> None:
    values = wf.values_from_definition(definition)
    built = wf.build(values, types, kept=definition, plugins=PLUGINS)
    assert built.errors == {}
    assert built.definition == definition


INPUTS = ("name", "title", "entity", "on", "stage", "fields", "relationship", "cron")
INPUTS += ("timezone", "when", "order", "enabled", "version", "more")
ACTION_KEYS = ("type", "values", "entity", "target", "relationship", "otherId", "message.en")
ACTION_KEYS += ("message.ko", "code", "settings.destination", "settings.x")
HOSTILE_TEXT = st.one_of(
    ANY_TEXT,
    st.sampled_from(
        [
            "\x00",
            "set",
            "reject",
            "script",
            "create",
            "link",
            "grievance",
            "before",
            "update",
            "schedule",
            "a = \x00",
            "=",
            "x" * 300,
            "1e999",
            "-0",
            "'; DROP TABLE xrm_workflows; --",
            "import os",
            "\u2028",
            "webhook",
        ]
    ),
)


def hostile_posts() -> st.SearchStrategy[dict[str, list[str]]]:
    plain = st.sampled_from(INPUTS)
    action = st.builds(
        lambda i, k: f"actions.{i}.{k}", st.integers(0, 3), st.sampled_from(ACTION_KEYS)
    )
    keys = st.one_of(plain, action, ANY_TEXT)
    return st.dictionaries(keys, st.lists(HOSTILE_TEXT, min_size=1, max_size=2), max_size=12)


def allowed(name: str, posted: dict[str, list[str]]) -> bool:
    """An input the form has: a top-level one, or an input of an action block it posted."""
    if name in INPUTS or name == "actions":
        return True
    found = re.fullmatch(r"actions\.(\d+)\.(\w+)", name)
    if found is None:
        return False
    block = int(found.group(1))
    blocks = {int(m.group(1)) for k in posted if (m := re.match(r"actions\.(\d+)\.", k))}
    return block < len(blocks) and found.group(2) in ("type", "values", "message", "code")


def shown(name: str, posted: dict[str, list[str]], built: wf.Built) -> bool:
    """Where the page shows a fault: an input it has (or above the form: "")."""
    form = wf.values_from_post(posted)
    return name == "" or name in wf.known_inputs(form, PLUGINS) or not built.blocks


@settings(max_examples=50, suppress_health_check=FIXTURES)
@given(posted=hostile_posts())
def test_building_any_post_gives_a_definition_or_errors_at_inputs(
    types: Any, posted: dict[str, list[str]]
) -> None:
    built = wf.build(wf.values_from_post(posted), types, plugins=PLUGINS)
    assert all(allowed(name, posted) for name in built.errors), built.errors
    for path in ("actions.0.code", "actions.0.values.x", "when", "fields.1", "limits.cpuSeconds"):
        assert shown(wf.input_of(path, built.blocks), posted, built), path


@settings(max_examples=30, suppress_health_check=FIXTURES, deadline=None)
@given(posted=hostile_posts())
def test_the_page_answers_any_post_with_errors_never_a_crash(
    ann: TestClient, posted: dict[str, list[str]]
) -> None:
    token = csrf_of(ann.get("/admin/workflows/new").text)
    form = [(k, v) for k, values in posted.items() if k != "csrf" for v in values]
    answer = ann.post(
        "/admin/workflows/new",
        content=urlencode([*form, ("csrf", token)]),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code in (200, 303, 400), answer.text
    assert "Traceback" not in answer.text and "sqlalchemy" not in answer.text.lower()
    if answer.status_code == 400:
        assert 'role="alert"' in answer.text
