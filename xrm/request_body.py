"""ASGI middleware: a request body is at most ``XRM_MAX_BODY_MB`` and arrives in time.

Every request passes here before any route reads its body (``/graphql`` and the
admin UI's form posts alike), so the cap holds before anything is parsed,
authenticated or not: a declared ``Content-Length`` over the cap is refused at
once, unread; a body without one (chunked) is counted while it is read and
refused as soon as it passes the cap. Either way the answer is 413, with a
GraphQL-shaped body (``LIMIT_EXCEEDED``) on ``/graphql`` and a line of text
elsewhere. A body still arriving ``XRM_HTTP_BODY_TIMEOUT`` seconds after its
request began is answered 408, so a client trickling one cannot hold a
request open for long.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _BodyRefused(Exception):
    def __init__(self, status: int, message: str, limit: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.limit = limit


class RequestBodyLimit:
    """Refuse (413) bodies over ``max_bytes`` and (408) bodies slower than ``timeout``."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    def _too_large(self) -> _BodyRefused:
        megabytes = self.max_bytes / (1024 * 1024)
        shown = f"{megabytes:g} MB" if megabytes >= 1 else f"{self.max_bytes} bytes"
        return _BodyRefused(
            413, f"the request body is larger than {shown} (XRM_MAX_BODY_MB)", "body"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _answer(scope, send, self._too_large())
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        received = 0
        complete = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()  # after the body: waiting for a disconnect is fine
            remaining = deadline - loop.time()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(remaining, 0.001))
            except TimeoutError:
                raise _BodyRefused(
                    408,
                    f"the request body did not arrive within {self.timeout:g} seconds",
                    "bodyTimeout",
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _BodyRefused as refused:
            if started:
                raise  # too late for a clean answer; the server closes the connection
            await _answer(scope, send, refused)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer(scope: Scope, send: Send, refused: _BodyRefused) -> None:
    """The refusal, and ``Connection: close``: the unread rest of the body is not wanted."""
    if scope.get("path", "").rstrip("/") == "/graphql":
        document: dict[str, Any] = {
            "errors": [
                {
                    "message": refused.message,
                    "extensions": {"code": "LIMIT_EXCEEDED", "limit": refused.limit},
                }
            ]
        }
        body, media = orjson.dumps(document), b"application/json"
    else:
        body, media = refused.message.encode(), b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", media),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
