"""The wire between the host and a sandbox worker: length-prefixed JSON frames, capped both ways.

Every frame is a 4-byte big-endian length and a UTF-8 JSON object with an
``op`` (orjson: a few microseconds a message, where the json module takes
tens). Nothing is pickled: values cross as plain JSON (:func:`to_plain`
converts dates and decimals, and refuses generators, sets, cycles and the
like with the path of the offending value), so a worker can hand the host
nothing but data. The host side (:class:`Channel`) reads with a deadline and
treats anything unexpected from a worker as a :class:`ProtocolViolation`.

host -> worker: ``run`` (mode, source, inputs, limits), ``reply`` (to a call:
``value`` or ``error``), ``stop``.
worker -> host: ``ready``, ``call`` (name, args), ``log`` (line), and one of
``done`` (value), ``rejected`` (message), ``failed`` (reason, message) per run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
import select
import struct
import time
import uuid
from typing import Any

import orjson

HEADER = struct.Struct(">I")
MAX_DEPTH = 64  # nesting of a plain value
MIN_INT, MAX_INT = -(2**63), 2**64 - 1  # what JSON readers hold exactly
# The host functions of CONTRACT §5 and their parameters as sent: (name, accepted types).
CALLS: dict[str, tuple[tuple[str, tuple[type, ...]], ...]] = {
    "get": (("entity", (str,)), ("id", (str,))),
    "find": (("entity", (str,)), ("filter", (dict,)), ("limit", (int,))),
    "create": (("entity", (str,)), ("values", (dict,))),
    "update": (("entity", (str,)), ("id", (str,)), ("values", (dict,))),
    "link": (
        ("relationship", (str,)),
        ("from_id", (str,)),
        ("to_id", (str,)),
        ("attributes", (dict, type(None))),
    ),
    "unlink": (("relationship", (str,)), ("from_id", (str,)), ("to_id", (str,))),
}
WORKER_FAILURES = frozenset({"compile", "error", "memory", "result"})


class PlainError(ValueError):
    """A value that cannot leave the sandbox as JSON; the message names where it is."""


class ProtocolViolation(Exception):
    """A frame no well-behaved peer sends."""


class ChannelClosed(Exception):
    """The other end is gone (the worker died, or the host closed the pipe)."""


class ChannelTimeout(Exception):
    """The deadline passed while waiting for the other end."""


def to_plain(value: Any, path: str = "value", depth: int = 0) -> Any:
    """``value`` as plain JSON data: dates and times in ISO 8601, decimals as strings."""
    if value is None or value is True or value is False or type(value) is str:
        return value
    if depth > MAX_DEPTH:
        raise PlainError(f"{path} is nested more than {MAX_DEPTH} levels deep (or contains itself)")
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise PlainError(f"{path} is an integer beyond 64 bits; use a string or a Decimal")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PlainError(f"{path} is {value}, which JSON cannot hold")
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        plain = {}
        for key, item in value.items():
            if type(key) is not str:
                raise PlainError(f"{path} has a key {key!r} that is not a string")
            plain[key] = to_plain(item, f"{path}.{key[:40]}", depth + 1)
        return plain
    if isinstance(value, list | tuple):
        return [to_plain(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise PlainError(f"{path} is {value}, which JSON cannot hold")
        return format(value, "f") if -30 < value.adjusted() < 30 else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise PlainError(
        f"{path} is a {type(value).__name__}, which cannot leave the sandbox "
        "(use str, int, float, bool, None, list, dict, Decimal or a date)"
    )


def encode(message: dict[str, Any]) -> bytes:
    """One frame: header and compact JSON; raises TypeError for what JSON cannot hold."""
    payload = orjson.dumps(message)
    return HEADER.pack(len(payload)) + payload


def decode(payload: bytes) -> dict[str, Any]:
    """A frame's JSON object; anything else is a protocol violation."""
    try:
        message = orjson.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise ProtocolViolation(f"a frame is not JSON: {type(exc).__name__}") from None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolViolation("a frame is not a message")
    return message


def check_call(message: dict[str, Any]) -> None:
    """A ``call`` frame must name a host function and carry exactly its arguments."""
    name = message.get("name")
    args = message.get("args")
    if name not in CALLS or not isinstance(args, dict):
        raise ProtocolViolation("a call names no host function")
    params = CALLS[name]
    if set(args) != {p for p, _ in params}:
        raise ProtocolViolation(f"a call to {name} has the wrong arguments")
    for param, kinds in params:
        value = args[param]
        if type(value) is bool or not isinstance(value, kinds):
            raise ProtocolViolation(f"a call to {name} has a bad {param}")


# ---- the worker's side: blocking reads and writes on its own pipe ends ----


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, max_bytes: int) -> dict[str, Any] | None:
    """The next message, or None when the host has closed the pipe."""
    head = _read_exact(fd, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > max_bytes:
        raise ProtocolViolation("a frame from the host is too large")
    payload = _read_exact(fd, size)
    if payload is None:
        return None
    return decode(payload)


def write_frame(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# ---- the host's side: non-blocking, every wait bounded by a deadline ----


class Channel:
    """The host's end of one worker's pipes; never blocks past a deadline."""

    def __init__(self, read_fd: int, write_fd: int, max_bytes: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.max_bytes = max_bytes
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self._readable = select.poll()
        self._readable.register(read_fd, select.POLLIN)
        self._writable = select.poll()
        self._writable.register(write_fd, select.POLLOUT)
        self._buffer = bytearray()

    @staticmethod
    def _wait(poller: select.poll, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChannelTimeout
        poller.poll(math.ceil(remaining * 1000))

    def close(self) -> None:
        """Forget the descriptors (their owner closes them): a closed number may be reused."""
        self.read_fd = self.write_fd = -1

    def send(self, data: bytes, deadline: float) -> None:
        """Write one encoded frame (see :func:`encode`)."""
        if self.write_fd < 0:
            raise ChannelClosed
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.write_fd, view)
            except BlockingIOError:
                self._wait(self._writable, deadline)
                continue
            except (BrokenPipeError, ConnectionResetError, OSError):
                raise ChannelClosed from None
            view = view[written:]

    def recv(self, deadline: float) -> dict[str, Any]:
        """The next message from the worker."""
        if self.read_fd < 0:
            raise ChannelClosed
        while True:
            if len(self._buffer) >= HEADER.size:
                (size,) = HEADER.unpack_from(self._buffer)
                if size > self.max_bytes:
                    raise ProtocolViolation(f"a frame of {size} bytes is over the limit")
                end = HEADER.size + size
                if len(self._buffer) >= end:
                    payload = bytes(self._buffer[HEADER.size : end])
                    del self._buffer[:end]
                    return decode(payload)
            try:
                chunk = os.read(self.read_fd, 1 << 16)
            except BlockingIOError:
                self._wait(self._readable, deadline)
                continue
            except OSError:
                raise ChannelClosed from None
            if not chunk:
                raise ChannelClosed
            self._buffer += chunk
