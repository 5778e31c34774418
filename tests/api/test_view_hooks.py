"""strawberry's methods the GraphQL view overrides or calls are still there, as it expects.

``xrm.api.view`` overrides ``execute_single`` and ``parse_http_body``, which
strawberry does not document as hooks, and calls ``run``,
``parse_query_params`` and ``parse_json``. pyproject pins strawberry to the
release line this was written against; this test is what tells whoever
widens that pin whether the new release still fits.
"""

from __future__ import annotations

import inspect

from strawberry.asgi import GraphQL

from xrm.api.view import GraphQLView

EXPECTED = {
    "execute_single": [
        "self",
        "request",
        "request_adapter",
        "sub_response",
        "context",
        "root_value",
        "request_data",
    ],
    "parse_http_body": ["self", "request"],
    "run": ["self", "request", "context", "root_value"],
    "parse_query_params": ["self", "params"],
    "parse_json": ["self", "data"],
    "render_graphql_ide": ["self", "request"],
    "get_context": ["self", "request", "response"],
    "process_result": ["self", "request", "result"],
    "create_response": ["self", "response_data", "sub_response"],
}


def test_the_strawberry_methods_the_view_relies_on_keep_their_shape() -> None:
    for name, parameters in EXPECTED.items():
        base = getattr(GraphQL, name, None)
        assert base is not None, f"strawberry's GraphQL view has no {name} any more"
        assert list(inspect.signature(base).parameters) == parameters, name
        ours = getattr(GraphQLView, name)
        if ours is not base:
            assert list(inspect.signature(ours).parameters) == parameters, name
