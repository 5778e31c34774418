"""The names the API keeps for itself are the ones definitions may not take, and stay so.

``xrm.schemas.graphql_names`` lists them below the API (where definitions are
checked); the builder refuses to make a name of its own that is not listed,
and never lets a definition's type silently replace another.
"""

from __future__ import annotations

import pytest
from graphql import GraphQLField, GraphQLObjectType, GraphQLSchema, GraphQLString

from xrm.api.schema import SchemaClash, build_schema, own_names, unreserved_names
from xrm.entities.catalog import definitions
from xrm.entities.catalog_state import Catalog, build_catalog
from xrm.schemas.graphql_names import API_MUTATION_FIELDS, API_QUERY_FIELDS, API_TYPES
from xrm.schemas.parse import parse_entity_type, parse_relationship


def _catalog(raw: list[dict]) -> Catalog:
    types = {et.name: et for et in map(parse_entity_type, (d for d in raw if "x-xrm" in d))}
    rels = {r.name: r for r in map(parse_relationship, (d for d in raw if "relationship" in d))}
    return build_catalog(1, types, rels, "KR")


def entity(name: str, plural: str) -> dict:
    return {
        "type": "object",
        "x-xrm": {"name": name, "plural": plural},
        "properties": {"title": {"type": "string"}},
    }


def test_every_name_the_builder_gives_the_api_is_reserved() -> None:
    own = own_names()
    assert own["type"] <= API_TYPES, own["type"] - API_TYPES
    assert own["query"] <= API_QUERY_FIELDS, own["query"] - API_QUERY_FIELDS
    assert own["mutation"] <= API_MUTATION_FIELDS, own["mutation"] - API_MUTATION_FIELDS
    assert {"Query", "Mutation", "Date", "Decimal", "SortDirection", "StringComparison"} <= own[
        "type"
    ]


def test_the_built_in_catalog_builds_with_generated_and_reserved_names_only() -> None:
    catalog = _catalog([d for d in definitions() if "role" not in d])
    schema = build_schema(catalog).graphql
    assert unreserved_names(schema, catalog.types.values()) == []


def test_a_name_the_api_made_without_reserving_it_is_found() -> None:
    query = GraphQLObjectType("Query", {"entityTypes": GraphQLField(GraphQLString)})
    extra = GraphQLObjectType("AuditTrail", {"x": GraphQLField(GraphQLString)})
    mutation = GraphQLObjectType("Mutation", {"purgeAll": GraphQLField(GraphQLString)})
    schema = GraphQLSchema(query=query, mutation=mutation, types=[extra])
    assert unreserved_names(schema, []) == ["mutation purgeAll", "type AuditTrail"]


@pytest.mark.parametrize(
    "stored",
    [
        [entity("item_2", "item_2s"), entity("item2", "item_twos")],  # one object type Item2
        [entity("page_info", "page_infos")],  # would replace the API's PageInfo
        [entity("item_2", "item2")],  # one root field item2
    ],
)
def test_a_clash_stored_around_the_check_stops_the_build_instead_of_swapping_types(
    stored: list[dict],
) -> None:
    with pytest.raises(SchemaClash):
        build_schema(_catalog(stored))
