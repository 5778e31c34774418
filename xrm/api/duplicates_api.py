"""The duplicate-pairs part of the GraphQL API: what the last scan found, best first.

``duplicatePairs(entity, first, after)`` reads the pairs ``xrm duplicates scan``
stored, a page at a time, with the same page limits as every list; a pair
whose records the caller may not both read, or that were merged since, is
left out. Merging a pair is ``mergeRecords`` (resolvers.py).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLString,
)

from xrm.api.context import RequestContext
from xrm.api.scalars import DATETIME
from xrm.entities.duplicate_scan import pairs
from xrm.entities.records import page_size


def _nn(t: Any) -> GraphQLNonNull[Any]:
    return GraphQLNonNull(t)


DUPLICATE_PAIR = GraphQLObjectType(
    "DuplicatePair",
    {
        "rule": GraphQLField(_nn(GraphQLString), description="The rule that scored it highest."),
        "score": GraphQLField(_nn(GraphQLFloat), description="How alike, 0 to 1."),
        "firstId": GraphQLField(_nn(GraphQLID)),
        "secondId": GraphQLField(_nn(GraphQLID)),
        "firstName": GraphQLField(GraphQLString, description="The first record's display value."),
        "secondName": GraphQLField(GraphQLString),
        "foundAt": GraphQLField(_nn(DATETIME)),
    },
    description="Two records a duplicate scan matched.",
)


def add_fields(query: dict[str, GraphQLField], page_info: GraphQLObjectType) -> None:
    """Add ``duplicatePairs`` to the root query fields."""
    connection = GraphQLObjectType(
        "DuplicatePairConnection",
        {
            "nodes": GraphQLField(_nn(GraphQLList(_nn(DUPLICATE_PAIR)))),
            "pageInfo": GraphQLField(_nn(page_info)),
            "totalCount": GraphQLField(_nn(GraphQLInt)),
        },
    )
    query["duplicatePairs"] = GraphQLField(
        _nn(connection),
        args={
            "entity": GraphQLArgument(_nn(GraphQLString)),
            "first": GraphQLArgument(GraphQLInt),
            "after": GraphQLArgument(GraphQLString),
        },
        resolve=_duplicate_pairs,
        description="The pairs the last `xrm duplicates scan` of the type found, best first.",
    )


def _duplicate_pairs(
    source: Any,
    info: GraphQLResolveInfo,
    entity: str,
    first: int | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    ctx: RequestContext = info.context
    session = ctx.reader()
    page = pairs(session, entity, page_size(first, session.settings), after)
    nodes = [
        {
            "rule": p.rule,
            "score": p.score,
            "firstId": p.first_id,
            "secondId": p.second_id,
            "firstName": p.first_name,
            "secondName": p.second_name,
            "foundAt": p.found_at,
        }
        for p in page.pairs
    ]
    end = page.cursor(len(page.pairs) - 1) if page.pairs else None
    return {
        "nodes": nodes,
        "pageInfo": {"hasNextPage": page.has_next_page, "endCursor": end},
        "totalCount": page.total_count,
    }
