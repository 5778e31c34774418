"""Changing a definition that has data: widen at once, check before tightening, keep data."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from xrm.entities.registry import Registry
from xrm.errors import ConfirmationRequired, DefinitionError
from xrm.platform import tables as platform
from xrm.platform.db import Database
from xrm.platform.ids import new_id

BASE: dict[str, Any] = {
    "type": "object",
    "x-xrm": {"name": "item", "plural": "items", "label": {"en": "Item"}},
    "properties": {
        "name": {"type": "string", "maxLength": 50},
        "code": {"type": "string"},
        "size": {"type": "string", "enum": ["s", "m"]},
        "qty": {"type": "integer"},
        "note": {"type": "string"},
    },
}
TAGS: dict[str, Any] = {
    "relationship": "item_links",
    "from": "item",
    "to": "item",
    "fromField": "linked",
    "toField": "linked_from",
    "properties": {"weight": {"type": "integer"}, "why": {"type": "string"}},
}


def changed(**properties: Any) -> dict[str, Any]:
    """BASE with some properties replaced (a value of None removes one)."""
    definition = copy.deepcopy(BASE)
    for name, schema in properties.items():
        if schema is None:
            definition["properties"].pop(name)
        else:
            definition["properties"][name] = schema
    return definition


def insert(registry: Registry, db: Database, entity: str, *rows: dict[str, Any]) -> list[str]:
    """Insert rows straight into the table (the record service is not under test here)."""
    table = registry.current().tables[entity]
    now = dt.datetime.now(dt.UTC)
    ids = [new_id() for _ in rows]
    keys = {key for row in rows for key in row}
    with db.write() as conn:
        conn.execute(
            table.insert(),
            [
                {"id": i, "version": 1, "created_at": now, "updated_at": now}
                | dict.fromkeys(keys)
                | row
                for i, row in zip(ids, rows, strict=True)
            ],
        )
    return ids


def values(registry: Registry, db: Database, entity: str, column: str) -> dict[str, Any]:
    """{id: value} of one property (retired ones included)."""
    catalog = registry.current()
    et, table = catalog.types[entity], catalog.tables[entity]
    prop = et.properties.get(column) or et.retired.get(column)
    name = prop.column if prop is not None else column
    with db.read() as conn:
        return {str(r[0]): r[1] for r in conn.execute(sa.select(table.c.id, table.c[name]))}


def columns(db: Database, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns(table)}


def stored_definition(db: Database, name: str) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(
            sa.select(platform.entity_types.c.definition).where(
                platform.entity_types.c.name == name
            )
        ).scalar_one()
    return dict(row)


@pytest.fixture
def items(registry: Registry, db: Database) -> list[str]:
    """BASE applied with three rows in it; returns their ids in insertion order."""
    registry.apply([BASE])
    return insert(
        registry,
        db,
        "item",
        {"name": "short", "code": "42", "size": "s", "qty": 7, "note": "keep me"},
        {"name": "a much longer name here", "code": "x-1", "size": "m", "qty": 2_000_000_000},
        {"name": "mid name", "code": None, "size": None, "qty": None},
    )


def refused(registry: Registry, definition: dict[str, Any], **options: Any) -> DefinitionError:
    version = registry.current().version
    with pytest.raises(DefinitionError) as caught:
        registry.apply([definition], **options)
    assert registry.current().version == version
    return caught.value


# --- changes that apply at once ------------------------------------------------------------------


def test_add_a_field(registry: Registry, db: Database, items: list[str]) -> None:
    plan = registry.define(changed(colour={"type": "string"}))
    assert plan.describe() == ["add item.colour (string)"]
    assert "colour" in columns(db, "e_item")
    assert values(registry, db, "item", "colour") == dict.fromkeys(items)
    assert values(registry, db, "item", "name")[items[0]] == "short"
    assert "colour" in registry.current().types["item"].properties


def test_add_a_reference(registry: Registry, db: Database, items: list[str]) -> None:
    plan = registry.define(
        changed(parent={"type": "string", "x-xrm-ref": {"entity": "item", "inverse": "children"}})
    )
    assert plan.describe() == ["add item.parent (ref)"]
    insp = sa.inspect(db.engine)
    assert "parent_id" in columns(db, "e_item")
    assert [fk["constrained_columns"] for fk in insp.get_foreign_keys("e_item")] == [["parent_id"]]
    table = registry.current().tables["item"]
    with db.write() as conn:
        conn.execute(table.update().where(table.c.id == items[1]).values(parent_id=items[0]))
    with pytest.raises(sa.exc.IntegrityError), db.write() as conn:
        conn.execute(table.update().where(table.c.id == items[1]).values(parent_id=new_id()))


def test_add_a_required_field_with_a_default_fills_the_rows(
    registry: Registry, db: Database, items: list[str]
) -> None:
    definition = changed(status={"type": "string", "enum": ["new", "old"], "default": "old"})
    definition["required"] = ["status"]
    registry.define(definition)
    assert values(registry, db, "item", "status") == dict.fromkeys(items, "old")


def test_add_a_required_field_without_a_default_lists_the_rows(
    registry: Registry, db: Database, items: list[str]
) -> None:
    definition = changed(status={"type": "string"})
    definition["required"] = ["status"]
    error = refused(registry, definition)
    assert [f.field for f in error.faults] == ["properties.status"]
    assert sorted(error.extensions["records"]) == sorted(items)
    assert "status" not in columns(db, "e_item")


def test_add_an_enum_value(registry: Registry, db: Database, items: list[str]) -> None:
    plan = registry.define(changed(size={"type": "string", "enum": ["s", "m", "l"]}))
    assert plan.describe() == ["check stored item.size against the new rules"]
    assert registry.current().types["item"].properties["size"].enum == ("s", "m", "l")
    assert values(registry, db, "item", "size")[items[1]] == "m"


def test_relabel(registry: Registry, db: Database, items: list[str]) -> None:
    definition = changed(name={"type": "string", "maxLength": 50, "x-xrm-label": {"ko": "이름"}})
    definition["x-xrm"]["label"] = {"en": "Article", "ko": "품목"}
    before = registry.current()
    plan = registry.define(definition)
    assert plan.describe() == ["update the definition of type item"]
    after = registry.current()
    assert after.version == before.version + 1
    assert after.types["item"].label["ko"] == "품목"
    assert after.types["item"].properties["name"].label == {"ko": "이름"}
    assert values(registry, db, "item", "name")[items[0]] == "short"


def test_loosen_max_length(registry: Registry, db: Database, items: list[str]) -> None:
    registry.define(changed(name={"type": "string", "maxLength": 500}))
    assert registry.current().types["item"].properties["name"].schema["maxLength"] == 500
    registry.define(changed(name={"type": "string"}))
    assert "maxLength" not in registry.current().types["item"].properties["name"].schema


def test_widen_integer_to_int64(registry: Registry, db: Database, items: list[str]) -> None:
    plan = registry.define(changed(qty={"type": "integer", "format": "int64"}))
    assert plan.describe() == ["convert item.qty from integer to int64"]
    assert values(registry, db, "item", "qty") == {
        items[0]: 7,
        items[1]: 2_000_000_000,
        items[2]: None,
    }
    insert(registry, db, "item", {"name": "big", "qty": 2**62})
    assert 2**62 in values(registry, db, "item", "qty").values()
    [column] = [c for c in sa.inspect(db.engine).get_columns("e_item") if c["name"] == "qty"]
    assert "BIGINT" in str(column["type"]).upper()


def test_widen_integer_to_number(registry: Registry, db: Database, items: list[str]) -> None:
    registry.define(changed(qty={"type": "number"}))
    stored = values(registry, db, "item", "qty")
    assert stored[items[0]] == 7.0
    assert isinstance(stored[items[0]], float)
    assert stored[items[2]] is None


def test_a_conversion_keeps_the_other_columns_and_the_indexes(
    registry: Registry, db: Database, items: list[str]
) -> None:
    definition = changed(qty={"type": "integer", "format": "int64"})
    definition["x-xrm"]["unique"] = [["name"]]
    registry.define(definition)
    assert values(registry, db, "item", "note")[items[0]] == "keep me"
    indexes = sa.inspect(db.engine).get_indexes("e_item")
    assert [(i["column_names"], bool(i["unique"])) for i in indexes] == [(["name"], True)]


def test_normalising_rules_rewrite_stored_values(
    registry: Registry, db: Database, items: list[str]
) -> None:
    insert(registry, db, "item", {"name": "mail", "note": "  Jane@Example.COM "})
    definition = changed(note={"type": "string", "format": "email"})
    with pytest.raises(DefinitionError) as caught:
        registry.define(definition)  # "keep me" is no address
    assert caught.value.extensions["records"] == [items[0]]
    table = registry.current().tables["item"]
    with db.write() as conn:
        conn.execute(table.update().where(table.c.id == items[0]).values(note=None))
    registry.define(definition)
    assert "jane@example.com" in values(registry, db, "item", "note").values()


# --- changes checked against the stored rows -----------------------------------------------------


def test_tighten_max_length_is_refused_with_the_breaking_ids(
    registry: Registry, db: Database, items: list[str]
) -> None:
    error = refused(registry, changed(name={"type": "string", "maxLength": 10}))
    assert error.code == "BAD_DEFINITION"
    assert [f.field for f in error.faults] == ["properties.name"]
    assert "at most 10" in error.faults[0].message
    assert error.extensions["records"] == [items[1]]
    assert stored_definition(db, "item") == BASE
    assert registry.current().types["item"].properties["name"].schema["maxLength"] == 50
    assert values(registry, db, "item", "name")[items[1]] == "a much longer name here"


def test_tighten_max_length_applies_when_every_row_fits(
    registry: Registry, db: Database, items: list[str]
) -> None:
    registry.define(changed(name={"type": "string", "maxLength": 23}))
    assert registry.current().types["item"].properties["name"].schema["maxLength"] == 23


def test_removing_an_enum_value_in_use_is_refused(
    registry: Registry, db: Database, items: list[str]
) -> None:
    error = refused(registry, changed(size={"type": "string", "enum": ["s", "l"]}))
    assert error.extensions["records"] == [items[1]]


def test_make_required_is_refused_while_rows_hold_null(
    registry: Registry, db: Database, items: list[str]
) -> None:
    definition = changed()
    definition["required"] = ["code"]
    error = refused(registry, definition)
    assert [f.field for f in error.faults] == ["properties.code"]
    assert error.extensions["records"] == [items[2]]
    assert "required" not in stored_definition(db, "item")

    table = registry.current().tables["item"]
    with db.write() as conn:
        conn.execute(table.update().where(table.c.id == items[2]).values(code="c"))
    registry.define(definition)
    assert registry.current().types["item"].properties["code"].required


def test_convert_string_to_integer(registry: Registry, db: Database, items: list[str]) -> None:
    # "x-1" does not convert: refused, naming that row.
    error = refused(registry, changed(code={"type": "integer"}))
    assert [f.field for f in error.faults] == ["properties.code"]
    assert error.extensions["records"] == [items[1]]
    assert values(registry, db, "item", "code")[items[1]] == "x-1"
    assert stored_definition(db, "item") == BASE

    table = registry.current().tables["item"]
    with db.write() as conn:
        conn.execute(table.update().where(table.c.id == items[1]).values(code=" 17 "))
    plan = registry.define(changed(code={"type": "integer"}))
    assert plan.describe() == ["convert item.code from string to integer"]
    assert values(registry, db, "item", "code") == {items[0]: 42, items[1]: 17, items[2]: None}
    assert registry.current().types["item"].properties["code"].kind == "integer"


def test_convert_integer_to_string_and_decimal(
    registry: Registry, db: Database, items: list[str]
) -> None:
    registry.define(changed(qty={"type": "string", "format": "decimal"}))
    assert values(registry, db, "item", "qty")[items[1]] == Decimal(2_000_000_000)
    registry.define(changed(qty={"type": "string"}))
    assert values(registry, db, "item", "qty") == {
        items[0]: "7",
        items[1]: "2000000000",
        items[2]: None,
    }


def test_narrowing_int64_to_integer_is_checked(registry: Registry, db: Database) -> None:
    registry.define(changed(qty={"type": "integer", "format": "int64"}))
    small, large = insert(
        registry, db, "item", {"name": "a", "qty": 5}, {"name": "b", "qty": 2**40}
    )
    error = refused(registry, changed())
    assert error.extensions["records"] == [large]
    assert "32 bits" in error.faults[0].message
    table = registry.current().tables["item"]
    with db.write() as conn:
        conn.execute(table.delete().where(table.c.id == large))
    registry.define(changed())
    assert values(registry, db, "item", "qty") == {small: 5}


# --- retiring, restoring, purging ----------------------------------------------------------------


def test_removing_a_field_retires_it_and_defining_it_again_restores_the_data(
    registry: Registry, db: Database, items: list[str]
) -> None:
    plan = registry.define(changed(note=None))
    assert plan.describe() == ["retire item.note (hidden, data kept)"]
    et = registry.current().types["item"]
    assert "note" not in et.properties
    assert "note" in et.retired
    assert "note" in columns(db, "e_item")
    assert values(registry, db, "item", "note")[items[0]] == "keep me"
    [(_path, exported)] = registry.export()
    assert "note" not in exported["properties"]

    # The retired name cannot be reused for something else by accident: it comes back as it was.
    plan = registry.define(changed())
    assert plan.describe() == ["restore retired item.note with its data"]
    et = registry.current().types["item"]
    assert "note" in et.properties and "note" not in et.retired
    assert values(registry, db, "item", "note")[items[0]] == "keep me"


def test_a_retired_field_restored_under_new_rules_is_checked(
    registry: Registry, db: Database, items: list[str]
) -> None:
    registry.define(changed(note=None))
    error = refused(registry, changed(note={"type": "string", "maxLength": 3}))
    assert error.extensions["records"] == [items[0]]
    assert "note" in registry.current().types["item"].retired


def test_purge_needs_confirmation_and_drops_the_column(
    registry: Registry, db: Database, items: list[str]
) -> None:
    registry.define(changed(note=None))
    assert registry.define(changed(note=None)).empty  # retiring twice is nothing
    # A confirmation purges only what its change removes: note is already retired.
    assert registry.define(changed(note=None), confirm_data_loss=True).empty
    assert "note" in columns(db, "e_item")
    registry.define(changed())  # defined again (its data back), then removed with confirmation
    plan = registry.define(changed(note=None), confirm_data_loss=True)
    assert plan.describe() == ["PURGE item.note and its data"]
    assert "note" not in columns(db, "e_item")
    assert "note" not in registry.current().types["item"].retired
    with db.read() as conn:
        actions = conn.execute(
            sa.select(platform.audit.c.action).where(platform.audit.c.entity == "item")
        ).scalars()
        assert "purge" in list(actions)
    # Defining it again now starts empty.
    registry.define(changed())
    assert values(registry, db, "item", "note") == dict.fromkeys(items)


def test_removing_and_purging_in_one_step(
    registry: Registry, db: Database, items: list[str]
) -> None:
    plan = registry.define(changed(note=None, code=None), confirm_data_loss=True)
    assert sorted(plan.describe()) == [
        "PURGE item.code and its data",
        "PURGE item.note and its data",
    ]
    assert not {"note", "code"} & columns(db, "e_item")
    assert values(registry, db, "item", "name")[items[0]] == "short"


def test_removing_a_link_attribute_retires_it_and_defining_it_again_restores_it(
    registry: Registry, db: Database, items: list[str]
) -> None:
    registry.apply([BASE, TAGS])
    links = registry.current().link_tables["item_links"]
    now = dt.datetime.now(dt.UTC)
    with db.write() as conn:
        conn.execute(
            links.insert().values(
                from_id=items[0], to_id=items[1], created_at=now, weight=3, why="spare part"
            )
        )
    smaller = copy.deepcopy(TAGS)
    del smaller["properties"]["why"]
    plan = registry.define(smaller)
    assert plan.describe() == ["retire item_links.why (hidden, data kept)"]
    assert "why" not in registry.current().relationships["item_links"].properties
    assert "why" in {c["name"] for c in sa.inspect(db.engine).get_columns("r_item_links")}
    registry.define(TAGS)  # defined again: the data is back
    with db.read() as conn:
        assert conn.execute(sa.select(links.c.why)).scalar_one() == "spare part"
    registry.define(smaller, confirm_data_loss=True)  # only a purge drops it
    assert "why" not in {c["name"] for c in sa.inspect(db.engine).get_columns("r_item_links")}
    assert registry.current().relationships["item_links"].retired == {}


# --- unique sets ---------------------------------------------------------------------------------


def test_adding_a_unique_set_over_duplicates_is_refused_with_their_ids(
    registry: Registry, db: Database, items: list[str]
) -> None:
    dupes = insert(registry, db, "item", {"name": "short", "code": "y"}, {"name": "short"})
    definition = changed()
    definition["x-xrm"]["unique"] = [["name"]]
    error = refused(registry, definition)
    assert [f.field for f in error.faults] == ["x-xrm.unique.0"]
    assert sorted(error.extensions["records"]) == sorted([items[0], *dupes])
    assert not [i for i in sa.inspect(db.engine).get_indexes("e_item") if i["unique"]]


def test_adding_a_unique_set_creates_a_real_unique_index(
    registry: Registry, db: Database, items: list[str]
) -> None:
    definition = changed()
    definition["x-xrm"]["unique"] = [["code", "size"]]
    plan = registry.define(definition)
    assert plan.describe() == ["add unique index on item(code, size)"]
    indexes = sa.inspect(db.engine).get_indexes("e_item")
    assert [(i["column_names"], bool(i["unique"])) for i in indexes] == [(["code", "size"], True)]
    with pytest.raises(sa.exc.IntegrityError):
        insert(registry, db, "item", {"name": "again", "code": "42", "size": "s"})
    # Nulls never collide.
    insert(registry, db, "item", {"name": "n1"}, {"name": "n2"})

    plan = registry.define(changed())
    assert plan.describe() == ["drop unique index on item(code, size)"]
    assert not sa.inspect(db.engine).get_indexes("e_item")
    insert(registry, db, "item", {"name": "again", "code": "42", "size": "s"})


def test_indexes_are_added_and_dropped_and_serve_deep_pages(
    registry: Registry, db: Database, items: list[str], service: Any, admin: Any, engine_kind: str
) -> None:
    definition = changed()
    definition["x-xrm"]["indexes"] = [["size", "name"]]
    plan = registry.define(definition)
    assert plan.describe() == ["add index on item(size, name)"]
    indexes = sa.inspect(db.engine).get_indexes("e_item")
    assert [(i["column_names"], bool(i["unique"])) for i in indexes] == [
        (["size", "name", "id"], False)
    ]
    insert(registry, db, "item", *({"name": f"n{i:03d}", "size": "m"} for i in range(300)))
    with service.session(admin, write=False) as s:
        order = [{"name": "ASC"}]
        page = s.query("item", filter={"size": {"eq": "m"}}, order_by=order, first=100)
        deeper = s.query(
            "item", filter={"size": {"eq": "m"}}, order_by=order, first=5, after=page.end_cursor
        )
        whole = s.query("item", filter={"size": {"eq": "m"}}, order_by=order, first=500)
        assert [r["id"] for r in deeper.items] == [r["id"] for r in whole.items[100:105]]
        # The database reads the index range after the cursor, not the whole list.
        table = registry.current().tables["item"]
        values = s.compiler.decode_cursor(
            s.compiler.ordering("item", table, order), page.end_cursor
        )
        primary, _ = s.compiler.row_seek(s.compiler.ordering("item", table, order), values)
        query = (
            sa.select(table.c.id)
            .where(table.c.size == "m", primary)
            .order_by(*s.compiler.plain_order_clauses(s.compiler.ordering("item", table, order)))
            .limit(6)
        )
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        explain = "EXPLAIN QUERY PLAN " if engine_kind == "sqlite" else "EXPLAIN "
        if engine_kind == "postgresql":  # a tiny table: ask whether the index CAN serve it
            s.conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            s.conn.exec_driver_sql("SET LOCAL enable_sort = off")
        plan_text = " ".join(
            str(row) for row in s.conn.exec_driver_sql(explain + str(compiled)).all()
        )
    assert "ix_e_item_size_name_id" in plan_text, plan_text
    assert "TEMP B-TREE" not in plan_text and "Sort" not in plan_text, plan_text  # index order
    plan = registry.define(changed())
    assert plan.describe() == ["drop index on item(size, name)"]
    assert not sa.inspect(db.engine).get_indexes("e_item")


def test_first_and_deep_pages_are_read_in_index_order_without_a_sort(
    registry: Registry, db: Database, items: list[str], service: Any, admin: Any, engine_kind: str
) -> None:
    """What the record service really sends, explained: no sort of every matching row."""
    definition = changed()
    definition["x-xrm"]["indexes"] = [["size", "name"]]
    registry.define(definition)
    insert(registry, db, "item", *({"name": f"n{i:03d}", "size": "m"} for i in range(300)))
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM e_item" in statement and "count(" not in statement:
            sent.append((statement, parameters))

    with service.session(admin, write=False) as s:
        event.listen(s.conn, "before_cursor_execute", record)
        for direction in ("ASC", "DESC"):
            order = [{"name": direction}]
            first = s.query("item", filter={"size": {"eq": "m"}}, order_by=order, first=20)
            s.query(
                "item",
                filter={"size": {"eq": "m"}},
                order_by=order,
                first=20,
                after=first.end_cursor,
                with_total=False,
            )
        event.remove(s.conn, "before_cursor_execute", record)
        # Full pages: one statement each; on SQLite a first DESC page reads the (empty) range
        # of null names first, since SQLite's own order puts them last descending.
        assert len(sent) == (5 if engine_kind == "sqlite" else 4), sent
        if engine_kind == "postgresql":  # a tiny table: ask whether the index CAN serve it
            s.conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            s.conn.exec_driver_sql("SET LOCAL enable_sort = off")
        explain = "EXPLAIN QUERY PLAN " if engine_kind == "sqlite" else "EXPLAIN "
        for statement, parameters in sent:
            plan_text = " ".join(
                str(row) for row in s.conn.exec_driver_sql(explain + statement, parameters).all()
            )
            assert "ix_e_item_size_name_id" in plan_text, (statement, plan_text)
            assert "TEMP B-TREE" not in plan_text, (statement, plan_text)
            assert "Sort " not in plan_text and "Sort  " not in plan_text, (statement, plan_text)


def test_an_index_on_a_missing_or_json_property_is_refused(registry: Registry) -> None:
    tags = {"type": "array", "items": {"type": "string"}}
    registry.apply([{**BASE, "properties": {**BASE["properties"], "tags": tags}}])
    definition = changed(tags=tags)
    definition["x-xrm"]["indexes"] = [["nmae"], ["tags"], ["name"], ["name"]]
    error = refused(registry, definition)
    assert [f.field for f in error.faults] == [
        "x-xrm.indexes.0.0",
        "x-xrm.indexes.1.0",
        "x-xrm.indexes.3",
    ]


# --- all or nothing ------------------------------------------------------------------------------


def test_a_failure_halfway_leaves_the_old_definition_and_data(
    registry: Registry, db: Database, items: list[str]
) -> None:
    definition = changed(
        colour={"type": "string"},
        qty={"type": "integer", "format": "int64"},
        name={"type": "string", "maxLength": 5},
    )
    refused(registry, definition)
    assert stored_definition(db, "item") == BASE
    assert "colour" not in columns(db, "e_item")
    et = registry.current().types["item"]
    assert "colour" not in et.properties
    assert et.properties["qty"].kind == "integer"
    assert values(registry, db, "item", "qty")[items[1]] == 2_000_000_000
    assert values(registry, db, "item", "name")[items[1]] == "a much longer name here"


def test_several_definitions_fail_together(
    registry: Registry, db: Database, items: list[str]
) -> None:
    other = {
        "type": "object",
        "x-xrm": {"name": "box", "plural": "boxes"},
        "properties": {"label": {"type": "string"}},
    }
    with pytest.raises(DefinitionError) as caught:
        registry.apply([other, changed(name={"type": "string", "maxLength": 10})])
    assert caught.value.extensions["records"] == [items[1]]
    assert [f.field for f in caught.value.faults] == ["item.properties.name"]
    assert "box" not in registry.current().types
    assert "e_box" not in sa.inspect(db.engine).get_table_names()


def test_a_dry_run_answers_the_blocked_plan_and_changes_nothing(
    registry: Registry, db: Database, items: list[str]
) -> None:
    version = registry.current().version
    blocked = registry.define(changed(name={"type": "string", "maxLength": 10}), dry_run=True)
    assert blocked.blocked
    assert [blocked.blocking_records(i) for i in range(len(blocked.steps))] == [[items[1]]]
    assert "at most 10" in blocked.describe()[0]
    assert registry.current().version == version
    plan = registry.define(changed(qty={"type": "number"}, note=None), dry_run=True)
    assert sorted(plan.describe()) == [
        "convert item.qty from integer to number",
        "retire item.note (hidden, data kept)",
    ]
    assert stored_definition(db, "item") == BASE
    assert values(registry, db, "item", "qty")[items[0]] == 7
    assert isinstance(values(registry, db, "item", "qty")[items[0]], int)


# --- references through changes ------------------------------------------------------------------

BOX: dict[str, Any] = {
    "type": "object",
    "x-xrm": {"name": "box", "plural": "boxes"},
    "properties": {
        "label": {"type": "string"},
        "item": {"type": "string", "x-xrm-ref": {"entity": "item", "inverse": "boxes"}},
    },
}


def foreign_keys(db: Database, table: str) -> list[tuple[str, str]]:
    return sorted(
        (fk["constrained_columns"][0], fk["referred_table"])
        for fk in sa.inspect(db.engine).get_foreign_keys(table)
    )


def test_a_conversion_keeps_foreign_keys_to_and_from_the_table(
    registry: Registry, db: Database, items: list[str]
) -> None:
    parent = {"type": "string", "x-xrm-ref": {"entity": "item", "inverse": "children"}}
    registry.apply([changed(parent=parent), BOX])
    table = registry.current().tables["item"]
    with db.write() as conn:
        conn.execute(table.update().where(table.c.id == items[1]).values(parent_id=items[0]))
    [box] = insert(registry, db, "box", {"label": "b", "item_id": items[0]})

    registry.define(changed(parent=parent, qty={"type": "number"}))
    assert foreign_keys(db, "e_item") == [("parent_id", "e_item")]
    assert foreign_keys(db, "e_box") == [("item_id", "e_item")]
    assert values(registry, db, "item", "parent")[items[1]] == items[0]
    assert values(registry, db, "box", "item")[box] == items[0]
    lookups = {tuple(i["column_names"]) for i in sa.inspect(db.engine).get_indexes("e_item")}
    assert ("parent_id",) in lookups
    with pytest.raises(sa.exc.IntegrityError), db.write() as conn:
        conn.execute(table.update().where(table.c.id == items[2]).values(parent_id=new_id()))


def test_retire_restore_and_purge_a_reference(
    registry: Registry, db: Database, items: list[str]
) -> None:
    registry.apply([BOX])
    [box] = insert(registry, db, "box", {"label": "b", "item_id": items[0]})
    without = copy.deepcopy(BOX)
    del without["properties"]["item"]
    registry.define(without)
    catalog = registry.current()
    assert "item" not in catalog.types["box"].properties
    assert "boxes" not in catalog.inverses["item"]
    registry.define(BOX)
    assert values(registry, db, "box", "item")[box] == items[0]
    assert "boxes" in registry.current().inverses["item"]

    registry.define(without, confirm_data_loss=True)
    assert "item_id" not in columns(db, "e_box")
    assert foreign_keys(db, "e_box") == []
    assert not sa.inspect(db.engine).get_indexes("e_box")
    assert values(registry, db, "box", "label") == {box: "b"}


def test_pointing_a_reference_at_another_type_checks_the_ids(
    registry: Registry, db: Database, items: list[str]
) -> None:
    other = copy.deepcopy(BASE)
    other["x-xrm"] = {"name": "thing", "plural": "things"}
    registry.apply([other, BOX])
    [box] = insert(registry, db, "box", {"label": "b", "item_id": items[0]})
    moved = copy.deepcopy(BOX)
    moved["properties"]["item"]["x-xrm-ref"] = {"entity": "thing"}
    with pytest.raises(DefinitionError) as caught:
        registry.define(moved)
    assert caught.value.extensions["records"] == [box]
    assert [f.field for f in caught.value.faults] == ["properties.item.x-xrm-ref.entity"]

    table = registry.current().tables["box"]
    with db.write() as conn:
        conn.execute(table.update().values(item_id=None))
    registry.define(moved)
    assert foreign_keys(db, "e_box") == [("item_id", "e_thing")]
    [thing] = insert(registry, db, "thing", {"name": "t"})
    with db.write() as conn:
        conn.execute(table.update().values(item_id=thing))
    with pytest.raises(sa.exc.IntegrityError), db.write() as conn:
        conn.execute(table.update().values(item_id=items[0]))


def test_changing_the_ends_of_a_relationship_needs_confirmation(
    registry: Registry, db: Database, items: list[str]
) -> None:
    registry.apply([BOX, TAGS])
    moved = {**TAGS, "to": "box", "toField": "items_linked"}
    with pytest.raises(ConfirmationRequired):
        registry.define(moved)
    assert foreign_keys(db, "r_item_links") == [("from_id", "e_item"), ("to_id", "e_item")]
    registry.define(moved, confirm_data_loss=True)
    assert foreign_keys(db, "r_item_links") == [("from_id", "e_item"), ("to_id", "e_box")]
    assert registry.current().relationships["item_links"].to_entity == "box"


def test_adding_and_checking_link_attributes(registry: Registry, db: Database) -> None:
    registry.apply([BASE, TAGS])
    a, b = insert(registry, db, "item", {"name": "a"}, {"name": "b"})
    links = registry.current().link_tables["item_links"]
    with db.write() as conn:
        conn.execute(
            links.insert().values(
                from_id=a, to_id=b, created_at=dt.datetime.now(dt.UTC), weight=5, why="long reason"
            )
        )
    grown = copy.deepcopy(TAGS)
    grown["properties"]["since"] = {"type": "string", "format": "date"}
    assert registry.define(grown).describe() == ["add item_links.since (date)"]
    assert "since" in {c["name"] for c in sa.inspect(db.engine).get_columns("r_item_links")}

    tight = copy.deepcopy(grown)
    tight["properties"]["why"] = {"type": "string", "maxLength": 3}
    with pytest.raises(DefinitionError) as caught:
        registry.define(tight)
    assert caught.value.extensions["records"] == [a]

    retyped = copy.deepcopy(grown)
    retyped["properties"]["weight"] = {"type": "string"}
    with pytest.raises(DefinitionError) as caught:
        registry.define(retyped)
    assert [f.field for f in caught.value.faults] == ["properties.weight"]


def test_a_reference_cannot_become_a_plain_property(
    registry: Registry, db: Database, items: list[str]
) -> None:
    registry.apply([BOX])
    plain = copy.deepcopy(BOX)
    plain["properties"]["item"] = {"type": "string"}
    with pytest.raises(DefinitionError) as caught:
        registry.define(plain)
    assert [f.field for f in caught.value.faults] == ["properties.item"]
    with pytest.raises(DefinitionError):
        registry.define(changed(code={"type": "string", "x-xrm-ref": {"entity": "box"}}))
    assert "item_id" in columns(db, "e_box")
    assert registry.current().types["item"].properties["code"].ref is None
