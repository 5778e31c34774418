"""Parsing definitions: every refusal names its JSON path; good definitions come through intact."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from xrm.entities.catalog import definitions
from xrm.errors import DefinitionError
from xrm.schemas.naming import MAX_SQL_IDENTIFIER, constraint_name
from xrm.schemas.parse import (
    check_catalog,
    inverse_fields,
    link_fields,
    parse_entity_type,
    parse_relationship,
)
from xrm.schemas.tables import entity_table, relationship_table


def entity(
    name: str = "thing",
    plural: str | None = None,
    properties: Mapping[str, Any] | None = None,
    required: list[str] | None = None,
    **xrm: Any,
) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "type": "object",
        "x-xrm": {"name": name, "plural": plural or f"{name}s", **xrm},
        "properties": dict(properties) if properties is not None else {"title": {"type": "string"}},
    }
    if required is not None:
        definition["required"] = required
    return definition


def ref(target: str, inverse: str | None = None, **options: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"entity": target, **options}
    if inverse is not None:
        spec["inverse"] = inverse
    return {"type": "string", "x-xrm-ref": spec}


def relationship(name: str, source: str, target: str, from_field: str, to_field: str, **extra: Any):
    return {
        "relationship": name,
        "from": source,
        "to": target,
        "fromField": from_field,
        "toField": to_field,
        **extra,
    }


def faults_of(definition: Any) -> dict[str, str]:
    """The faults of a refused entity type, as {path: message}."""
    with pytest.raises(DefinitionError) as caught:
        parse_entity_type(definition)
    assert caught.value.code == "BAD_DEFINITION"
    return {f.field: f.message for f in caught.value.faults}


def catalog_faults(
    types: Iterable[dict[str, Any]],
    relationships: Iterable[dict[str, Any]] = (),
    focus: Iterable[str] = (),
) -> dict[str, str]:
    parsed = {et.name: et for et in map(parse_entity_type, types)}
    rels = {r.name: r for r in map(parse_relationship, relationships)}
    with pytest.raises(DefinitionError) as caught:
        check_catalog(parsed, rels, focus=focus)
    return {f.field: f.message for f in caught.value.faults}


def check(types: Iterable[dict[str, Any]], relationships: Iterable[dict[str, Any]] = ()) -> None:
    parsed = {et.name: et for et in map(parse_entity_type, types)}
    rels = {r.name: r for r in map(parse_relationship, relationships)}
    check_catalog(parsed, rels)


# --- the meta-schema: unknown keywords and shapes ----------------------------------------------


def test_unknown_keyword_in_a_property_is_refused_at_its_path() -> None:
    faults = faults_of(entity(properties={"title": {"type": "string", "maxLen": 5}}))
    assert faults == {"properties.title.maxLen": "unknown keyword 'maxLen'"}


def test_unknown_top_level_keyword_is_refused_at_its_path() -> None:
    faults = faults_of({**entity(), "indexes": []})
    assert faults == {"indexes": "unknown keyword 'indexes'"}


def test_unknown_keyword_in_the_xrm_block_and_in_a_reference() -> None:
    definition = entity(
        properties={"owner_org": {"type": "string", "x-xrm-ref": {"entity": "org", "cascade": 1}}},
        colour="red",
    )
    faults = faults_of(definition)
    assert faults == {
        "x-xrm.colour": "unknown keyword 'colour'",
        "properties.owner_org.x-xrm-ref.cascade": "unknown keyword 'cascade'",
    }


def test_unknown_type_is_refused_at_the_type_keyword() -> None:
    faults = faults_of(entity(properties={"price": {"type": "money"}}))
    assert list(faults) == ["properties.price.type"]
    assert "'money' is not one of" in faults["properties.price.type"]


def test_a_definition_that_is_not_an_object_is_refused() -> None:
    assert "is not of type 'object'" in faults_of([1, 2])[""]


def test_missing_blocks_are_named() -> None:
    faults = faults_of({"type": "object", "x-xrm": {"name": "thing"}, "properties": {}})
    assert faults == {"x-xrm": "'plural' is a required property"}


def test_keywords_that_do_not_fit_the_type() -> None:
    faults = faults_of(
        entity(
            properties={
                "count": {"type": "integer", "format": "email", "maxLength": 3},
                "code": {"type": "string", "enum": ["a"], "format": "uri"},
                "flags": {"type": "array"},
                "name": {"type": "string", "minimum": 1, "pattern": "(["},
                "size": {"type": "integer", "minimum": 10, "maximum": 1},
            }
        )
    )
    assert set(faults) == {
        "properties.count.format",
        "properties.count.maxLength",
        "properties.code.enum",
        "properties.flags.items",
        "properties.name.minimum",
        "properties.name.pattern",
        "properties.size.minimum",
    }
    assert "not a valid regular expression" in faults["properties.name.pattern"]


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("CustomerName", "not a lower snake_case"),
        ("customer__name", "not a lower snake_case"),
        ("1st_name", "not a lower snake_case"),
        ("name_", "not a lower snake_case"),
        ("이름", "not a lower snake_case"),
        ("a" * 41, "longer than 40 characters"),
    ],
)
def test_bad_property_names(name: str, problem: str) -> None:
    faults = faults_of(entity(properties={name: {"type": "string"}}))
    assert list(faults) == [f"properties.{name}"]
    assert problem in faults[f"properties.{name}"]


@pytest.mark.parametrize("name", ["Customer", "customer-type", "9lives", "x" * 41])
def test_bad_type_names(name: str) -> None:
    faults = faults_of(entity(name, "things"))
    assert list(faults) == ["x-xrm.name"]


def test_bad_plural_is_refused_at_plural() -> None:
    assert list(faults_of(entity("thing", "Things"))) == ["x-xrm.plural"]


def test_forty_characters_is_the_longest_name() -> None:
    name = "a" * 40
    et = parse_entity_type(entity(name, "b" * 40, properties={"c" * 40: {"type": "string"}}))
    assert et.name == name


@pytest.mark.parametrize(
    "name",
    [
        "id",
        "version",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "owner",
        "history",
        "owner_id",
    ],
)
def test_reserved_property_names(name: str) -> None:
    faults = faults_of(entity(properties={name: {"type": "string"}}))
    assert list(faults) == [f"properties.{name}"]
    assert "reserved" in faults[f"properties.{name}"]


def test_the_id_column_of_a_reference_is_reserved() -> None:
    faults = faults_of(
        entity(properties={"partner": ref("partner"), "partner_id": {"type": "string"}})
    )
    assert faults == {"properties.partner_id": "'partner_id' is reserved for reference 'partner'"}


def test_a_plain_property_ending_in_id_is_fine_without_a_reference() -> None:
    et = parse_entity_type(entity(properties={"tax_id": {"type": "string"}}))
    assert et.properties["tax_id"].column == "tax_id"


@pytest.mark.parametrize(
    "name", ["user", "role", "workflow", "entity_type", "relationship", "audit", "job"]
)
def test_reserved_type_names(name: str) -> None:
    faults = faults_of(entity(name, f"{name}_list"))
    assert faults == {"x-xrm.name": f"{name!r} is a reserved type name"}


def test_a_reserved_word_as_plural_is_refused_too() -> None:
    assert faults_of(entity("person", "user")) == {"x-xrm.plural": "'user' is a reserved type name"}


def test_plural_must_differ_from_name() -> None:
    assert faults_of(entity("sheep", "sheep")) == {"x-xrm.plural": "plural must differ from name"}


def test_required_names_must_be_properties_and_display_too() -> None:
    faults = faults_of(entity(required=["title", "nope"], display="missing"))
    assert faults == {
        "required.1": "'nope' is required but not a property",
        "x-xrm.display": "display names 'missing', which is not a property",
    }


def test_unique_sets_name_properties_of_scalar_kinds() -> None:
    faults = faults_of(
        entity(
            properties={
                "code": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            unique=[["code", "nope"], ["tags"]],
        )
    )
    assert faults == {
        "x-xrm.unique.0.1": "'nope' is not a property",
        "x-xrm.unique.1.0": "'tags' is an array or object",
    }


def test_set_null_needs_an_optional_reference() -> None:
    faults = faults_of(
        entity(properties={"org": ref("org", onDelete="set_null")}, required=["org"])
    )
    assert faults == {"properties.org.x-xrm-ref.onDelete": "set_null needs an optional reference"}


def test_a_reference_is_a_plain_string() -> None:
    faults = faults_of(
        entity(properties={"org": {"type": "integer", "x-xrm-ref": {"entity": "org"}}})
    )
    assert list(faults) == ["properties.org.type"]


def test_bad_inverse_name() -> None:
    faults = faults_of(entity(properties={"org": ref("org", "Things")}))
    assert list(faults) == ["properties.org.x-xrm-ref.inverse"]


def test_several_faults_are_reported_at_once() -> None:
    definition = {
        **entity(
            "Thing",
            "things",
            properties={
                "title": {"type": "string", "maxLen": 3},
                "Bad": {"type": "string"},
                "id": {"type": "string"},
                "count": {"type": "integer", "maxLength": 3},
            },
            required=["ghost"],
            display="nowhere",
        ),
        "extra": True,
    }
    faults = faults_of(definition)
    assert set(faults) == {
        "extra",
        "properties.title.maxLen",
        "x-xrm.name",
        "properties.Bad",
        "properties.id",
        "properties.count.maxLength",
        "required.0",
        "x-xrm.display",
    }


# --- rules across types ---------------------------------------------------------------------------


def test_a_name_already_used_as_another_types_plural() -> None:
    faults = catalog_faults(
        [entity("item", "items"), entity("items", "item_sets")], focus=["items"]
    )
    assert faults == {"x-xrm.name": "'items' is already used by type 'item'"}


def test_a_plural_already_used_by_another_type() -> None:
    faults = catalog_faults(
        [entity("person", "people"), entity("human", "people")], focus=["human"]
    )
    assert faults == {"x-xrm.plural": "'people' is already used by type 'person'"}


def test_the_fault_falls_on_the_type_being_changed_whatever_the_order() -> None:
    faults = catalog_faults(
        [entity("person", "people"), entity("human", "humans"), entity("folk", "person")],
        focus=["person"],
    )
    assert faults == {"x-xrm.name": "'person' is already used by type 'folk'"}


def test_reference_to_a_missing_type() -> None:
    faults = catalog_faults([entity(properties={"org": ref("org")})])
    assert faults == {"properties.org.x-xrm-ref.entity": "no entity type named 'org'"}


def test_a_reference_to_user_is_allowed_without_an_inverse() -> None:
    check([entity(properties={"assignee": ref("user")})])
    faults = catalog_faults([entity(properties={"assignee": ref("user", "things")})])
    assert list(faults) == ["properties.assignee.x-xrm-ref.inverse"]


def test_inverse_colliding_with_a_property_of_the_target() -> None:
    faults = catalog_faults(
        [
            entity("order", properties={"customer": ref("customer", "notes")}),
            entity("customer", properties={"notes": {"type": "string"}}),
        ],
        focus=["order"],
    )
    assert faults == {
        "properties.customer.x-xrm-ref.inverse": "'notes' on 'customer' is already a property"
    }


def test_inverse_colliding_with_a_reserved_name() -> None:
    faults = catalog_faults(
        [entity("order", properties={"customer": ref("customer", "history")}), entity("customer")]
    )
    assert faults == {
        "properties.customer.x-xrm-ref.inverse": "'history' on 'customer' becomes the GraphQL "
        "field 'history', which is the API's own (a system field); choose another name"
    }


def test_two_references_with_the_same_inverse() -> None:
    faults = catalog_faults(
        [
            entity("order", properties={"buyer": ref("customer", "orders")}),
            entity("invoice", properties={"payer": ref("customer", "orders")}),
            entity("customer"),
        ]
    )
    assert list(faults) == ["properties.payer.x-xrm-ref.inverse"]
    assert "already the inverse of order.buyer" in faults["properties.payer.x-xrm-ref.inverse"]


def test_link_field_colliding_with_a_property() -> None:
    faults = catalog_faults(
        [entity("contract"), entity("asset", properties={"contracts": {"type": "string"}})],
        [relationship("contract_assets", "contract", "asset", "assets", "contracts")],
        focus=["contract_assets"],
    )
    assert faults == {"toField": "'contracts' on 'asset' is already a property"}


def test_relationship_to_a_missing_type() -> None:
    faults = catalog_faults(
        [entity("contract")], [relationship("ca", "contract", "asset", "assets", "contracts")]
    )
    assert faults == {"to": "no entity type named 'asset'"}


def test_relationship_faults_by_path() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_relationship(
            relationship(
                "Links",
                "a",
                "a",
                "peers",
                "peers",
                weight={"x": 1},
                properties={"from_id": {"type": "string"}, "at": ref("a")},
            )
        )
    faults = {f.field: f.message for f in caught.value.faults}
    assert faults == {
        "weight": "unknown keyword 'weight'",
        "relationship": faults["relationship"],
        "properties.at.x-xrm-ref": "relationship attributes cannot be references",
        "properties.from_id": "'from_id' is reserved in relationships",
    }
    with pytest.raises(DefinitionError) as caught:
        parse_relationship(relationship("links", "a", "a", "peers", "peers"))
    assert [f.field for f in caught.value.faults] == ["toField"]


def test_required_references_in_a_cycle() -> None:
    faults = catalog_faults(
        [
            entity("egg", properties={"hen": ref("hen")}, required=["hen"]),
            entity("hen", properties={"egg": ref("egg")}, required=["egg"]),
        ],
        focus=["hen"],
    )
    assert faults == {"properties.egg": "required references form a cycle: egg.hen -> hen.egg"}


def test_a_required_self_reference_is_a_cycle_an_optional_one_is_fine() -> None:
    faults = catalog_faults([entity("node", properties={"up": ref("node")}, required=["up"])])
    assert faults == {"properties.up": "required references form a cycle: node.up"}
    check([entity("node", properties={"parent": ref("node", "children")})])


def test_a_cycle_with_one_optional_link_is_fine() -> None:
    check(
        [
            entity("egg", properties={"hen": ref("hen")}, required=["hen"]),
            entity("hen", properties={"egg": ref("egg")}),
        ]
    )


def test_several_definitions_prefix_their_paths_with_their_names() -> None:
    faults = catalog_faults(
        [entity("order", properties={"customer": ref("client")}), entity("customer")],
        [relationship("order_items", "order", "item", "items", "orders")],
        focus=["order", "customer", "order_items"],
    )
    assert faults == {
        "order.properties.customer.x-xrm-ref.entity": "no entity type named 'client'",
        "order_items.to": "no entity type named 'item'",
    }


# --- accepted definitions ------------------------------------------------------------------------


def test_the_built_in_catalog_is_accepted() -> None:
    raw = definitions()
    types = {et.name: et for et in (parse_entity_type(d) for d in raw if "x-xrm" in d)}
    rels = {r.name: r for r in (parse_relationship(d) for d in raw if "relationship" in d)}
    check_catalog(types, rels, focus=[*types, *rels])
    assert {
        "customer",
        "contact",
        "partner",
        "contract",
        "asset",
        "grievance",
        "task",
    } <= set(types)
    assert {et.plural for et in types.values()} >= {"customers", "contacts", "tasks"}
    customer = types["customer"]
    assert [p for p, prop in customer.properties.items() if prop.required] == ["name"]
    assert customer.properties["partner"].column == "partner_id"
    assert customer.properties["revenue"].kind == "decimal"
    assert customer.unique == (("email",),)
    assert customer.label["ko"] == "고객"
    assert "contacts" in inverse_fields(types)["customer"]
    assert set(link_fields(types, rels)["customer"]) >= {"related_customers", "related_from"}


def test_a_self_reference_gives_the_type_an_inverse_field() -> None:
    et = parse_entity_type(entity("employee", properties={"manager": ref("employee", "reports")}))
    check([dict(et.definition)])
    inverse = inverse_fields({"employee": et})["employee"]["reports"]
    assert (inverse.entity, inverse.property) == ("employee", "manager")


def test_korean_and_chinese_labels_are_kept() -> None:
    definition = entity(
        "grievance",
        properties={
            "subject": {
                "type": "string",
                "x-xrm-label": {"ko": "제목", "zh": "主题", "en": "Subject"},
            }
        },
        label={"ko": "고충", "zh-Hans": "投诉"},
        pluralLabel={"ko": "고충 목록"},
    )
    definition["title"] = "민원"
    et = parse_entity_type(definition)
    assert et.label == {"ko": "고충", "zh-Hans": "投诉"}
    assert et.properties["subject"].label["zh"] == "主题"
    assert et.title == "민원"


def test_labels_need_language_tags_and_text() -> None:
    faults = faults_of(entity(label={"Korean": "고객", "en": ""}))
    assert set(faults) == {"x-xrm.label", "x-xrm.label.en"}


def test_every_kind_parses_to_its_storage() -> None:
    et = parse_entity_type(
        entity(
            properties={
                "s": {"type": "string"},
                "e": {"type": "string", "format": "email"},
                "p": {"type": "string", "format": "phone"},
                "d": {"type": "string", "format": "date"},
                "dt": {"type": "string", "format": "date-time"},
                "dec": {"type": "string", "format": "decimal"},
                "u": {"type": "string", "format": "uuid"},
                "i": {"type": "integer"},
                "big": {"type": "integer", "format": "int64"},
                "n": {"type": "number"},
                "b": {"type": "boolean"},
                "en": {"type": "string", "enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "o": {"type": "object"},
            }
        )
    )
    kinds = {name: (p.kind, p.storage) for name, p in et.properties.items()}
    assert kinds == {
        "s": ("string", "text"),
        "e": ("email", "text"),
        "p": ("phone", "text"),
        "d": ("date", "date"),
        "dt": ("datetime", "datetime"),
        "dec": ("decimal", "decimal"),
        "u": ("uuid", "text"),
        "i": ("integer", "integer"),
        "big": ("int64", "bigint"),
        "n": ("number", "float"),
        "b": ("boolean", "boolean"),
        "en": ("enum", "text"),
        "tags": ("array", "json"),
        "o": ("object", "json"),
    }


# --- identifiers that reach the database ---------------------------------------------------------


def test_longest_names_give_identifiers_postgresql_keeps_whole() -> None:
    import sqlalchemy as sa

    longest = "n" * 40
    target = "t" * 40
    et = parse_entity_type(
        entity(
            longest,
            "p" * 40,
            properties={"r" * 40: ref(target), "q" * 40: {"type": "string"}},
            unique=[["r" * 40, "q" * 40]],
        )
    )
    other = parse_entity_type(entity(target, "u" * 40))
    rel = parse_relationship(relationship("l" * 40, longest, target, "f" * 40, "g" * 40))
    check_catalog({et.name: et, other.name: other}, {rel.name: rel})
    metadata = sa.MetaData()
    tables = [
        entity_table(et, metadata),
        entity_table(other, metadata),
        relationship_table(rel, metadata),
    ]
    names = []
    for table in tables:
        names.append(table.name)
        names.extend(c.name for c in table.columns)
        names.extend(str(i.name) for i in table.indexes)
        names.extend(str(fk.name) for c in table.columns for fk in c.foreign_keys)
    assert all(len(n.encode()) <= MAX_SQL_IDENTIFIER for n in names), [
        n for n in names if len(n) > MAX_SQL_IDENTIFIER
    ]
    # Hashed names stay distinct and deterministic.
    a = constraint_name("uq", "e_" + "x" * 60, "a")
    b = constraint_name("uq", "e_" + "x" * 60, "b")
    assert a != b and len(a) == MAX_SQL_IDENTIFIER
    assert a == constraint_name("uq", "e_" + "x" * 60, "a")


def test_enum_labels_name_enum_values_only() -> None:
    labelled = {"en": "Gold", "ko": "골드"}
    good = {"type": "string", "enum": ["gold"], "x-xrm-enumLabels": {"gold": labelled}}
    et = parse_entity_type(entity(properties={"tier": good}))
    assert et.properties["tier"].enum_labels == {"gold": labelled}
    tags = {
        "type": "array",
        "items": {"type": "string", "enum": ["a"]},
        "x-xrm-enumLabels": {"a": {"en": "A"}},
    }
    assert parse_entity_type(entity(properties={"tags": tags})).properties["tags"].enum_labels
    stray = {**good, "x-xrm-enumLabels": {"gold": labelled, "silver": labelled}}
    assert faults_of(entity(properties={"tier": stray})) == {
        "properties.tier.x-xrm-enumLabels.silver": "'silver' is not an enum value"
    }
    plain = {"type": "string", "x-xrm-enumLabels": {"gold": labelled}}
    assert faults_of(entity(properties={"tier": plain})) == {
        "properties.tier.x-xrm-enumLabels": "enum labels need an enum"
    }
