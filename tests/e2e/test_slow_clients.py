"""Slow and idle clients cannot exhaust a real ``xrm serve`` (issue 10, points 6 and 11).

Real sockets against a real server process. No test measures time: each
states what must happen (the slow client is disconnected, the refusal comes
before the body, ``/healthz`` answers) and gives the server a bounded number
of chances to do it.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from server import ServedDatabase, running_server

pytestmark = pytest.mark.slow


def address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed this connection (EOF or reset), without waiting."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(65536) == b""
    except OSError:
        return True


@contextlib.contextmanager
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    try:
        yield opened
    finally:
        for sock in opened:
            sock.close()


def healthy(base: str) -> bool:
    response = httpx.get(f"{base}/healthz", timeout=15)
    return response.status_code == 200 and response.json() == {"status": "ok"}


def test_a_client_trickling_its_headers_is_disconnected(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    settings = {"XRM_HTTP_HEADER_TIMEOUT": "2"}
    log = tmp_path / "serve.log"
    with running_server(test_database, log, env=settings) as base, sockets() as opened:
        trickler = socket.create_connection(address(base))
        silent = socket.create_connection(address(base))
        opened += [trickler, silent]
        trickler.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        disconnected = False
        # One more header line every half second, for up to 40 lines: far past the
        # two seconds the head may take, and a server without the deadline never
        # closes such a connection.
        for line in range(40):
            time.sleep(0.5)
            if closed_by_server(trickler):
                disconnected = True
                break
            try:
                trickler.sendall(f"X-Slow-{line}: y\r\n".encode())
            except OSError:
                disconnected = True
                break
        assert disconnected, "a client trickling header lines kept its connection"
        assert closed_by_server(silent) or _closes_soon(silent), "an idle connection stayed"
        assert healthy(base)
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def _closes_soon(sock: socket.socket) -> bool:
    for _ in range(40):
        time.sleep(0.25)
        if closed_by_server(sock):
            return True
    return False


def test_healthz_answers_while_many_idle_connections_are_open(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    # A long head deadline, so that only the connection cap can free places here.
    settings = {"XRM_HTTP_MAX_CONNECTIONS": "50", "XRM_HTTP_HEADER_TIMEOUT": "600"}
    log = tmp_path / "serve.log"
    with running_server(test_database, log, env=settings) as base, sockets() as opened:
        for _ in range(200):
            sock = socket.create_connection(address(base))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            opened.append(sock)
        for _ in range(5):
            assert healthy(base)
        closed = 0
        for _ in range(100):  # let the server's closing reach these sockets
            closed = sum(closed_by_server(s) or s.fileno() == -1 for s in opened)
            if closed >= 150:
                break
            time.sleep(0.1)
        # The server kept at most its 50 places: the oldest idle ones were closed.
        assert closed >= 150, f"only {closed} of 200 idle connections were closed"


def test_more_idle_connections_than_open_files_leave_healthz_answering(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    with running_server(test_database, log, max_open_files=256) as base, sockets() as opened:
        for _ in range(400):
            sock = socket.create_connection(address(base))
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            opened.append(sock)
            time.sleep(0.005)  # a steady stream, as an attacker's would be
        for _ in range(5):
            assert healthy(base)
    assert "open-file limit is 256" in log.read_text()


def read_response(sock: socket.socket) -> bytes:
    """What the server answered, up to its closing or 30 s of silence."""
    sock.settimeout(30)
    received = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received and received.endswith(b"}"):
                break
    return received


def test_bodies_over_the_limit_are_refused_before_they_are_sent(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    settings = {"XRM_MAX_BODY_MB": "1", "XRM_HTTP_BODY_TIMEOUT": "2"}
    with running_server(test_database, tmp_path / "serve.log", env=settings) as base:
        host, port = address(base)
        head = (
            "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: {length}\r\n\r\n"
        )
        with sockets() as opened:
            # 100 MB announced, nothing sent: refused at once, not after waiting for it.
            declared = socket.create_connection((host, port))
            opened.append(declared)
            declared.sendall(head.format(length=100 * 1024 * 1024).encode())
            answer = read_response(declared)
            assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
            assert b'"LIMIT_EXCEEDED"' in answer
            # Chunked, no length: refused once past the limit, while it is still coming.
            chunked = socket.create_connection((host, port))
            opened.append(chunked)
            chunked.sendall(
                b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"x" * 65536
            with contextlib.suppress(OSError):
                for _ in range(24):  # 1.5 MB
                    chunked.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            assert read_response(chunked).startswith(b"HTTP/1.1 413")
            # A body that stops coming: 408, the connection is not held.
            stalled = socket.create_connection((host, port))
            opened.append(stalled)
            stalled.sendall(head.format(length=100).encode() + b'{"query": ')
            assert read_response(stalled).startswith(b"HTTP/1.1 408")
        assert healthy(base)
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
