"""A change that breaks stored rows in several ways names every broken rule at once.

Issue 10, point 18: a refusal reported only the first broken rule, with the
property's name written twice (``properties.title: title: is required``). Now
one ``BAD_DEFINITION`` lists each broken rule with its JSON path, the keyword
it breaks, how many records break it and the first of them; a dry run
answers the same as a blocked plan.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_definition_changes import BASE, changed, insert, refused, stored_definition, values

from xrm.entities.registry import Registry
from xrm.errors import DefinitionError
from xrm.platform.db import Database


@pytest.fixture
def rows(registry: Registry, db: Database) -> list[str]:
    registry.apply([BASE])
    return insert(
        registry,
        db,
        "item",
        {"name": "short", "code": "42", "size": "s", "qty": 7, "note": "keep me"},
        {"name": "a much longer name here", "code": "x-1", "size": "m", "qty": 2},
        {"name": "mid name", "code": None, "size": None, "qty": None},
        {"name": "UPPER CASE", "code": "7", "size": "m", "note": "keep me"},
    )


def by_rule(error: DefinitionError) -> dict[tuple[str, str], tuple[list[str], int]]:
    return {(f.field, f.rule): (sorted(f.records), f.count) for f in error.faults}


def test_every_broken_rule_is_named_with_its_records(
    registry: Registry, db: Database, rows: list[str]
) -> None:
    r0, r1, r2, r3 = rows
    definition = changed(
        name={"type": "string", "maxLength": 9, "pattern": "^[a-z ]+$"},
        size={"type": "string", "enum": ["s"]},
        code={"type": "integer"},
        colour={"type": "string"},
    )
    definition["required"] = ["size", "colour"]
    definition["x-xrm"]["unique"] = [["qty"], ["note"]]
    error = refused(registry, definition)
    assert error.code == "BAD_DEFINITION"
    assert by_rule(error) == {
        ("properties.name", "maxLength"): (sorted([r1, r3]), 2),
        ("properties.name", "pattern"): ([r3], 1),  # r3 breaks two rules: both are named
        ("properties.size", "required"): ([r2], 1),
        ("properties.size", "enum"): (sorted([r1, r3]), 2),
        ("properties.code", "type"): ([r1], 1),
        ("properties.colour", "required"): (sorted(rows), 4),
        ("x-xrm.unique.1", "unique"): (sorted([r0, r3]), 2),
    }
    for fault in error.faults:  # the path is said once, not again inside the message
        assert not re.match(r"(name|size|code|colour|note)\b", fault.message), str(fault)
        assert f"{fault.count} stored record" in fault.message
    assert "is required" in str(error) and "properties.size: is required" in str(error)
    assert set(error.extensions["records"]) == set(rows)
    entries = {(e["field"], e["rule"]): e for e in error.as_extensions()["errors"]}
    assert entries[("properties.name", "pattern")]["records"] == [r3]
    assert entries[("properties.name", "pattern")]["count"] == 1
    # Nothing changed.
    assert stored_definition(db, "item") == BASE
    assert values(registry, db, "item", "code")[r0] == "42"
    assert "colour" not in registry.current().types["item"].properties


def test_a_dry_run_answers_the_same_reasons_on_the_blocked_steps(
    registry: Registry, db: Database, rows: list[str]
) -> None:
    definition = changed(
        name={"type": "string", "maxLength": 9}, size={"type": "string", "enum": ["s"]}
    )
    error = refused(registry, definition)
    plan = registry.define(definition, dry_run=True)
    assert plan.blocked
    assert plan.faults() == list(error.faults)
    blocked = {plan.steps[i].prop.name: plan.blocking_records(i) for i in plan.refusals}  # type: ignore[union-attr]
    assert blocked == {"name": sorted([rows[1], rows[3]]), "size": sorted([rows[1], rows[3]])}
    assert stored_definition(db, "item") == BASE


def test_the_records_listed_are_bounded_and_counted(registry: Registry, db: Database) -> None:
    registry.apply([BASE])
    many = insert(registry, db, "item", *({"name": f"name number {i:03}"} for i in range(105)))
    error = refused(registry, changed(name={"type": "string", "maxLength": 5}))
    [fault] = error.faults
    assert fault.count == 105
    assert list(fault.records) == sorted(many)[:100]
    assert "105 stored records would break (the first 100 listed)" in fault.message
    assert error.extensions["records"] == sorted(many)[:100]


# --- a model of which rows break which rule -------------------------------------------------------

NAMES = st.one_of(st.none(), st.text(alphabet="abAB", min_size=1, max_size=8))
PATTERNS = ["^a", "b$", "^[ab]+$", "A"]
ENUMS = st.lists(st.text(alphabet="abAB", min_size=1, max_size=3), min_size=1, max_size=4)
SCHEMAS = st.fixed_dictionaries(
    {},
    optional={
        "maxLength": st.integers(0, 8),
        "minLength": st.integers(0, 8),
        "pattern": st.sampled_from(PATTERNS),
        "enum": ENUMS.map(lambda values: sorted(set(values))),
    },
).filter(lambda schema: schema.get("minLength", 0) <= schema.get("maxLength", 8))


def model(schema: dict[str, Any], required: bool, stored: list[Any]) -> dict[str, list[int]]:
    """Rule -> indexes of the stored values that break it (a few lines of plain Python)."""
    tests = {
        "maxLength": lambda v: len(v) > schema["maxLength"],
        "minLength": lambda v: len(v) < schema["minLength"],
        "pattern": lambda v: re.search(schema["pattern"], v) is None,
        "enum": lambda v: v not in schema["enum"],
    }
    out: dict[str, list[int]] = {}
    for index, value in enumerate(stored):
        if value is None:
            if required:
                out.setdefault("required", []).append(index)
            continue
        for rule, breaks in tests.items():
            if rule in schema and breaks(value):
                out.setdefault(rule, []).append(index)
    return out


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stored=st.lists(NAMES, min_size=1, max_size=6), schema=SCHEMAS, required=st.booleans())
@example(stored=["AAAAAAAAA", None], schema={"maxLength": 3, "pattern": "^a"}, required=True)
def test_the_refusal_names_exactly_the_rules_each_row_breaks(
    registry: Registry, db: Database, stored: list[Any], schema: dict[str, Any], required: bool
) -> None:
    name = "thing"
    base = {
        "type": "object",
        "x-xrm": {"name": name, "plural": f"{name}s"},
        "properties": {"label": {"type": "string"}},
    }
    if name in registry.current().tables:  # one type for every example: empty it, loosen it
        with db.write() as conn:
            conn.execute(registry.current().tables[name].delete())
    registry.apply([base])
    ids = insert(registry, db, name, *({"label": value} for value in stored))
    tightened = {**base, "properties": {"label": {"type": "string", **schema}}}
    if required:
        tightened["required"] = ["label"]
    expected = {
        ("properties.label", rule): (sorted(ids[i] for i in found), len(found))
        for rule, found in model(schema, required, stored).items()
    }
    plan = registry.define(tightened, dry_run=True)
    if not expected:
        registry.define(tightened)
        assert (
            registry.current().types[name].properties["label"].schema
            == tightened["properties"]["label"]
        )
        return
    assert plan.blocked
    error = refused(registry, tightened)
    assert by_rule(error) == expected
    assert plan.faults() == list(error.faults)
    assert values(registry, db, name, "label") == dict(zip(ids, stored, strict=True))
