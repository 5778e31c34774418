"""One sandbox worker process as the host sees it: start it clean, run one rule, kill it.

A worker is a fresh interpreter (``python -I -B``), never a fork of the
threaded server: it inherits no locks, no database connections, no sockets
and no secrets. Its environment is rebuilt from nothing (no ``XRM_*``, no
database URL), it keeps no descriptor but its three pipes (``close_fds``),
and it runs in a session of its own, so a Ctrl-C meant for the server does
not reach it mid-run.

While a rule runs, the host answers the worker's ``call`` messages through
the run's handler and enforces the wall-clock limit: past it, or on anything
a worker should never send, the process is killed with SIGKILL, and the run
fails with a :class:`~xrm.workflows.errors.SandboxError` that says why.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xrm
from xrm.errors import XrmError
from xrm.workflows.errors import RuleRejected, SandboxError
from xrm.workflows.protocol import (
    WORKER_FAILURES,
    Channel,
    ChannelClosed,
    ChannelTimeout,
    ProtocolViolation,
    check_call,
    encode,
    to_plain,
)

log = logging.getLogger("xrm.sandbox")

# Started with -c so the worker does not depend on how the host found the xrm package.
BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from xrm.workflows.worker import main; main(sys.argv[2])"  # noqa: E501
PACKAGE_ROOT = str(Path(xrm.__file__).resolve().parent.parent)
MAX_LOG_LINES = 1000
MAX_LOG_LINE = 2000
CPU_SIGNALS = {-signal.SIGPROF, -signal.SIGXCPU}


@dataclass(frozen=True, slots=True)
class HostCall:
    """One ``get``/``find``/``create``/``update``/``link``/``unlink`` a rule made.

    ``args`` are keyed by the parameter names of CONTRACT §5 (``entity``,
    ``id``, ``filter``, ``limit``, ``values``, ``relationship``, ``from_id``,
    ``to_id``, ``attributes``), already checked for type; ``depth`` counts the
    sandbox runs open in this call chain (1 for a top-level run).
    """

    name: str
    args: Mapping[str, Any]
    depth: int = 1


# A handler answers a call with plain JSON data, or raises an XrmError the rule sees as RecordError.
Handler = Callable[[HostCall], Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one finished run gave back (the pool turns it into a RunResult)."""

    value: Any
    log: tuple[str, ...]
    calls: int


