"""Definition changes never lose or invent stored data silently (issue 10, points 19 and 24).

Each test here is one fault a stateful fuzz of definition changes found
(``test_definition_fuzz.py`` keeps looking): a default that did not fill the
stored rows, conversions that changed values, a restored required field left
holding nulls, unique values made to collide, a retired column name taken
again, and a purge of more than the change named.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from test_definition_changes import columns, insert, values

from xrm.entities.registry import Registry
from xrm.errors import DefinitionError
from xrm.platform.db import Database


def kind(name: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A small type ``name`` with ``properties``; ``unique``/``required`` as keywords."""
    definition: dict[str, Any] = {
        "type": "object",
        "x-xrm": {"name": name, "plural": f"{name}s"},
        "properties": copy.deepcopy(properties),
    }
    if "unique" in extra:
        definition["x-xrm"]["unique"] = extra["unique"]
    if "required" in extra:
        definition["required"] = extra["required"]
    return definition


def refused(registry: Registry, definition: dict[str, Any], **options: Any) -> DefinitionError:
    """The change is refused, and neither the definitions nor their version moved."""
    version = registry.current().version
    with pytest.raises(DefinitionError) as caught:
        registry.apply([definition], **options)
    assert registry.current().version == version
    return caught.value


# --- point 19: a default fills the stored records -------------------------------------------------


def test_a_field_added_with_a_default_fills_the_stored_records(
    registry: Registry, db: Database
) -> None:
    registry.apply([kind("gadget", {"name": {"type": "string"}})])
    ids = insert(registry, db, "gadget", {"name": "a"}, {"name": "b"})
    wider = kind(
        "gadget",
        {"name": {"type": "string"}, "colour": {"type": "string", "default": "red"}},
    )
    planned = registry.define(wider, dry_run=True)
    assert planned.describe() == [
        "add gadget.colour (string), filling the stored records with its default 'red'"
    ]
    assert "colour" not in columns(db, "e_gadget")
    applied = registry.define(wider)
    assert applied.describe() == planned.describe()
    assert values(registry, db, "gadget", "colour") == dict.fromkeys(ids, "red")


# --- point 24: conversions keep every value exactly ---------------------------------------------


@pytest.mark.parametrize(
    ("schema", "stored", "text"),
    [
        ({"type": "array", "items": {"type": "string"}}, ["a", "b"], '["a","b"]'),
        ({"type": "object"}, {"a": 1, "b": [True, None]}, '{"a":1,"b":[true,null]}'),
    ],
    ids=["array", "object"],
)
def test_an_array_or_object_becomes_compact_json_text_and_null_stays_null(
    registry: Registry, db: Database, schema: dict[str, Any], stored: Any, text: str
) -> None:
    registry.apply([kind("bag", {"label": {"type": "string"}, "data": schema})])
    full, empty = insert(registry, db, "bag", {"data": stored}, {"data": None})
    registry.define(kind("bag", {"label": {"type": "string"}, "data": {"type": "string"}}))
    assert values(registry, db, "bag", "data") == {full: text, empty: None}
    with db.read() as conn:  # SQL NULL, not the text "null"
        nulls = conn.execute(sa.text("SELECT count(*) FROM e_bag WHERE data IS NULL")).scalar()
    assert nulls == 1


LOSSY = [
    # (old schema, new schema, a value that would change, a value that converts exactly)
    (
        {"type": "string", "format": "decimal"},
        {"type": "number"},
        Decimal("12345678901234567.89"),
        Decimal("0.1"),
    ),
    ({"type": "integer", "format": "int64"}, {"type": "number"}, 9007199254740993, 2**53),
    ({"type": "string"}, {"type": "number"}, "12345678901234567890", "-12.5"),
    ({"type": "string"}, {"type": "string", "format": "decimal"}, "1,5", "1.50"),
    ({"type": "string"}, {"type": "integer"}, "007", "7"),
    ({"type": "string"}, {"type": "integer"}, "1e3", "1000"),
]


