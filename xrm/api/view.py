"""``/graphql``: strawberry's HTTP view, executing off the event loop on the current schema.

What differs from strawberry's stock ASGI view:

- the schema is the registry's current one, looked up (and, after a
  definition change, rebuilt) per request, so every server process serves a
  change on its very next request;
- each request is parsed once, with the token limit (``xrm.api.document``),
  before anything else, and checked against the limits (``xrm.api.limits``)
  before it runs;
- GraphiQL comes from this server's own files (``xrm.api.graphiql``), and a
  signed-in admin UI session may use it: its cookie counts together with its
  CSRF token in ``X-XRM-CSRF``, never alone;
- execution runs in a worker thread (``execute_sync``): resolvers call the
  database synchronously, and the event loop keeps answering meanwhile;
- errors follow CONTRACT §4: each carries ``extensions.code``; anything that
  is not an xrm error becomes ``INTERNAL_SERVER_ERROR`` with a request id,
  its traceback going to the server log only;
- HTTP follows the GraphQL over HTTP spec (checked by ``graphql-http``'s audit,
  tests/e2e/test_graphql_http_audit.py): the response media type is negotiated
  from ``Accept`` (``application/graphql-response+json`` or ``application/json``,
  the default); with ``application/graphql-response+json`` a request error (no
  execution: syntax, validation, variables, authentication, limits) is a 4xx
  without ``data``, while ``application/json`` keeps answering 200; a request
  that is not well-formed (body not a JSON object, wrongly typed parameters) is
  a 4xx whose body is a GraphQL response with code ``BAD_REQUEST``; a mutation
  over GET is 405 with ``Allow: POST``.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import strawberry
from cross_web import HTTPException
from graphql import DocumentNode, GraphQLError, OperationDefinitionNode
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from xrm.api import express, graphiql, limits
from xrm.api.context import RequestContext, Services, record_use
from xrm.api.document import parse_document
from xrm.api.limits import Limits
from xrm.api.schema import GeneratedSchema
from xrm.api.schema_cache import SchemaCache
from xrm.errors import LimitExceeded, Unauthenticated, ValidationFailed, XrmError
from xrm.platform.db import Database
from xrm.platform.identity import Actor, hash_token
from xrm.schemas.formats import json_bytes

log = logging.getLogger("xrm.api")

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
_SUPPORTED = (GRAPHQL_RESPONSE, JSON)
_SURROGATE = re.compile("[\ud800-\udfff]")


def negotiate(accept: str | None) -> str:
    """The response media type for an ``Accept`` header: the client's best supported one.

    Higher ``q`` wins, then the more specific range (``application/json`` over
    ``application/*`` over ``*/*``), then the one listed first; ``application/json``
    when nothing else decides, when the header is missing, or when it names no
    supported type (the spec lets a server disregard such a header).
    """
    if not accept or not accept.strip():
        return JSON
    best: tuple[float, int, int, int] | None = None
    chosen = JSON
    for position, part in enumerate(accept.split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        media = media.lower()
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        for supported in _SUPPORTED:
            if media == supported:
                specificity = 3
            elif media == "application/*":
                specificity = 2
            elif media == "*/*":
                specificity = 1
            else:
                continue
            if q <= 0:
                continue
            score = (q, specificity, -position, int(supported == JSON))
            if best is None or score > best:
                best, chosen = score, supported
    return chosen


def _media_type(request: Request) -> str:
    media: str | None = getattr(request.state, "xrm_media_type", None)
    if media is None:
        media = request.state.xrm_media_type = negotiate(request.headers.get("accept"))
    return media


def _request_id(request: Request | WebSocket) -> str:
    """The id errors and logs carry: the client's ``X-Request-ID``, else a new one."""
    return (request.headers.get("x-request-id") or secrets.token_hex(8))[:64]


def _is_request_error(result: ExecutionResult) -> bool:
    """True when execution never started (no ``data`` entry is due): no error has a path."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


def _operation_kind(document: DocumentNode, operation_name: str | None) -> OperationType | None:
    """The type of the operation a request would run, or None if that is not yet clear."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            operation_name is None
            or (definition.name is not None and definition.name.value == operation_name)
        ):
            return OperationType(definition.operation.value)
    return None


