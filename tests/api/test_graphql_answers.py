"""The fuzzer's judge catches each kind of fault, so a fuzz run cannot pass by seeing nothing.

Each test hands ``faults`` one answer with one thing wrong (or nothing wrong)
to a query against a small schema of the same shape as xrm's: a connection
with non-null lists of non-null nodes, a nullable reference, scalars.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import build_schema
from graphql_answers import faults

SCHEMA = build_schema(
    """
    interface Named { name: String! }
    type Partner implements Named { id: ID! name: String! parent: Partner }
    type Customer implements Named { id: ID! name: String! email: String partner: Partner }
    type CustomerConnection { nodes: [Customer!]! totalCount: Int! }
    type Query {
      customer(id: ID!): Customer
      customers(first: Int): CustomerConnection!
      named: [Named!]!
    }
    type Mutation { createCustomer(name: String!): Customer! }
    """
)
QUERY = "{ customers { totalCount nodes { id name partner { name } } } }"


def answer(nodes: list[Any], total: Any = 1) -> dict[str, Any]:
    return {"data": {"customers": {"totalCount": total, "nodes": nodes}}}


GOOD_NODE = {"id": "1", "name": "Hanbit", "partner": {"name": "Daehan"}}


def error(code: str | None, message: str = "no", **more: Any) -> dict[str, Any]:
    extensions = {"code": code, "requestId": "r1"} if code else {"requestId": "r1"}
    return {"message": message, "extensions": extensions, **more}


def test_a_clean_answer_has_no_faults() -> None:
    assert faults(SCHEMA, QUERY, None, 200, answer([GOOD_NODE])) == []
    assert faults(SCHEMA, QUERY, None, 200, answer([{**GOOD_NODE, "partner": None}])) == []
    refused = {"errors": [error("VALIDATION_FAILED", "first: must be at most 500")]}
    assert faults(SCHEMA, QUERY, None, 400, {**refused, "data": None}) == []
    assert faults(SCHEMA, QUERY, None, 400, refused) == []


def test_a_server_error_status_is_a_fault() -> None:
    assert faults(SCHEMA, QUERY, None, 500, answer([GOOD_NODE])) == ["HTTP 500"]
    assert faults(SCHEMA, QUERY, None, 502, "Bad Gateway")[0] == "HTTP 502"


@pytest.mark.parametrize("code", ["INTERNAL_SERVER_ERROR", "INTERNAL", "OOPS", None])
def test_an_internal_or_unknown_error_code_is_a_fault(code: str | None) -> None:
    body = {"data": None, "errors": [error(code, "internal error (request r1)")]}
    found = faults(SCHEMA, QUERY, None, 200, body)
    assert len(found) == 1 and ("internal" in found[0] or "unknown code" in found[0])


@pytest.mark.parametrize(
    "message",
    [
        "(sqlite3.IntegrityError) NOT NULL constraint failed: e_partner.id",
        'duplicate key value violates unique constraint "uq_e_customer_email"',
        "text fields cannot contain NUL (0x00) bytes [psycopg]",
        "[SQL: SELECT e_customer.id FROM e_customer WHERE e_customer.id = ?]",
        'Traceback (most recent call last):\n  File "/x/records.py", line 12, in create',
        "KeyError: 'x-xrm'",
        "relation xrm_users does not exist",
        "OverflowError: date value out of range",
    ],
)
def test_database_or_python_text_in_any_error_string_is_a_fault(message: str) -> None:
    as_message = {"data": None, "errors": [error("DUPLICATE", message)]}
    assert faults(SCHEMA, QUERY, None, 200, as_message), message
    nested = error("VALIDATION_FAILED", "invalid")
    nested["extensions"]["errors"] = [{"field": "email", "message": message}]
    assert faults(SCHEMA, QUERY, None, 200, {"data": None, "errors": [nested]}), message


def test_plain_english_that_names_sql_words_is_not_database_text() -> None:
    body = {
        "data": None,
        "errors": [
            error("VALIDATION_FAILED", "select a value from the list; update it, then set it"),
            error("LIMIT_EXCEEDED", "more than 500 records (XRM_GRAPHQL_MAX_PAGE)"),
        ],
    }
    assert faults(SCHEMA, QUERY, None, 200, body) == []


def test_null_in_a_non_null_field_is_a_fault_at_any_depth() -> None:
    assert faults(SCHEMA, QUERY, None, 200, answer([GOOD_NODE], total=None)) == [
        "customers.totalCount: null where the schema says Int! (non-null)"
    ]
    assert faults(SCHEMA, QUERY, None, 200, answer([{**GOOD_NODE, "name": None}])) == [
        "customers.nodes.0.name: null where the schema says String! (non-null)"
    ]
    assert faults(SCHEMA, QUERY, None, 200, answer([GOOD_NODE, None])) == [
        "customers.nodes.1: null where the schema says Customer! (non-null)"
    ]
    deep = {**GOOD_NODE, "partner": {"name": None}}
    assert faults(SCHEMA, QUERY, None, 200, answer([deep])) == [
        "customers.nodes.0.partner.name: null where the schema says String! (non-null)"
    ]
    root = {"data": {"customers": None}}
    assert faults(SCHEMA, QUERY, None, 200, root) == [
        "customers: null where the schema says CustomerConnection! (non-null)"
    ]


def test_an_error_does_not_excuse_a_null_where_the_schema_says_non_null() -> None:
    """The spec makes the nearest nullable parent null instead; a non-null null is never right."""
    body = {
        "data": {"customer": {"id": "1", "name": None}},
        "errors": [error("FORBIDDEN", "name is hidden", path=["customer", "name"])],
    }
    query = '{ customer(id: "1") { id name } }'
    assert faults(SCHEMA, query, None, 200, body) == [
        "customer.name: null where the schema says String! (non-null)"
    ]


def test_a_null_propagated_to_a_nullable_parent_is_not_a_fault() -> None:
    query = '{ customer(id: "1") { id name } }'
    body = {
        "data": {"customer": None},
        "errors": [error("FORBIDDEN", "name is hidden", path=["customer", "name"])],
    }
    assert faults(SCHEMA, query, None, 200, body) == []
    whole = {"data": None, "errors": [error("NOT_FOUND", "no", path=["createCustomer"])]}
    assert faults(SCHEMA, 'mutation { createCustomer(name: "x") { id } }', None, 200, whole) == []


def test_data_null_or_absent_without_an_error_is_a_fault() -> None:
    assert faults(SCHEMA, QUERY, None, 200, {"data": None}) == [
        "data is null with no error to say why"
    ]
    assert faults(SCHEMA, QUERY, None, 200, {}) == ["neither data nor errors in the answer"]


def test_aliases_are_followed_and_a_missing_field_is_a_fault() -> None:
    query = "{ c: customers { n: nodes { id nm: name } } }"
    good = {"data": {"c": {"n": [{"id": "1", "nm": "x"}]}}}
    assert faults(SCHEMA, query, None, 200, good) == []
    nulled = {"data": {"c": {"n": [{"id": "1", "nm": None}]}}}
    assert faults(SCHEMA, query, None, 200, nulled) == [
        "c.n.0.nm: null where the schema says String! (non-null)"
    ]
    missing = {"data": {"c": {"n": [{"id": "1", "name": "x"}]}}}
    assert faults(SCHEMA, query, None, 200, missing) == [
        "c.n.0.nm: selected but missing from the answer"
    ]


def test_fragments_are_expanded_by_type() -> None:
    query = """query { named { __typename ... on Customer { email id } ...P }
                       customers { nodes { ...C } } }
               fragment P on Partner { pid: id }
               fragment C on Customer { id name }"""
    good = {
        "data": {
            "named": [
                {"__typename": "Customer", "email": None, "id": "1"},
                {"__typename": "Partner", "pid": "2"},
            ],
            "customers": {"nodes": [{"id": "1", "name": "x"}]},
        }
    }
    assert faults(SCHEMA, query, None, 200, good) == []
    bad = {
        "data": {
            "named": [{"__typename": "Partner", "pid": None}],
            "customers": {"nodes": [{"id": "1", "name": None}]},
        }
    }
    assert faults(SCHEMA, query, None, 200, bad) == [
        "named.0.pid: null where the schema says ID! (non-null)",
        "customers.nodes.0.name: null where the schema says String! (non-null)",
    ]


def test_skip_and_include_are_respected() -> None:
    query = "query($s: Boolean!) { customers { totalCount @skip(if: $s) nodes @include(if: true) "
    query += "{ id } } }"
    skipped = {"data": {"customers": {"nodes": []}}}
    assert faults(SCHEMA, query, {"s": True}, 200, skipped) == []
    assert faults(SCHEMA, query, {"s": False}, 200, skipped) == [
        "customers.totalCount: selected but missing from the answer"
    ]


def test_a_wrong_shape_is_a_fault() -> None:
    assert faults(SCHEMA, QUERY, None, 200, {"data": {"customers": {"totalCount": 1, "nodes": 3}}})
    assert faults(SCHEMA, QUERY, None, 200, {"data": {"customers": [1]}})
    assert faults(SCHEMA, QUERY, None, 200, ["not", "an", "object"])