@pytest.mark.parametrize(
    ("old", "new", "lossy", "exact"),
    LOSSY,
    ids=["decimal-number", "int64-number", "string-number", "string-decimal", "007", "1e3"],
)
def test_a_conversion_that_would_change_a_value_is_refused_naming_the_record(
    registry: Registry, db: Database, old: Any, new: Any, lossy: Any, exact: Any
) -> None:
    registry.apply([kind("thing", {"label": {"type": "string"}, "v": old})])
    bad, good, none = insert(registry, db, "thing", {"v": lossy}, {"v": exact}, {"v": None})
    before = values(registry, db, "thing", "v")
    error = refused(registry, kind("thing", {"label": {"type": "string"}, "v": new}))
    assert [f.field for f in error.faults] == ["properties.v"]
    assert error.extensions["records"] == [bad]
    assert values(registry, db, "thing", "v") == before
    # Once the value that would change is gone, the exact ones convert.
    table = registry.current().tables["thing"]
    with db.write() as conn:
        conn.execute(table.delete().where(table.c.id == bad))
    registry.define(kind("thing", {"label": {"type": "string"}, "v": new}))
    after = values(registry, db, "thing", "v")
    assert after[none] is None
    assert Decimal(str(after[good])) == Decimal(str(exact))


def test_restoring_a_retired_field_as_required_checks_the_records_made_while_it_was_retired(
    registry: Registry, db: Database
) -> None:
    full = kind("memo", {"title": {"type": "string"}, "body": {"type": "string"}})
    full["required"] = ["body"]
    registry.apply([full])
    [old] = insert(registry, db, "memo", {"title": "t", "body": "kept"})
    registry.define(kind("memo", {"title": {"type": "string"}}))
    [new] = insert(registry, db, "memo", {"title": "made while retired"})
    error = refused(registry, full)
    assert [(f.field, f.rule) for f in error.faults] == [("properties.body", "required")]
    assert error.extensions["records"] == [new]
    assert "body" in registry.current().types["memo"].retired
    table = registry.current().tables["memo"]
    with db.write() as conn:
        conn.execute(table.update().where(table.c.id == new).values(body="filled"))
    registry.define(full)
    assert values(registry, db, "memo", "body") == {old: "kept", new: "filled"}


@pytest.mark.parametrize(
    ("old", "new", "pair"),
    [
        ({"type": "string"}, {"type": "string", "format": "email"}, ("A@x.org", "a@x.org")),
        (
            {"type": "string"},
            {"type": "string", "format": "uuid"},
            ("0190A6F2-0000-7000-8000-000000000001", "0190a6f2-0000-7000-8000-000000000001"),
        ),
    ],
    ids=["email", "uuid"],
)
def test_a_conversion_that_makes_unique_values_collide_is_refused_naming_both_records(
    registry: Registry,
    db: Database,
    old: Any,
    new: Any,
    pair: tuple[str, str],
) -> None:
    props = {"label": {"type": "string"}, "v": old}
    registry.apply([kind("tag", props, unique=[["v"]])])
    first, second, other = insert(registry, db, "tag", {"v": pair[0]}, {"v": pair[1]}, {"v": None})
    before = values(registry, db, "tag", "v")
    error = refused(registry, kind("tag", {**props, "v": new}, unique=[["v"]]))
    assert [(f.field, f.rule) for f in error.faults] == [("x-xrm.unique.0", "unique")]
    assert sorted(error.extensions["records"]) == sorted([first, second])
    assert "would no longer be unique" in error.faults[0].message
    assert values(registry, db, "tag", "v") == before
    plan = registry.define(kind("tag", {**props, "v": new}, unique=[["v"]]), dry_run=True)
    assert plan.blocked and sorted(plan.blocking_records(0)) == sorted([first, second])
    assert other not in plan.blocking_records(0)


