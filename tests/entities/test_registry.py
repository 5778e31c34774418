"""The registry: definitions become real tables, applies are idempotent, every process agrees."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import TestDatabase

from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.errors import DefinitionError
from xrm.platform import tables as platform
from xrm.platform.db import Database
from xrm.platform.ids import new_id
from xrm.platform.migrate import upgrade
from xrm.platform.settings import Settings

SYSTEM_COLUMNS = {
    "id",
    "version",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "owner_id",
}

WIDGET: dict[str, Any] = {
    "type": "object",
    "x-xrm": {"name": "widget", "plural": "widgets", "unique": [["code"], ["maker", "model"]]},
    "properties": {
        "code": {"type": "string"},
        "model": {"type": "string"},
        "maker": {"type": "string", "x-xrm-ref": {"entity": "maker", "inverse": "widgets"}},
        "price": {"type": "string", "format": "decimal"},
        "count": {"type": "integer"},
        "big": {"type": "integer", "format": "int64"},
        "weight": {"type": "number"},
        "made": {"type": "string", "format": "date"},
        "seen_at": {"type": "string", "format": "date-time"},
        "ok": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": "object"},
    },
}
MAKER: dict[str, Any] = {
    "type": "object",
    "x-xrm": {"name": "maker", "plural": "makers"},
    "properties": {"name": {"type": "string"}},
}
PARTS: dict[str, Any] = {
    "relationship": "widget_parts",
    "from": "widget",
    "to": "widget",
    "fromField": "parts",
    "toField": "used_in",
    "properties": {"quantity": {"type": "integer", "minimum": 1}},
}


def inspector(db: Database) -> sa.Inspector:
    return sa.inspect(db.engine)


def table_names(db: Database) -> set[str]:
    return {n for n in inspector(db).get_table_names() if n.startswith(("e_", "r_"))}


def stored_version(db: Database) -> int:
    with db.read() as conn:
        value = conn.execute(
            sa.select(platform.state.c.value).where(platform.state.c.key == "schema_version")
        ).scalar_one_or_none()
    return int(value or 0)


def test_apply_creates_typed_tables_with_foreign_keys_and_indexes(
    registry: Registry, db: Database, engine_kind: str
) -> None:
    plan = registry.apply([WIDGET, MAKER])
    assert sorted(plan.describe()) == ["create type maker", "create type widget"]
    assert table_names(db) == {"e_widget", "e_maker"}
    insp = inspector(db)

    columns = {c["name"]: c for c in insp.get_columns("e_widget")}
    assert set(columns) == SYSTEM_COLUMNS | {
        "code",
        "model",
        "maker_id",
        "price",
        "count",
        "big",
        "weight",
        "made",
        "seen_at",
        "ok",
        "tags",
        "extra",
    }
    assert all(columns[c]["nullable"] for c in ("code", "maker_id", "price"))
    assert not columns["id"]["nullable"]
    assert insp.get_pk_constraint("e_widget")["constrained_columns"] == ["id"]
    types = {name: type(c["type"]).__name__.upper() for name, c in columns.items()}
    assert "INT" in types["count"] and "BIGINT" in types["big"]
    assert "DATE" in types["made"]
    if engine_kind == "postgresql":
        assert types["price"] == "NUMERIC"
        assert types["seen_at"] == "TIMESTAMP"
        assert columns["seen_at"]["type"].timezone
        assert types["id"] == "UUID"
        assert types["tags"] in ("JSON", "JSONB")

    [fk] = insp.get_foreign_keys("e_widget")
    assert fk["constrained_columns"] == ["maker_id"]
    assert (fk["referred_table"], fk["referred_columns"]) == ("e_maker", ["id"])

    indexes = {tuple(i["column_names"]): bool(i["unique"]) for i in insp.get_indexes("e_widget")}
    assert indexes[("code",)] is True
    assert indexes[("maker_id", "model")] is True
    assert indexes[("maker_id",)] is False  # the lookup index of the reference

    catalog = registry.current()
    assert set(catalog.types) == {"widget", "maker"}
    assert catalog.types["widget"].properties["maker"].ref is not None
    assert catalog.tables["widget"].name == "e_widget"
    assert "widgets" in catalog.inverses["maker"]


def test_the_unique_index_is_enforced_by_the_database(registry: Registry, db: Database) -> None:
    registry.apply([WIDGET, MAKER])
    table = registry.current().tables["widget"]
    now = sa.func.now()
    row = {"version": 1, "created_at": now, "updated_at": now, "code": "W-1"}
    with db.write() as conn:
        conn.execute(table.insert().values(id=new_id(), **row))
    with pytest.raises(sa.exc.IntegrityError), db.write() as conn:
        conn.execute(table.insert().values(id=new_id(), **row))


def test_relationships_create_link_tables(registry: Registry, db: Database) -> None:
    plan = registry.apply([WIDGET, MAKER, PARTS])
    assert "create relationship widget_parts" in plan.describe()
    insp = inspector(db)
    assert "r_widget_parts" in table_names(db)
    columns = {c["name"] for c in insp.get_columns("r_widget_parts")}
    assert columns == {"from_id", "to_id", "created_at", "created_by", "quantity"}
    assert set(insp.get_pk_constraint("r_widget_parts")["constrained_columns"]) == {
        "from_id",
        "to_id",
    }
    fks = {tuple(fk["constrained_columns"]): fk for fk in insp.get_foreign_keys("r_widget_parts")}
    assert set(fks) == {("from_id",), ("to_id",)}
    assert all(fk["referred_table"] == "e_widget" for fk in fks.values())
    assert all(fk["options"].get("ondelete") == "CASCADE" for fk in fks.values())
    catalog = registry.current()
    assert set(catalog.links["widget"]) == {"parts", "used_in"}
    assert catalog.link_tables["widget_parts"].name == "r_widget_parts"


def test_a_relationship_can_be_added_later_and_between_types(
    registry: Registry, db: Database
) -> None:
    registry.apply([WIDGET, MAKER])
    plan = registry.define(
        {
            "relationship": "suppliers",
            "from": "maker",
            "to": "widget",
            "fromField": "supplied",
            "toField": "suppliers",
        }
    )
    assert plan.describe() == ["create relationship suppliers"]
    fks = inspector(db).get_foreign_keys("r_suppliers")
    assert {fk["referred_table"] for fk in fks} == {"e_maker", "e_widget"}


def test_the_built_in_catalog_applies(registry: Registry, db: Database) -> None:
    raw = definitions()
    plan = registry.apply(raw)
    tables = table_names(db)
    assert {f"e_{n}" for n in ("customer", "contact", "partner", "contract", "asset")} <= tables
    assert {"e_grievance", "e_task", "r_contract_assets"} <= tables
    assert len([s for s in plan.steps if s.action == "create_table"]) == len(raw)
    fks = inspector(db).get_foreign_keys("e_contact")
    assert ("e_customer", ["customer_id"]) in [
        (fk["referred_table"], fk["constrained_columns"]) for fk in fks
    ]


def test_reapplying_the_same_definitions_is_an_empty_plan(registry: Registry, db: Database) -> None:
    registry.apply(definitions())
    version = registry.current().version
    again = registry.apply(definitions())
    assert again.empty
    assert again.describe() == []
    assert registry.current().version == version == stored_version(db)


def test_a_relabel_is_a_new_version_without_ddl(registry: Registry, db: Database) -> None:
    registry.apply([MAKER])
    before = registry.current()
    relabelled = copy.deepcopy(MAKER)
    relabelled["x-xrm"]["label"] = {"en": "Manufacturer", "ko": "제조사"}
    plan = registry.define(relabelled)
    assert plan.describe() == ["update the definition of type maker"]
    after = registry.current()
    assert after.version == before.version + 1
    assert after.types["maker"].version == before.types["maker"].version + 1
    assert after.types["maker"].label["ko"] == "제조사"


def test_dry_run_changes_nothing(registry: Registry, db: Database) -> None:
    plan = registry.apply([WIDGET, MAKER, PARTS], dry_run=True)
    assert sorted(plan.describe()) == [
        "create relationship widget_parts",
        "create type maker",
        "create type widget",
    ]
    assert table_names(db) == set()
    assert stored_version(db) == 0
    assert registry.current().types == {}
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(platform.audit)).scalar() == 0
    # The real run then does exactly what the dry run announced.
    assert registry.apply([WIDGET, MAKER, PARTS]).describe() == plan.describe()


def test_dry_run_of_a_change_to_an_existing_type(registry: Registry, db: Database) -> None:
    registry.apply([MAKER])
    changed = copy.deepcopy(MAKER)
    changed["properties"]["country"] = {"type": "string"}
    plan = registry.define(changed, dry_run=True)
    assert plan.describe() == ["add maker.country (string)"]
    assert "country" not in {c["name"] for c in inspector(db).get_columns("e_maker")}
    assert "country" not in registry.current().types["maker"].properties
    assert stored_version(db) == 1


def test_export_then_apply_is_an_empty_plan(registry: Registry) -> None:
    registry.apply(definitions())
    exported = registry.export()
    paths = [path for path, _ in exported]
    assert "customer/definition.json" in paths
    assert "relationships/contract_assets.json" in paths
    assert registry.apply([d for _, d in exported]).empty
    by_name = {d.get("relationship") or d["x-xrm"]["name"]: d for d in definitions()}
    for _path, definition in exported:
        name = definition.get("relationship") or definition["x-xrm"]["name"]
        assert definition == by_name[name]


def test_export_applies_to_a_fresh_database(
    registry: Registry, empty_database: TestDatabase
) -> None:
    registry.apply([WIDGET, MAKER, PARTS])
    other_settings = empty_database.settings()
    exported = [d for _, d in registry.export()]
    other_db = Database(other_settings)
    try:
        upgrade(other_db)
        other = Registry(other_db, other_settings)
        assert len(other.apply(exported).steps) == 3
        assert other.apply(exported).empty
        assert other.export() == registry.export()
        assert table_names(other_db) == {"e_widget", "e_maker", "r_widget_parts"}
    finally:
        other_db.dispose()


def test_a_second_registry_sees_changes_made_by_the_first(
    registry: Registry, db: Database, settings: Settings
) -> None:
    other_db = Database(settings)  # another process: its own engine and its own cache
    try:
        other = Registry(other_db, settings)
        assert other.current().types == {}
        registry.apply([MAKER])
        seen = other.current()
        assert set(seen.types) == {"maker"}
        assert seen.version == registry.current().version == 1

        changed = copy.deepcopy(MAKER)
        changed["properties"]["country"] = {"type": "string"}
        other.define(changed)  # the other process changes it back the other way
        mine = registry.current()
        assert mine.version == 2
        assert "country" in mine.types["maker"].properties
        assert "country" in {c.name for c in mine.tables["maker"].columns}
        assert registry.current() is mine  # cached while nothing changes
    finally:
        other_db.dispose()


def test_definition_changes_are_audited(registry: Registry, db: Database) -> None:
    registry.apply([WIDGET, MAKER])
    with db.read() as conn:
        rows = conn.execute(
            sa.select(platform.audit.c.action, platform.audit.c.entity, platform.audit.c.changes)
        ).all()
    assert sorted((r.action, r.entity) for r in rows) == [("define", "maker"), ("define", "widget")]
    changes = {r.entity: r.changes for r in rows}
    assert changes["widget"]["steps"] == ["create type widget"]
    assert changes["widget"]["kind"] == "entity_type"


def test_a_refused_apply_stores_nothing(registry: Registry, db: Database) -> None:
    broken = copy.deepcopy(WIDGET)
    broken["properties"]["Price"] = {"type": "string"}
    with pytest.raises(DefinitionError) as caught:
        registry.apply([MAKER, broken])
    assert [f.field for f in caught.value.faults] == ["widget.properties.Price"]
    assert table_names(db) == set()
    assert stored_version(db) == 0


def test_references_are_checked_against_stored_types(registry: Registry) -> None:
    with pytest.raises(DefinitionError) as caught:
        registry.define(WIDGET)  # maker is not defined yet
    assert [(f.field, f.message) for f in caught.value.faults] == [
        ("properties.maker.x-xrm-ref.entity", "no entity type named 'maker'")
    ]
    registry.define(MAKER)
    assert registry.define(WIDGET).describe() == ["create type widget"]


def test_a_plural_taken_by_a_stored_type_is_refused_on_the_new_one(registry: Registry) -> None:
    registry.apply([WIDGET, MAKER])
    clash = copy.deepcopy(MAKER)
    clash["x-xrm"]["plural"] = "widget"
    with pytest.raises(DefinitionError) as caught:
        registry.define(clash)
    assert [(f.field, f.message) for f in caught.value.faults] == [
        ("x-xrm.plural", "'widget' is already used by type 'widget'")
    ]


def test_a_cycle_is_reported_inside_the_definition_that_closes_it(registry: Registry) -> None:
    hen = {
        "type": "object",
        "x-xrm": {"name": "hen", "plural": "hens"},
        "properties": {"egg": {"type": "string", "x-xrm-ref": {"entity": "egg"}}},
    }
    egg = {
        "type": "object",
        "x-xrm": {"name": "egg", "plural": "eggs"},
        "properties": {"hen": {"type": "string", "x-xrm-ref": {"entity": "hen"}}},
        "required": ["hen"],
    }
    registry.apply([hen, egg])
    hen_required = {**hen, "required": ["egg"]}
    with pytest.raises(DefinitionError) as caught:
        registry.define(hen_required)
    [only] = caught.value.faults
    assert only.field == "properties.egg"
    assert "cycle" in only.message


def test_longest_names_work_on_the_database(registry: Registry, db: Database) -> None:
    name, target = "n" * 40, "t" * 40
    ref_name, text_name = "r" * 40, "q" * 40
    registry.apply(
        [
            {
                "type": "object",
                "x-xrm": {"name": target, "plural": target[:39] + "s"},
                "properties": {"label": {"type": "string"}},
            },
            {
                "type": "object",
                "x-xrm": {
                    "name": name,
                    "plural": name[:39] + "s",
                    "unique": [[ref_name, text_name]],
                },
                "properties": {
                    ref_name: {"type": "string", "x-xrm-ref": {"entity": target}},
                    text_name: {"type": "string"},
                },
            },
            {
                "relationship": "l" * 40,
                "from": name,
                "to": target,
                "fromField": "f" * 40,
                "toField": "g" * 40,
            },
        ]
    )
    insp = inspector(db)
    assert {f"e_{name}", f"e_{target}", "r_" + "l" * 40} <= table_names(db)
    assert f"{ref_name}_id" in {c["name"] for c in insp.get_columns(f"e_{name}")}
    indexes = {tuple(i["column_names"]): i for i in insp.get_indexes(f"e_{name}")}
    assert indexes[(f"{ref_name}_id", text_name)]["unique"]
    assert all(len(i["name"]) <= 63 for i in indexes.values())


def test_two_types_may_trade_plurals_in_one_apply(registry: Registry) -> None:
    def named(name: str, plural: str) -> dict[str, Any]:
        return {**copy.deepcopy(MAKER), "x-xrm": {"name": name, "plural": plural}}

    registry.apply([named("left", "lefts"), named("right", "rights")])
    registry.apply([named("left", "rights"), named("right", "lefts")])
    types = registry.current().types
    assert (types["left"].plural, types["right"].plural) == ("rights", "lefts")


def test_apply_refuses_bad_input_shapes(registry: Registry) -> None:
    assert registry.apply([]).empty
    with pytest.raises(DefinitionError) as caught:
        registry.apply([MAKER, {**MAKER, "title": "again"}])
    assert [(f.field, f.message) for f in caught.value.faults] == [
        ("maker.x-xrm.name", "defined twice")
    ]
    with pytest.raises(DefinitionError) as caught:
        registry.apply([MAKER, 5])  # type: ignore[list-item]
    assert [(f.field, f.message) for f in caught.value.faults] == [
        ("definitions.1", "a definition is a JSON object")
    ]
    assert registry.current().types == {}


def test_the_display_field_is_indexed_and_moving_it_moves_the_index(
    registry: Registry, db: Database
) -> None:
    """Lists and pickers order by the display field: a page of 50 from 100k records must not
    sort them all. A database made before the index was derived lacks it; changing the
    display field there still applies (the old index is dropped only if it exists)."""
    maker = copy.deepcopy(MAKER)
    maker["properties"]["code"] = {"type": "string"}
    maker["x-xrm"]["display"] = "name"
    registry.apply([maker])

    def indexed() -> set[tuple[str, ...]]:
        return {tuple(i["column_names"]) for i in inspector(db).get_indexes("e_maker")}

    assert ("name", "id") in indexed()
    with db.write() as conn:  # as a database made before this release has it
        conn.execute(sa.text(f"DROP INDEX {_index_named(db, ('name', 'id'))}"))
    moved = copy.deepcopy(maker)
    moved["x-xrm"]["display"] = "code"
    registry.apply([moved])
    assert ("code", "id") in indexed() and ("name", "id") not in indexed()


def _index_named(db: Database, columns: tuple[str, ...]) -> str:
    found = [i for i in inspector(db).get_indexes("e_maker") if tuple(i["column_names"]) == columns]
    name = str(found[0]["name"])
    schema = db.settings.database_schema
    return f'"{schema}"."{name}"' if schema else f'"{name}"'
