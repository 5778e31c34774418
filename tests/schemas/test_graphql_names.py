"""Generated GraphQL names: a definition whose names clash with the API's or another's is refused.

Each refusal is ``BAD_DEFINITION`` at the JSON path of the name that clashes,
naming the generated name and whatever already holds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from test_parse import entity, ref, relationship

from xrm.errors import DefinitionError
from xrm.schemas.graphql_names import (
    API_FIELDS,
    API_MUTATION_FIELDS,
    API_QUERY_FIELDS,
    API_TYPES,
    EntityNames,
    clashes,
)
from xrm.schemas.naming import name_problem, snake
from xrm.schemas.parse import check_catalog, parse_entity_type, parse_relationship


def refused(
    types: Iterable[dict[str, Any]],
    relationships: Iterable[dict[str, Any]] = (),
    focus: Iterable[str] = (),
) -> dict[str, str]:
    parsed = {et.name: et for et in map(parse_entity_type, types)}
    rels = {r.name: r for r in map(parse_relationship, relationships)}
    with pytest.raises(DefinitionError) as caught:
        check_catalog(parsed, rels, focus=focus)
    assert caught.value.code == "BAD_DEFINITION"
    return {f.field: f.message for f in caught.value.faults}


def accepted(types: Iterable[dict[str, Any]], relationships: Iterable[dict[str, Any]] = ()) -> None:
    parsed = {et.name: et for et in map(parse_entity_type, types)}
    rels = {r.name: r for r in map(parse_relationship, relationships)}
    check_catalog(parsed, rels)


def _type_names_a_definition_can_give() -> list[str]:
    """Every API type that some snake_case type name turns into (``DateTime`` <- ``date_time``)."""
    out = []
    for name in sorted(API_TYPES):
        candidate = snake(name)
        if name_problem(candidate) is None and EntityNames.of(candidate, "x_list").object == name:
            out.append(candidate)
    return out


# --- the API's own names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "query",
        "mutation",
        "subscription",
        "date",
        "date_time",
        "decimal",
        "big_int",
        "boolean",
        "int",
        "float",
        "string",
        "sort_direction",
        "string_comparison",
        "date_time_comparison",
        "page_info",
        "audit_entry",
        "aggregate_group",
        "user_filter",
        "change_plan",
        "workflow_run",
    ],
)
def test_a_type_named_after_an_api_type_is_refused(name: str) -> None:
    faults = refused([entity(name, f"{name}_list")])
    expected = EntityNames.of(name, "x").object
    assert faults == {
        "x-xrm.name": f"{name!r} becomes the GraphQL type {expected!r}, "
        "which is the API's own type; choose another name"
    }


def test_every_api_type_a_name_can_spell_is_refused() -> None:
    spellable = _type_names_a_definition_can_give()
    assert len(spellable) > 20  # scalars, comparisons, root and metadata types
    for name in spellable:
        with pytest.raises(DefinitionError) as caught:
            definition = entity(name, f"{name}_list")
            check_catalog({name: parse_entity_type(definition)}, {})
        assert [f.field for f in caught.value.faults] == ["x-xrm.name"], name


def test_an_acronym_is_not_a_clash() -> None:
    """``id_comparison`` is ``IdComparison``, not the API's ``IDComparison``: GraphQL is
    case-sensitive, and the type is accepted."""
    accepted([entity("id_comparison")])


@pytest.mark.parametrize(
    ("name", "generated"),
    [
        ("item_edge", "ItemEdge"),
        ("item_connection", "ItemConnection"),
        ("item_filter", "ItemFilter"),
        ("item_list_filter", "ItemListFilter"),
        ("item_order", "ItemOrder"),
        ("item_input", "ItemInput"),
        ("item_patch", "ItemPatch"),
    ],
)
def test_a_type_named_after_another_types_generated_type_is_refused(
    name: str, generated: str
) -> None:
    faults = refused([entity("item"), entity(name)], focus=[name])
    assert faults == {
        "x-xrm.name": f"{name!r} becomes the GraphQL type {generated!r}, as type 'item' does"
    }


@pytest.mark.parametrize(
    ("name", "plural", "path", "field"),
    [
        ("entity", "entity_types", "x-xrm.plural", "entityTypes"),
        ("entity_kind", "roles", "x-xrm.plural", "roles"),
        ("entity_link", "relationships", "x-xrm.plural", "relationships"),
        ("entity_types", "entity_type_sets", "x-xrm.name", "entityTypes"),
        ("roles", "role_sets", "x-xrm.name", "roles"),
        ("workflows", "workflow_sets", "x-xrm.name", "workflows"),
    ],
)
def test_a_type_whose_query_fields_are_the_apis_own_is_refused(
    name: str, plural: str, path: str, field: str
) -> None:
    faults = refused([entity(name, plural)])
    assert faults == {
        path: f"{name if path.endswith('name') else plural!r} becomes the query field {field!r}, "
        "which is the API's own query field; choose another name"
    }


def test_every_api_root_field_is_reserved() -> None:
    for field in sorted(API_QUERY_FIELDS):
        name = snake(field)
        if name_problem(name) is None:
            assert refused([entity(name, f"{name}_sets")]), field
    # Mutations are prefixed (create/update/restore/delete): none of the API's own can be made,
    # except through another reserved name.
    generated = {
        m
        for n in ("thing", "workflow")
        for scope, m, _ in EntityNames.of(n, n + "s").roots()
        if scope == "mutation"
    }
    assert generated & API_MUTATION_FIELDS == {"deleteWorkflow"}


# --- two definitions, one generated name (point 9) --------------------------------------------


def test_two_types_with_the_same_pascal_name_are_refused_naming_both() -> None:
    faults = refused([entity("item_2"), entity("item2")], focus=["item2"])
    assert faults["x-xrm.name"] == "'item2' becomes the GraphQL type 'Item2', as type 'item_2' does"
    assert "item_2" in faults["x-xrm.plural"]
    # Whichever is the one being defined carries the fault.
    faults = refused([entity("item_2"), entity("item2")], focus=["item_2"])
    assert faults["x-xrm.name"] == "'item_2' becomes the GraphQL type 'Item2', as type 'item2' does"


def test_a_plural_that_camel_cases_like_the_name_is_refused() -> None:
    faults = refused([entity("item_2", "item2")])
    assert faults == {
        "x-xrm.plural": "'item2' becomes the query field 'item2', as its name 'item_2' does"
    }


def test_a_name_like_another_types_aggregate_field_is_refused() -> None:
    faults = refused([entity("bar"), entity("bars_aggregate")], focus=["bars_aggregate"])
    assert faults == {
        "x-xrm.name": "'bars_aggregate' becomes the query field 'barsAggregate', "
        "as the plural of type 'bar' does"
    }


def test_plurals_that_camel_case_alike_are_refused() -> None:
    faults = refused([entity("a_one", "a_1s"), entity("a_two", "a1s")], focus=["a_two"])
    assert faults["x-xrm.plural"] == (
        "'a1s' becomes the query field 'a1s', as the plural of type 'a_one' does"
    )


def test_properties_that_camel_case_alike_are_refused_naming_both() -> None:
    faults = refused([entity(properties={"a_1": {"type": "string"}, "a1": {"type": "integer"}})])
    assert faults == {
        "properties.a1": "'a1' on 'thing' becomes the GraphQL field 'a1', as property 'a_1' does"
    }


def test_a_property_like_a_references_id_field_is_refused() -> None:
    faults = refused(
        [
            entity("org"),
            entity(properties={"org_1": ref("org"), "org1_id": {"type": "string"}}),
        ],
        focus=["thing"],
    )
    assert faults == {
        "properties.org1_id": "'org1_id' on 'thing' becomes the GraphQL field 'org1Id', "
        "as the id field of reference 'org_1' does"
    }


@pytest.mark.parametrize("name", ["and", "or", "not"])
def test_filter_keywords_are_refused_as_property_names(name: str) -> None:
    faults = refused([entity(properties={name: {"type": "string"}})])
    assert faults == {
        f"properties.{name}": f"{name!r} on 'thing' becomes the GraphQL field {name!r}, "
        "which is the API's own (a filter keyword); choose another name"
    }


def test_every_api_field_is_reserved_for_to_many_fields_too() -> None:
    for field in API_FIELDS:
        name = snake(field)
        faults = refused(
            [entity("order", properties={"customer": ref("customer", name)}), entity("customer")]
        )
        assert list(faults) == ["properties.customer.x-xrm-ref.inverse"], field


def test_an_inverse_like_a_property_in_camel_case_is_refused_on_the_one_being_changed() -> None:
    types = [
        entity("order", properties={"customer": ref("customer", "order_1")}),
        entity("customer", properties={"order1": {"type": "string"}}),
    ]
    assert refused(types, focus=["order"]) == {
        "properties.customer.x-xrm-ref.inverse": "'order_1' on 'customer' becomes the GraphQL "
        "field 'order1', as property 'order1' does"
    }
    assert refused(types, focus=["customer"]) == {
        "properties.order1": "'order1' on 'customer' becomes the GraphQL field 'order1', "
        "as the inverse of order.customer does"
    }


def test_a_link_field_like_a_property_in_camel_case_is_refused() -> None:
    faults = refused(
        [entity("contract"), entity("asset", properties={"contract_2": {"type": "string"}})],
        [relationship("contract_assets", "contract", "asset", "assets", "contract2")],
        focus=["contract_assets"],
    )
    assert faults == {
        "toField": "'contract2' on 'asset' becomes the GraphQL field 'contract2', "
        "as property 'contract_2' does"
    }


def test_two_link_fields_that_camel_case_alike_are_refused() -> None:
    faults = refused(
        [entity("contract"), entity("asset")],
        [
            relationship("one", "contract", "asset", "assets_1", "contracts_1"),
            relationship("two", "contract", "asset", "assets1", "contracts_2"),
        ],
        focus=["two"],
    )
    assert faults == {
        "fromField": "'assets1' on 'contract' becomes the GraphQL field 'assets1', "
        "as a field of relationship 'one' does"
    }


def test_relationship_attributes_that_camel_case_alike_are_refused() -> None:
    faults = refused(
        [entity("contract"), entity("asset")],
        [
            relationship(
                "links",
                "contract",
                "asset",
                "assets",
                "contracts",
                properties={"role_1": {"type": "string"}, "role1": {"type": "string"}},
            )
        ],
    )
    assert faults == {
        "properties.role1": "'role1' on relationship 'links' becomes the attribute 'role1', "
        "as attribute 'role_1' does"
    }


def test_a_stored_clash_does_not_block_changes_to_other_definitions() -> None:
    """A catalog stored by an older release may clash; changing another type still works."""
    types = {
        et.name: et
        for et in map(parse_entity_type, [entity("item_2"), entity("item2"), entity("note")])
    }
    check_catalog(types, {}, focus=["note"])
    assert {c.owner for c in clashes(types, {})} == {"item2"}
    assert {c.scope for c in clashes(types, {})} >= {"type", "query", "mutation"}


def test_names_that_only_look_alike_are_fine() -> None:
    accepted(
        [
            entity(
                "item", "items", properties={"a1": {"type": "string"}, "a_b": {"type": "string"}}
            ),
            entity("item_s", "item_ss"),  # ItemS, not Items
            entity("id", "ids"),  # Id, not ID
            entity("json", "jsons"),  # Json, not JSON
            entity("page", "pages"),
            entity("entity", "entities"),
        ]
    )