def test_text_that_is_not_written_plainly_is_refused_before_it_could_collide(
    registry: Registry, db: Database
) -> None:
    props = {"label": {"type": "string"}, "v": {"type": "string"}}
    registry.apply([kind("code", props, unique=[["v"]]), kind("day", props, unique=[["v"]])])
    _one, zero_one = insert(registry, db, "code", {"v": "1"}, {"v": "01"})
    error = refused(registry, kind("code", {**props, "v": {"type": "integer"}}, unique=[["v"]]))
    assert error.extensions["records"] == [zero_one]  # "01" is not how 1 is written
    assert "not written plainly" in error.faults[0].message
    _day, basic = insert(registry, db, "day", {"v": "2024-01-05"}, {"v": "20240105"})
    date = {"type": "string", "format": "date"}
    error = refused(registry, kind("day", {**props, "v": date}, unique=[["v"]]))
    assert error.extensions["records"] == [basic]
    assert "YYYY-MM-DD" in error.faults[0].message


# --- retired names and purges ---------------------------------------------------------------------

REF = {"type": "string", "x-xrm-ref": {"entity": "owner_kind"}}
OWNER_KIND = kind("owner_kind", {"label": {"type": "string"}})


@pytest.mark.parametrize("retired_first", ["plain", "reference"])
def test_a_new_column_may_not_take_the_name_a_retired_one_keeps(
    registry: Registry, db: Database, retired_first: str
) -> None:
    plain = {"label": {"type": "string"}, "x_id": {"type": "string"}}
    reference = {"label": {"type": "string"}, "x": REF}
    first, second = (plain, reference) if retired_first == "plain" else (reference, plain)
    registry.apply([OWNER_KIND, kind("holder", first)])
    registry.define(kind("holder", {"label": {"type": "string"}}))  # retire it
    error = refused(registry, kind("holder", second))
    [fault] = error.faults
    retired = "x_id" if retired_first == "plain" else "x"
    added = "x" if retired_first == "plain" else "x_id"
    assert fault.field == f"properties.{added}"
    assert "x_id" in fault.message and f"retired property {retired!r}" in fault.message
    assert "confirmDataLoss" in fault.message


def test_a_confirmed_purge_frees_the_name_in_the_same_change(
    registry: Registry, db: Database
) -> None:
    registry.apply(
        [OWNER_KIND, kind("holder", {"label": {"type": "string"}, "x_id": {"type": "string"}})]
    )
    [owner] = insert(registry, db, "owner_kind", {"label": "o"})
    [row] = insert(registry, db, "holder", {"label": "h", "x_id": "old text"})
    with_ref = kind("holder", {"label": {"type": "string"}, "x": REF})
    plan = registry.define(with_ref, confirm_data_loss=True)
    assert sorted(plan.describe()) == ["PURGE holder.x_id and its data", "add holder.x (ref)"]
    table = registry.current().tables["holder"]
    with db.write() as conn:
        conn.execute(table.update().values(x_id=owner))
    assert values(registry, db, "holder", "x") == {row: owner}


def test_confirm_data_loss_purges_only_what_the_change_removes(
    registry: Registry, db: Database
) -> None:
    props = {"label": {"type": "string"}, "a": {"type": "string"}, "b": {"type": "string"}}
    registry.apply([kind("box", props)])
    [row] = insert(registry, db, "box", {"label": "l", "a": "keep a", "b": "drop b"})
    registry.define(kind("box", {"label": props["label"], "b": props["b"]}))  # a is retired
    plan = registry.define(kind("box", {"label": props["label"]}), confirm_data_loss=True)
    assert plan.describe() == ["PURGE box.b and its data"]
    assert "a" in columns(db, "e_box") and "b" not in columns(db, "e_box")
    assert "a" in registry.current().types["box"].retired
    registry.define(kind("box", {"label": props["label"], "a": props["a"]}))
    assert values(registry, db, "box", "a") == {row: "keep a"}
