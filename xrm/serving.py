"""How ``xrm serve`` runs uvicorn so that slow or idle clients cannot exhaust the server.

uvicorn has a keep-alive timeout (``timeout_keep_alive``, idle time between
requests) but nothing that limits how long a client may take to send a
request's head: its keep-alive timer is cancelled by every byte received, so
a client trickling one header line every few seconds keeps its connection,
and its file descriptor, forever. Its ``limit_concurrency`` answers 503 to
everyone once that many connections are open, idle ones included, so it
cannot keep ``/healthz`` answering under such an attack either.

So the HTTP protocol uvicorn runs (``Config.http`` takes a protocol class) is
its own, wrapped with two guards:

- a **head deadline**: from the moment a connection opens, or a kept-alive
  connection starts its next request, the request line and headers must
  arrive within ``XRM_HTTP_HEADER_TIMEOUT`` seconds (and within
  ``XRM_MAX_BODY_MB``), else the connection is closed;
- a **connection cap** per server process (``XRM_HTTP_MAX_CONNECTIONS``,
  lowered to what the process's open-file limit allows): a new connection
  beyond it closes the oldest connection that has no request in progress
  (idle, or still sending its head), so a real client always gets in ahead
  of idle ones; when every connection is busy answering, it is refused.

The request body has its own deadline and size cap (``xrm.request_body``),
enforced where the application reads it.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from xrm.platform.settings import Settings

log = logging.getLogger("xrm.serving")

# File descriptors a server process needs beside its client connections
# (database connections, the SQLite WAL, logs, the event loop, worker pipes).
RESERVED_FILES = 100


@dataclass(frozen=True, slots=True)
class Guard:
    """What the protocol enforces; one per server process."""

    header_timeout: float
    max_connections: int
    max_head_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Guard:
        return cls(
            header_timeout=float(settings.http_header_timeout),
            max_connections=fit_open_files(settings.http_max_connections),
            max_head_bytes=settings.max_body_bytes,
        )


_guard: Guard | None = None
# This process's open connections, oldest first (a dict keeps insertion order).
_open: dict[Any, None] = {}


def configure(settings: Settings) -> Guard:
    """Set this process's guard from ``settings`` (each uvicorn worker process calls it)."""
    global _guard
    _guard = Guard.from_settings(settings)
    return _guard


def _current() -> Guard:
    return _guard if _guard is not None else configure(Settings.from_env())


def fit_open_files(wanted: int) -> int:
    """The connection cap this process can keep: raise the open-file limit to fit
    ``wanted`` connections if allowed, else lower the cap to what fits, and say so."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < needed:
        fitted = max(1, soft - RESERVED_FILES)
        log.warning(
            "xrm: the open-file limit is %d, so at most %d connections (not %d) are kept "
            "open; raise it with ulimit -n",
            soft,
            fitted,
            wanted,
        )
        return fitted
    return wanted


class _Guarded:
    """Mixed in before one of uvicorn's HTTP protocols; see the module docstring."""

    transport: Any
    cycle: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard = _current()
        self._timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._waiting_past: Any = None
        self._admitted = False
        if len(_open) >= guard.max_connections and not _evict_one():
            _warn_refusing(len(_open))
            transport.close()
            return
        self._admitted = True
        _open[self] = None
        super().connection_made(transport)  # type: ignore[misc]
        self._await_head(guard)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        _open.pop(self, None)
        self._stop_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        guard = _current()
        if self._timer is None and (self.cycle is None or self.cycle.response_complete):
            self._await_head(guard)  # the first bytes of a kept-alive connection's next request
        if self._timer is not None:
            self._head_bytes += len(data)
            if self._head_bytes > guard.max_head_bytes:
                self._close("its request head is larger than the body limit")
                return
        super().data_received(data)  # type: ignore[misc]
        if self._timer is not None and self.cycle is not self._waiting_past:
            self._stop_timer()  # a new request began: its head is complete

    @property
    def busy(self) -> bool:
        """Answering a request (its head arrived, its response is not complete)."""
        return self._timer is None and self.cycle is not None and not self.cycle.response_complete

    def _await_head(self, guard: Guard) -> None:
        self._stop_timer()
        self._head_bytes = 0
        self._waiting_past = self.cycle
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(guard.header_timeout, self._head_too_slow)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_too_slow(self) -> None:
        self._timer = None
        self._close("it sent no complete request head in time")

    def _close(self, why: str) -> None:
        log.info("xrm: closed a connection: %s", why)
        self._stop_timer()
        _open.pop(self, None)
        if not self.transport.is_closing():
            self.transport.abort()


_last_warning = 0.0


def _warn_refusing(busy: int) -> None:
    """Say so when connections are refused, once a minute at most (an attack is many)."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= 60:
        _last_warning = now
        log.warning(
            "xrm: all %d connections are busy answering requests; refusing new ones "
            "(XRM_HTTP_MAX_CONNECTIONS)",
            busy,
        )


def _evict_one() -> bool:
    """Close the oldest connection with no request in progress; False if every one is busy."""
    for connection in _open:
        if not connection.busy:
            connection._close("a newer connection needed its place")
            return True
    return False


class GuardedH11Protocol(_Guarded, H11Protocol):
    """uvicorn's h11 protocol with xrm's head deadline and connection cap."""


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional in uvicorn; h11 then serves
    GuardedProtocol: type[asyncio.Protocol] = GuardedH11Protocol
else:

    class GuardedHttpToolsProtocol(_Guarded, HttpToolsProtocol):
        """uvicorn's httptools protocol with xrm's head deadline and connection cap."""

    GuardedProtocol = GuardedHttpToolsProtocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The options ``xrm serve`` hands to ``uvicorn.run`` for ``settings``."""
    return {
        "http": GuardedProtocol,
        "timeout_keep_alive": settings.http_keep_alive_timeout,
    }
