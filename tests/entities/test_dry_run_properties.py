"""A dry run of any definition change changes nothing and plans exactly what applying does.

Hypothesis walks a type with stored rows through random changes (tightened
and loosened rules, conversions, retired and restored fields, new fields,
unique sets, purges). For every change the model is: the dry run leaves the
database as it was (tables, rows, definitions, version, audit); if it answers
a blocked plan, applying is refused with exactly the same faults; otherwise
applying succeeds with exactly the steps the dry run planned.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_definition_changes import insert

from xrm.entities.registry import Registry
from xrm.errors import ConfirmationRequired, DefinitionError
from xrm.platform.db import Database

CHOICES: dict[str, list[dict[str, Any] | None]] = {
    "name": [
        None,
        {"type": "string"},
        {"type": "string", "maxLength": 4},
        {"type": "string", "maxLength": 40},
        {"type": "string", "enum": ["ab", "abc", "long name"]},
        {"type": "string", "pattern": "^a"},
    ],
    "qty": [
        None,
        {"type": "integer"},
        {"type": "number"},
        {"type": "string"},
        {"type": "integer", "minimum": 5},
        {"type": "integer", "format": "int64"},
    ],
    "code": [
        None,
        {"type": "string"},
        {"type": "integer"},
        {"type": "string", "format": "date"},
        {"type": "string", "minLength": 2},
    ],
    "colour": [
        None,
        {"type": "string", "default": "red"},
        {"type": "string", "enum": ["red", "blue"]},
    ],
}
CHANGES = st.fixed_dictionaries(
    {
        "properties": st.fixed_dictionaries({k: st.sampled_from(v) for k, v in CHOICES.items()}),
        "required": st.sampled_from([[], [], [], ["colour"], ["name"], ["qty", "code"]]),
        "unique": st.sampled_from([[], [["name"]], [["code"]], [["name", "qty"]]]),
        "confirm_data_loss": st.booleans(),
    }
)
NAMES = itertools.count()
# What a change of one type may touch besides its table (which tables exist is compared too).
DEFINITION_TABLES = ("state", "entity_types", "relationships", "roles", "audit", "sequences")


def definition(name: str, change: dict[str, Any]) -> dict[str, Any]:
    properties = {k: v for k, v in change["properties"].items() if v is not None}
    properties.setdefault("label", {"type": "string"})  # a type keeps one property at least
    out: dict[str, Any] = {
        "type": "object",
        "x-xrm": {"name": name, "plural": f"{name}s"},
        "properties": properties,
    }
    required = [p for p in change["required"] if p in properties]
    if required:
        out["required"] = required
    unique = [g for g in change["unique"] if all(p in properties for p in g)]
    if unique:
        out["x-xrm"]["unique"] = unique
    return out


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=st.lists(CHANGES, min_size=1, max_size=4))
def test_a_dry_run_changes_nothing_and_plans_what_applying_does(
    registry: Registry,
    db: Database,
    snapshot: Callable[..., dict[str, Any]],
    changes: list[dict[str, Any]],
) -> None:
    name = f"walk{next(NAMES)}"
    touched = [f"e_{name}", *(f"xrm_{t}" for t in DEFINITION_TABLES)]
    first = {
        "properties": {"name": {"type": "string"}, "qty": {"type": "integer"}, "code": None},
        "required": [],
        "unique": [],
    }
    first["properties"]["code"] = {"type": "string"}
    registry.apply([definition(name, first)])
    insert(
        registry,
        db,
        name,
        {"name": "ab", "qty": 7, "code": "12"},
        {"name": "abc", "qty": 12, "code": "2024-01-05"},
        {"name": None, "qty": None, "code": None},
    )
    for change in changes:
        proposed = definition(name, change)
        options = {"confirm_data_loss": change["confirm_data_loss"]}
        before = snapshot(touched)
        try:
            plan = registry.define(proposed, dry_run=True, **options)
        except (DefinitionError, ConfirmationRequired) as refused:
            event(f"refused: {refused.code}")
            assert snapshot(touched) == before
            try:
                registry.define(proposed, **options)
            except type(refused) as again:
                assert str(again) == str(refused)
            else:
                raise AssertionError(f"the dry run refused what applying accepted: {refused}")
            assert snapshot(touched) == before
            continue
        assert snapshot(touched) == before, proposed
        event("blocked" if plan.blocked else f"applied {sorted({s.action for s in plan.steps})}")
        if plan.blocked:
            try:
                registry.define(proposed, **options)
            except DefinitionError as error:
                assert list(error.faults) == plan.faults()
            else:
                raise AssertionError("a blocked dry run was applied")
            assert snapshot(touched) == before
        else:
            applied = registry.define(proposed, **options)
            assert applied.describe() == plan.describe()
            assert registry.current().types[name].definition == proposed