def worker_environment() -> dict[str, str]:
    """The whole environment of a worker: nothing inherited but the time zone."""
    env = {"PATH": os.defpath, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    return env


class WorkerProcess:
    """The host's handle on one worker; used by one thread at a time."""

    def __init__(
        self, *, max_message_bytes: int, memory_ceiling_mb: int, python: str | None = None
    ) -> None:
        config = {"max_message_bytes": max_message_bytes, "memory_ceiling_mb": memory_ceiling_mb}
        self.max_message_bytes = max_message_bytes
        self.proc = subprocess.Popen(
            [python or sys.executable, "-I", "-B", "-c", BOOT, PACKAGE_ROOT, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=worker_environment(),
            cwd="/",
            close_fds=True,
            start_new_session=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        # A frame may carry a full message plus its envelope.
        self.channel = Channel(
            self.proc.stdout.fileno(), self.proc.stdin.fileno(), max_message_bytes + 4096
        )
        self.pid = self.proc.pid
        self.ready = False
        # The pool's start() and a first run may both wait for a new worker's "ready";
        # one reads the channel, the other waits its turn (a pipe has one reader at a time).
        self._ready_lock = threading.Lock()
        self.runs = 0
        self.retire = False  # replace after this run (a limit broke, or it asked to be)
        self.killed = False

    @property
    def alive(self) -> bool:
        return not self.killed and self.proc.poll() is None

    def wait_ready(self, timeout: float) -> None:
        """Wait for the worker's ``ready``; a worker that cannot start is killed."""
        if self.ready:
            return
        with self._ready_lock:
            if self.ready:
                return
            if self.killed:
                raise SandboxError(
                    "the sandbox could not start a worker to run the rule", reason="crashed"
                )
            self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        try:
            message = self.channel.recv(time.monotonic() + timeout)
            if message.get("op") != "ready":
                raise ProtocolViolation("the first message was not ready")
        except (ChannelClosed, ChannelTimeout, ProtocolViolation) as exc:
            detail = self._stderr_tail()
            self.kill()
            log.error("a sandbox worker did not start (%s): %s", type(exc).__name__, detail)
            raise SandboxError(
                "the sandbox could not start a worker to run the rule", reason="crashed"
            ) from None
        self.ready = True
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def ready_now(self) -> bool:
        """Whether the worker has said ``ready`` (never waits: a new one may still be starting)."""
        if self.ready:
            return True
        if not self._ready_lock.acquire(blocking=False):
            return False  # someone is waiting for it right now
        try:
            return self._ready_now()
        finally:
            self._ready_lock.release()

    def _ready_now(self) -> bool:
        if self.ready:
            return True
        try:
            message = self.channel.recv(time.monotonic())
        except ChannelTimeout:
            return False  # not yet
        except (ChannelClosed, ProtocolViolation):
            self.kill()
            return False
        if message.get("op") != "ready":
            self.kill()
            return False
        self.ready = True
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return True

    def _stderr_tail(self) -> str:
        if self.proc.stderr is None or self.proc.stderr.closed:
            return ""
        try:
            os.set_blocking(self.proc.stderr.fileno(), False)
            data = self.proc.stderr.read(8192) or b""
        except (OSError, ValueError):
            data = b""
        return data.decode("utf-8", "replace").strip().splitlines()[-1:][0] if data.strip() else ""

    def kill(self) -> None:
        """SIGKILL and reap: nothing a rule does can survive or delay this."""
        self.killed = True
        self.retire = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._close()

    def _close(self) -> None:
        self.channel.close()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _death(self, cpu_seconds: float, log_lines: list[str]) -> SandboxError:
        """Why the worker died under a run (it is reaped here)."""
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        if code in CPU_SIGNALS:
            return SandboxError(
                f"the rule used more than {cpu_seconds:g} s of CPU time and was stopped",
                reason="cpu",
                log=log_lines,
            )
        log.warning("sandbox worker %s died under a run (exit status %s)", self.pid, code)
        return SandboxError(
            "the sandbox worker running the rule stopped unexpectedly",
            reason="crashed",
            log=log_lines,
        )

    def run(
        self,
        request: bytes,
        handler: Handler | None,
        *,
        cpu_seconds: float,
        wall_seconds: float,
        memory_mb: int,
        max_calls: int,
        depth: int,
        nested: Callable[[], float] = lambda: 0.0,
    ) -> Outcome:
        """Run one rule (``request``: an encoded ``run`` frame).

        ``nested`` tells how many seconds rules run by this one's calls have
        taken so far; the wall clock does not count them.

        Raises RuleRejected or SandboxError, killing the worker when it broke a
        limit or the protocol; an exception from the handler other than an
        XrmError also kills it (the worker is mid-run) and reaches the caller.
        """
        self.runs += 1
        deadline = time.monotonic() + wall_seconds
        lines: list[str] = []
        calls = 0
        try:
            self.channel.send(request, deadline)
            while True:
                message = self.channel.recv(deadline)
                op = message["op"]
                if op == "log":
                    _add_line(lines, message.get("line"))
                elif op == "call":
                    check_call(message)
                    calls += 1
                    before = nested()
                    reply = self._answer(handler, message, calls > max_calls, depth)
                    # Rules that this call's write fired ran under limits of their own: their
                    # time is not this rule's (the database's time is).
                    deadline += nested() - before
                    if time.monotonic() > deadline:
                        raise ChannelTimeout
                    self.channel.send(reply, deadline)
                elif op in ("done", "rejected", "failed"):
                    return self._finish(message, lines, calls, memory_mb)
                else:
                    raise ProtocolViolation(f"unexpected message {op!r}")
        except ChannelTimeout:
            self.kill()
            raise SandboxError(
                f"the rule ran longer than {wall_seconds:g} s and was stopped",
                reason="wall",
                log=lines,
            ) from None
        except ChannelClosed:
            raise self._death(cpu_seconds, lines) from None
        except ProtocolViolation as exc:
            self.kill()
            log.warning("sandbox worker %s broke the protocol: %s", self.pid, exc)
            raise SandboxError(
                "the sandbox worker broke the protocol and was replaced",
                reason="protocol",
                log=lines,
            ) from None
        except (RuleRejected, SandboxError):
            raise
        except BaseException:
            self.kill()
            raise

    def _answer(
        self, handler: Handler | None, message: dict[str, Any], over: bool, depth: int
    ) -> bytes:
        name = message["name"]
        if over:
            return _error_reply("LIMIT_EXCEEDED", "too many calls in one run")
        if handler is None:
            return _error_reply("UNAVAILABLE", f"{name}() is not available here")
        try:
            value = handler(HostCall(name, message["args"], depth))
        except XrmError as exc:
            return _error_reply(exc.code, exc.message)
        reply = encode({"op": "reply", "value": to_plain(value, f"the answer of {name}()")})
        if len(reply) - 4 > self.max_message_bytes:
            return _error_reply(
                "LIMIT_EXCEEDED",
                f"the answer of {name}() is larger than the {self.max_message_bytes} byte limit",
            )
        return reply

    def _finish(
        self, message: dict[str, Any], lines: list[str], calls: int, memory_mb: int
    ) -> Outcome:
        if message.get("recycle") is True:
            self.retire = True
        op = message["op"]
        if op == "done":
            if "value" not in message:
                raise ProtocolViolation("done without a value")
            return Outcome(message["value"], tuple(lines), calls)
        text = message.get("message")
        if not isinstance(text, str):
            raise ProtocolViolation("an outcome without a message")
        if op == "rejected":
            raise RuleRejected(text[:1000] or "rejected by a rule", log=lines)
        reason = message.get("reason")
        if reason not in WORKER_FAILURES:
            raise ProtocolViolation(f"an unknown failure {reason!r}")
        if reason == "memory":
            self.retire = True
            text = f"the rule needed more than {memory_mb} MB of memory"
        raise SandboxError(text[:2000], reason=reason, log=lines)


def _error_reply(code: str, message: str) -> bytes:
    return encode({"op": "reply", "error": {"code": code, "message": message[:1000]}})


def _add_line(lines: list[str], line: Any) -> None:
    if not isinstance(line, str):
        raise ProtocolViolation("a log line that is not text")
    if len(lines) < MAX_LOG_LINES:
        lines.append(line[:MAX_LOG_LINE])
    elif len(lines) == MAX_LOG_LINES:
        lines.append("(log truncated)")
