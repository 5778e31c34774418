"""``/graphql``: strawberry's HTTP view, executing off the event loop on the current schema.

Three things differ from strawberry's stock ASGI view:

- the schema is the registry's current one, looked up (and, after a
  definition change, rebuilt) per request, so every server process serves a
  change on its very next request;
- execution runs in a worker thread (``execute_sync``): resolvers call the
  database synchronously, and the event loop keeps answering meanwhile;
- errors follow CONTRACT §4: each carries ``extensions.code``; anything that
  is not an xrm error becomes ``INTERNAL_SERVER_ERROR`` with a request id,
  its traceback going to the server log only.
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

import orjson
import strawberry
from cross_web import HTTPException
from graphql import GraphQLError, OperationDefinitionNode, parse
from graphql.error import GraphQLSyntaxError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from xrm.api import limits
from xrm.api.context import RequestContext, Services
from xrm.api.limits import Limits
from xrm.api.schema import GeneratedSchema, build_schema
from xrm.errors import LimitExceeded, Unauthenticated, ValidationFailed, XrmError
from xrm.platform.db import Database
from xrm.platform.identity import actor_for_token
from xrm.schemas.formats import json_value

log = logging.getLogger("xrm.api")


class SchemaCache:
    """The schema of the registry's current version; rebuilt only when the version moves."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._lock = threading.Lock()
        self._schema: GeneratedSchema | None = None

    def current(self, context: RequestContext) -> GeneratedSchema:
        catalog = self.services.registry.current()
        context.bind(catalog)
        schema = self._schema
        if schema is not None and schema.version == catalog.version:
            return schema
        with self._lock:
            schema = self._schema
            if schema is None or schema.version != catalog.version:
                # Replacing the reference frees the retired version once no request uses it.
                schema = self._schema = build_schema(catalog)
            return schema


def _only_typename(query: str | None) -> bool:
    """True for a document that asks nothing but ``__typename`` (allowed without a token)."""
    if not query:
        return False
    try:
        document = parse(query)
    except GraphQLSyntaxError:
        return True  # let execution report the syntax error
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            return False
        for selection in definition.selection_set.selections:
            if getattr(getattr(selection, "name", None), "value", None) != "__typename":
                return False
    return True


def _format(error: GraphQLError, request_id: str) -> dict[str, Any]:
    original = error.original_error
    formatted: dict[str, Any] = dict(error.formatted)
    if isinstance(original, XrmError):
        formatted["message"] = original.message
        formatted["extensions"] = original.as_extensions()
        if isinstance(original, ValidationFailed):
            formatted["extensions"]["errors"] = [f.as_dict() for f in original.faults]
    elif original is not None:
        log.error("request %s: %s at %s", request_id, error.message, error.path, exc_info=original)
        formatted["message"] = f"internal error (request {request_id})"
        formatted["extensions"] = {"code": "INTERNAL_SERVER_ERROR"}
    else:
        formatted.setdefault("extensions", {})
        formatted["extensions"].setdefault("code", "GRAPHQL_VALIDATION_FAILED")
    formatted["extensions"]["requestId"] = request_id
    return formatted


def _refused(error: XrmError) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(error.message, original_error=error)])


class _Placeholder:
    """The stock view wants a schema at construction; ours is chosen per request."""

    @strawberry.type
    class Query:
        @strawberry.field
        def ready(self) -> bool:
            return True


class GraphQLView(GraphQL[RequestContext, None]):
    """strawberry's ASGI view on the registry's live schema; see the module docstring."""

    def __init__(self, db: Database, services: Services) -> None:
        super().__init__(
            strawberry.Schema(query=_Placeholder.Query),
            graphql_ide="graphiql",
            allow_queries_via_get=True,
        )
        self.db = db
        self.services = services
        self.schemas = SchemaCache(services)
        self.limits = Limits.from_settings(services.records.settings)

    async def get_context(self, request: Request | WebSocket, response: Any) -> RequestContext:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        actor = None
        if scheme.lower() == "bearer" and token.strip():
            actor = await run_in_threadpool(self._actor, token.strip())
        request_id = (request.headers.get("x-request-id") or secrets.token_hex(8))[:64]
        request.state.xrm_request_id = request_id
        return RequestContext(self.services, actor, request_id)

    def _actor(self, token: str) -> Any:
        with self.db.read() as conn:
            return actor_for_token(conn, token)

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: RequestContext,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        allowed = OperationType.from_http(request_adapter.method)
        if not self.allow_queries_via_get and request_adapter.method == "GET":
            allowed = allowed - {OperationType.QUERY}
        try:
            return await run_in_threadpool(self._execute, request_data, context, allowed)
        except CannotGetOperationTypeError as e:
            raise HTTPException(400, e.as_http_error_reason()) from e
        except InvalidOperationTypeError as e:
            raise HTTPException(400, e.as_http_error_reason(request_adapter.method)) from e
        except MissingQueryError as e:
            raise HTTPException(400, "No GraphQL query found in the request") from e

    def _execute(
        self, data: GraphQLRequestData, context: RequestContext, allowed: set[OperationType]
    ) -> ExecutionResult:
        if data.query is None:
            raise MissingQueryError
        try:
            schema = self.schemas.current(context)
            if context.actor is None and not _only_typename(data.query):
                message = "authentication required: send Authorization: Bearer <token>"
                return _refused(Unauthenticated(message))
            try:
                limits.check(self.limits, data.query, data.variables, data.operation_name)
            except LimitExceeded as exc:
                return _refused(exc)
            result = schema.execute_sync(
                data.query,
                variable_values=data.variables,
                context_value=context,
                operation_name=data.operation_name,
                allowed_operation_types=allowed,
            )
            return ExecutionResult(
                data=result.data, errors=result.errors, extensions=result.extensions
            )
        finally:
            context.close()

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data, default=json_value)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        request_id = getattr(request.state, "xrm_request_id", "-")
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = [_format(e, request_id) for e in result.errors]
        if result.extensions:
            response["extensions"] = result.extensions
        return response