def _only_typename(document: DocumentNode) -> bool:
    """True for a document that asks nothing but ``__typename`` (allowed without a token)."""
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            return False
        for selection in definition.selection_set.selections:
            if getattr(getattr(selection, "name", None), "value", None) != "__typename":
                return False
    return True


class SignedInSession(Protocol):
    """What the view needs of an admin UI session (``xrm.platform.sessions.Session``)."""

    @property
    def actor(self) -> Actor: ...

    @property
    def csrf(self) -> str: ...


SessionLookup = Callable[[Request], Awaitable[SignedInSession | None]]


def _holds_lone_surrogate(data: Any) -> bool:
    """Whether a string in decoded JSON holds a lone surrogate.

    JSON may spell one (``"\\ud800"``) though UTF-8 cannot: it is no character, no
    database can store or compare it, and it would fail deep in a write or a filter.
    Walked without recursion, as the body may be nested deeply.
    """
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site's page."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == (request.headers.get("host") or "").lower()


def _format(error: GraphQLError, request_id: str) -> dict[str, Any]:
    original = error.original_error
    formatted: dict[str, Any] = dict(error.formatted)
    if isinstance(original, XrmError):
        formatted["message"] = original.message
        formatted["extensions"] = original.as_extensions()
        if isinstance(original, ValidationFailed):
            formatted["extensions"]["errors"] = [f.as_dict() for f in original.faults]
    elif isinstance(original, GraphQLError):
        # A variable's value that does not fit its type: the caller's mistake, not ours.
        formatted["extensions"] = {"code": "BAD_USER_INPUT"}
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

    def __init__(
        self, db: Database, services: Services, sessions: SessionLookup | None = None
    ) -> None:
        super().__init__(
            strawberry.Schema(query=_Placeholder.Query),
            graphql_ide="graphiql",
            allow_queries_via_get=True,
        )
        self.db = db
        self.services = services
        self.schemas = SchemaCache(services)
        self.limits = Limits.from_settings(services.records.settings)
        # The admin UI's sessions: a signed-in browser may use /graphql (GraphiQL).
        self.sessions = sessions

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from this server's own files (``xrm.api.graphiql``)."""
        session = await self.sessions(request) if self.sessions is not None else None
        return graphiql.page(session.csrf if session is not None else None)

    async def _cookie_actor(self, request: Request) -> Actor | None:
        """The signed-in admin session's user, when the request proves it comes from our page.

        A cookie rides along with any request a browser sends, including one a
        hostile page makes it send; so the session counts only with its CSRF
        token in the ``X-XRM-CSRF`` header (which another site's page can
        neither read nor send) and no foreign ``Origin``.
        """
        sent = request.headers.get(graphiql.CSRF_HEADER)
        if self.sessions is None or not sent or not _same_origin(request):
            return None
        session = await self.sessions(request)
        if session is None or not hmac.compare_digest(session.csrf.encode(), sent.encode()):
            return None
        return session.actor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive=receive)
        if request.method == "POST":
            answered = await self._express(request)
            if answered is not None:
                await answered(scope, receive, send)
                return
        try:
            response = await self.run(request)
        except HTTPException as exc:
            response = self._refusal(request, exc)
        await response(scope, receive, send)

    async def _express(self, request: Request) -> Response | None:
        """A repeated request answered by its plan (``xrm.api.express``), else None.

        Whatever this cannot answer, the ordinary path does; it then also
        remembers the request's plan when it answered with one statement.
        """
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        content_type, _ = parse_content_type(request.headers.get("content-type", ""))
        if scheme.lower() != "bearer" or not token or content_type.lower() != JSON:
            return None
        body = await request.body()
        if len(body) > express.BODY_LIMIT:
            return None
        key = (hash_token(token), body)
        request.state.xrm_express_key = key
        schema = self.schemas.latest()
        plan = None if schema is None else schema.plans.find(key)
        if schema is None or plan is None:
            return None
        request_id = _request_id(request)
        try:
            data = await run_in_threadpool(self._run_plan, plan, key[0], request_id)
        except Exception as exc:
            log.warning(
                "request %s: its plan failed; answered the ordinary way", request_id, exc_info=True
            )
            if isinstance(exc, express.PlanFailed) and not exc.lasting:
                schema.plans.drop(key)  # the database was busy or away: plan again later
            else:
                schema.plans.put(key, None)
            return None
        if data is None:
            schema.plans.drop(key)  # the ordinary path answers, and plans afresh
            return None
        return Response(b'{"data":' + data + b"}", media_type=_media_type(request))

    def _run_plan(self, plan: express.Plan, token_hash: str, request_id: str) -> bytes | None:
        found = express.run(self.db, plan, token_hash)
        if found is None:
            return None
        data, use = found
        if use.stale:
            record_use(self.db, use.token_id, request_id)
        return data

    def _remember(self, schema: GeneratedSchema, context: RequestContext) -> None:
        """Keep the plan of a request one statement answered, for its repetitions.

        Best effort: the answer is already made, and nothing here may spoil it.
        """
        key, prepared, actor = context.express_key, context.answered_by, context.actor
        if key is None or prepared is None or actor is None or context.catalog is None:
            return
        if not schema.plans.wanted(key):
            return
        try:
            version, dialect = context.catalog.version, self.db.engine.dialect
            schema.plans.put(key, express.make_plan(prepared, actor, version, dialect))
        except Exception:
            log.warning("request %s: could not plan it", context.request_id, exc_info=True)
            schema.plans.put(key, None)

    def _refusal(self, request: Request, exc: HTTPException) -> Response:
        """A request the view cannot run, as a GraphQL response (``BAD_REQUEST``) with a 4xx."""
        extensions: dict[str, Any] = {"code": "BAD_REQUEST"}
        request_id = getattr(request.state, "xrm_request_id", None)
        if request_id:
            extensions["requestId"] = request_id
        body = {"errors": [{"message": exc.reason, "extensions": extensions}]}
        headers = {}
        if exc.status_code == 405:
            headers["allow"] = "POST" if request.method == "GET" else "GET, POST"
        return Response(
            self.encode_json(body),
            status_code=exc.status_code,
            headers=headers,
            media_type=_media_type(request),
        )

    async def parse_http_body(self, request: Any) -> GraphQLRequestData:
        """One GraphQL request from the query string (GET) or a JSON object body (POST).

        Unlike the stock view, a body that is JSON but not an object, and an
        ``operationName`` that is not a string, are refused with 400 rather than
        failing later; a POST that is not ``application/json`` is 415. Batches,
        multipart uploads and streaming transports are not offered here.
        """
        if request.method == "GET":
            data = self.parse_query_params(request.query_params)
        else:
            content_type, _ = parse_content_type(request.content_type or "")
            if content_type.lower() != JSON:
                raise HTTPException(415, "Send the request as application/json")
            body = await request.get_body()
            try:
                data = self.parse_json(body)
            except RecursionError:
                raise HTTPException(400, "The request body is nested too deeply") from None
            except ValueError as exc:
                # Valid JSON that Python will not read (an integer of more than 4,300
                # digits), or bytes that are not UTF-8: still the client's mistake.
                problem = (
                    "a number in it has too many digits"
                    if "digits" in str(exc)
                    else "it is not UTF-8 JSON"
                )
                raise HTTPException(400, f"Unable to read the request body: {problem}") from None
            if b"\\u" in body and _holds_lone_surrogate(data):
                raise HTTPException(
                    400,
                    "Unable to read the request body: a string in it holds a lone surrogate "
                    "(\\ud800 to \\udfff), which is not a character",
                )
        if isinstance(data, list):
            raise HTTPException(400, "Batching is not enabled")
        if not isinstance(data, dict):
            raise HTTPException(400, "The request body must be a JSON object")
        query = data.get("query")
        if not isinstance(query, (str, type(None))):
            raise HTTPException(
                400, "The GraphQL operation's `query` must be a string or null, if provided."
            )
        operation_name = data.get("operationName")
        if not isinstance(operation_name, (str, type(None))):
            raise HTTPException(
                400,
                "The GraphQL operation's `operationName` must be a string or null, if provided.",
            )
        for key in ("variables", "extensions"):
            if not isinstance(data.get(key), (dict, type(None))):
                raise HTTPException(
                    400, f"The GraphQL operation's `{key}` must be an object or null, if provided."
                )
        return GraphQLRequestData(
            query=query,
            variables=data.get("variables"),
            operation_name=operation_name,
            extensions=data.get("extensions"),
            protocol="http",
        )

    async def get_context(self, request: Request | WebSocket, response: Any) -> RequestContext:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        # Checked in the worker thread, in the read transaction the query then uses.
        bearer = token.strip() if scheme.lower() == "bearer" and token.strip() else None
        request_id = _request_id(request)
        request.state.xrm_request_id = request_id
        if isinstance(request, Request) and isinstance(response, Response):
            # The sub-response: process_result sets its status, create_response its type.
            response.media_type = _media_type(request)
            request.state.xrm_response = response
        actor = None
        if bearer is None and isinstance(request, Request):
            actor = await self._cookie_actor(request)
        context = RequestContext(self.services, actor, request_id, token=bearer)
        context.express_key = getattr(request.state, "xrm_express_key", None)
        return context

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
            # GraphQL over HTTP: a mutation over GET is 405 Method Not Allowed.
            status = 405 if request_adapter.method == "GET" else 400
            raise HTTPException(status, e.as_http_error_reason(request_adapter.method)) from e
        except MissingQueryError as e:
            raise HTTPException(400, "No GraphQL query found in the request") from e

    def _execute(
        self, data: GraphQLRequestData, context: RequestContext, allowed: set[OperationType]
    ) -> ExecutionResult:
        if data.query is None:
            raise MissingQueryError
        try:
            # Parsed once, with the token limit, before anything else: whatever the
            # caller sends, with or without a token, costs at most that many tokens.
            try:
                document = parse_document(data.query, self.limits.max_tokens)
            except LimitExceeded as exc:
                return _refused(exc)
            if isinstance(document, GraphQLError):
                return ExecutionResult(data=None, errors=[document])
            if OperationType.MUTATION not in allowed:
                # Refused by method before anything else, authentication included.
                kind = _operation_kind(document, data.operation_name)
                if kind is not None and kind not in allowed:
                    raise InvalidOperationTypeError(kind)
            context.authenticate()
            schema = self.schemas.current(context)
            if context.actor is None and not _only_typename(document):
                message = (
                    "authentication required: send Authorization: Bearer <token> "
                    "(in a browser, sign in at /admin/login and open /graphql again)"
                )
                return _refused(Unauthenticated(message))
            try:
                limits.check(
                    self.limits, document, schema.graphql, data.variables, data.operation_name
                )
            except LimitExceeded as exc:
                return _refused(exc)
            result = schema.execute_sync(
                data.query,
                variable_values=data.variables,
                context_value=context,
                operation_name=data.operation_name,
                allowed_operation_types=allowed,
                document=document,
            )
            if not result.errors:
                self._remember(schema, context)
            extensions = result.extensions
            if context.warnings:
                extensions = {**(extensions or {}), "warnings": context.warnings}
            return ExecutionResult(data=result.data, errors=result.errors, extensions=extensions)
        finally:
            context.close()

    def encode_json(self, data: object) -> bytes:
        return json_bytes(data)

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = sub_response.media_type or JSON
        return response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        request_id = getattr(request.state, "xrm_request_id", "-")
        response: GraphQLHTTPResponse = {}
        if _media_type(request) == GRAPHQL_RESPONSE and _is_request_error(result):
            # GraphQL over HTTP: no data entry, and a 4xx status, for this media type only.
            sub_response = getattr(request.state, "xrm_response", None)
            if sub_response is not None:
                unauthenticated = any(
                    isinstance(e.original_error, Unauthenticated) for e in result.errors or ()
                )
                sub_response.status_code = 401 if unauthenticated else 400
                if unauthenticated:
                    sub_response.headers["www-authenticate"] = "Bearer"
        else:
            response["data"] = result.data
        if result.errors:
            response["errors"] = [_format(e, request_id) for e in result.errors]
        if result.extensions:
            response["extensions"] = result.extensions
        return response
