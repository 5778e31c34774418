"""Hostile definitions through the registry, on the real database: BAD_DEFINITION, nothing stored.

Before, each of these was an internal error (OverflowError, a duplicate index,
the database's column limit, RecursionError) or was stored and then broke the
API. And the newer rules apply to new definitions only: a catalog an older
release stored around them still loads and can still be changed elsewhere.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from xrm.entities import registry as registry_module
from xrm.entities.registry import Registry
from xrm.errors import DefinitionError
from xrm.platform import tables as platform
from xrm.platform.db import Database
from xrm.schemas import parse
from xrm.schemas.admission import MAX_PROPERTIES


def entity(name: str, properties: dict[str, Any] | None = None, **xrm: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "x-xrm": {"name": name, "plural": f"{name}s", **xrm},
        "properties": properties if properties is not None else {"title": {"type": "string"}},
    }


def deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


HOSTILE = {
    "pattern_overflow": (
        entity("code", {"c": {"type": "string", "pattern": "a{99999999999}"}}),
        "properties.c.pattern",
    ),
    "unique_set_twice": (
        entity(
            "code",
            {"c": {"type": "string"}, "d": {"type": "string"}},
            unique=[["c", "d"], ["d", "c"]],
        ),
        "x-xrm.unique.1",
    ),
    "too_many_properties": (
        entity("code", {f"p{i}": {"type": "string"} for i in range(MAX_PROPERTIES + 1)}),
        "properties",
    ),
    "nan_minimum": (
        entity("code", {"n": {"type": "number", "minimum": float("nan")}}),
        "properties.n.minimum",
    ),
    "infinite_maximum": (
        entity("code", {"n": {"type": "number", "maximum": float("inf")}}),
        "properties.n.maximum",
    ),
    "nan_label": (entity("code", label={"en": float("nan")}), "x-xrm.label.en"),
    "nested_1000_deep": (
        entity("code", {"o": {"type": "object", "default": deep(1000)}}),
        "properties.o.default.a.…",
    ),
    "named_query": (entity("query"), "x-xrm.name"),
    "named_sort_direction": (entity("sort_direction"), "x-xrm.name"),
    "properties_a_1_and_a1": (
        entity("code", {"a_1": {"type": "string"}, "a1": {"type": "string"}}),
        "properties.a1",
    ),
}


def _tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_definition_is_bad_definition_and_nothing_is_stored(
    registry: Registry, db: Database, case: str
) -> None:
    definition, path = HOSTILE[case]
    before = _tables(db)
    with pytest.raises(DefinitionError) as caught:
        registry.apply([definition])
    assert caught.value.code == "BAD_DEFINITION"
    assert path in [f.field for f in caught.value.faults]
    assert registry.current().types == {}
    assert _tables(db) == before
    registry.apply([entity("note")])  # and the registry works on
    assert set(registry.current().types) == {"note"}


def test_types_whose_names_clash_are_refused_together_or_one_after_the_other(
    registry: Registry,
) -> None:
    with pytest.raises(DefinitionError) as caught:
        registry.apply([entity("item_2"), entity("item2")])
    messages = [f"{f.field}: {f.message}" for f in caught.value.faults]
    assert any("'Item2'" in m and "item_2" in m for m in messages), messages
    registry.apply([entity("item_2")])
    with pytest.raises(DefinitionError) as caught:
        registry.apply([entity("item2")])
    assert {f.field: f.message for f in caught.value.faults}["x-xrm.name"] == (
        "'item2' becomes the GraphQL type 'Item2', as type 'item_2' does"
    )
    assert set(registry.current().types) == {"item_2"}


def test_an_inverse_that_clashes_in_camel_case_is_refused(registry: Registry) -> None:
    registry.apply([entity("customer", {"order1": {"type": "string"}})])
    order = entity(
        "order",
        {"customer": {"type": "string", "x-xrm-ref": {"entity": "customer", "inverse": "order_1"}}},
    )
    with pytest.raises(DefinitionError) as caught:
        registry.apply([order])
    assert [f.field for f in caught.value.faults] == ["properties.customer.x-xrm-ref.inverse"]
    assert set(registry.current().types) == {"customer"}


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply as an older release did: without the admission rules and the GraphQL name check."""
    monkeypatch.setattr(registry_module, "admit", lambda definition: None)
    monkeypatch.setattr(parse, "clashes", lambda *args, **kwargs: [])


def test_a_catalog_stored_around_the_new_rules_still_loads_and_changes_elsewhere(
    registry: Registry,
    db: Database,
    settings: Any,
    unchecked: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    many = {f"p{i}": {"type": "string"} for i in range(MAX_PROPERTIES + 20)}
    registry.apply(
        [
            entity("wide", many),
            entity("item_2"),
            entity("item2"),
            entity("pair", {"a_1": {"type": "string"}, "a1": {"type": "string"}}),
        ]
    )
    monkeypatch.undo()  # from here on, the rules of this release
    fresh = Registry(db, settings)
    assert {"wide", "item_2", "item2", "pair"} <= set(fresh.current().types)
    fresh.apply([entity("note")])
    assert "note" in fresh.current().types
    # Changing a stored type that breaks a new rule is held to it.
    with pytest.raises(DefinitionError):
        fresh.apply([entity("pair", {"a_1": {"type": "string"}, "a1": {"type": "integer"}})])


@pytest.mark.sqlite_only  # PostgreSQL's JSON never stored NaN
def test_a_nan_an_older_release_stored_on_sqlite_still_loads(
    registry: Registry, db: Database, settings: Any
) -> None:
    registry.apply([entity("gauge", {"level": {"type": "number"}})])
    stored = entity("gauge", {"level": {"type": "number", "minimum": float("nan")}})
    with db.write() as conn:
        conn.execute(
            platform.entity_types.update()
            .where(platform.entity_types.c.name == "gauge")
            .values(definition=stored)
        )
        conn.execute(
            platform.state.update()
            .where(platform.state.c.key == "schema_version")
            .values(value="2")
        )
    catalog = Registry(db, settings).current()
    assert json.dumps(catalog.types["gauge"].definition).count("NaN") == 1
