"""A bounded pool of pre-started sandbox workers, shared by the threads of a server.

Starting a Python costs ~30 ms, a round trip to a running worker tens of
microseconds (shared/notes/sandbox.md), so workers are started ahead and kept:
a run takes an idle worker (waiting up to ``queue_seconds`` when all are
busy), runs, and gives it back. A worker that broke a limit, died, asked to be
replaced or reached ``runs_per_worker`` is killed and a new one is started at
once, before anyone needs it.

Rules can trigger rules: a script's ``create()`` reaches the record service,
whose ``before`` rules run while the first worker waits for the answer. A
nested run therefore never waits for the pool (that could deadlock a full
pool): it takes an idle worker or starts an extra one, which leaves when it
is done. The nesting is tracked per call chain in a context variable, never a
process-wide flag; the rule depth limit itself is the caller's (HostCall.depth
tells it how deep the sandbox is).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from xrm.platform.settings import SandboxSettings
from xrm.schemas.workflows import Limits
from xrm.workflows.errors import SandboxError
from xrm.workflows.process import Handler, WorkerProcess
from xrm.workflows.protocol import PlainError, encode, to_plain

log = logging.getLogger("xrm.sandbox")

STARTUP_SECONDS = 10.0  # a worker that is not ready by then is broken, not slow
MAX_NESTED_EXTRA = 32  # extra workers nested runs may start beyond the pool's size

_depth: ContextVar[int] = ContextVar("xrm_sandbox_depth", default=0)
# Seconds taken by the runs nested in the current one (rules fired by its writes).
_nested: ContextVar[list[float] | None] = ContextVar("xrm_sandbox_nested", default=None)


@dataclass(frozen=True, slots=True)
class RuleInputs:
    """The names a run starts with (CONTRACT §5), as plain JSON data; each run gets a copy."""

    record: Mapping[str, Any] | None = None
    old: Mapping[str, Any] | None = None
    event: Mapping[str, Any] | None = None
    user: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """A finished run: a condition's bool, or a script's ``record`` as it left the script."""

    value: Any
    log: tuple[str, ...]
    duration_ms: float
    calls: int


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot for monitoring and tests."""

    workers: int
    idle: int
    started: int  # processes started since the pool was made
    pids: tuple[int, ...]
    busy_pids: tuple[int, ...]


class SandboxPool:
    """Pre-started sandbox workers; thread-safe; ``with SandboxPool(settings) as pool: ...``."""

    def __init__(self, settings: SandboxSettings | None = None, *, python: str | None = None):
        self.settings = settings or SandboxSettings()
        s = self.settings
        self.defaults = Limits(s.cpu_seconds, s.wall_seconds, s.memory_mb)
        self.ceiling = Limits(s.max_cpu_seconds, s.max_wall_seconds, s.max_memory_mb)
        self._python = python
        self._lock = threading.Condition()
        self._idle: list[WorkerProcess] = []
        self._workers: set[WorkerProcess] = set()
        self._starting = 0
        self._started = 0
        self._running = False

    # ---- life cycle ----

    def start(self, *, wait: bool = True) -> None:
        """Start the workers; with ``wait``, return once they are ready for a first run."""
        with self._lock:
            if self._running:
                return
            self._running = True
            self._starting += self.settings.workers
        fresh = [self._spawn() for _ in range(self.settings.workers)]
        if wait:
            for worker in fresh:
                if worker is not None:
                    with contextlib.suppress(
                        SandboxError
                    ):  # already logged and killed; the next run starts another
                        worker.wait_ready(STARTUP_SECONDS)

    def stop(self) -> None:
        """Stop idle workers now and busy ones when their run ends; runs after this fail."""
        with self._lock:
            self._running = False
            idle, self._idle = self._idle, []
            for worker in idle:
                self._workers.discard(worker)
            self._lock.notify_all()
        for worker in idle:
            worker.kill()  # a worker holds nothing worth a goodbye; SIGKILL is instant

    def __enter__(self) -> SandboxPool:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stats(self) -> PoolStats:
        with self._lock:
            idle = {w.pid for w in self._idle}
            pids = tuple(sorted(w.pid for w in self._workers))
            return PoolStats(
                workers=len(self._workers),
                idle=len(self._idle),
                started=self._started,
                pids=pids,
                busy_pids=tuple(p for p in pids if p not in idle),
            )

    # ---- runs ----

    def condition(
        self,
        source: str,
        inputs: RuleInputs = RuleInputs(),
        *,
        handler: Handler | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        """Evaluate a ``when`` expression; ``value`` is a bool."""
        return self.run("eval", source, inputs, handler=handler, limits=limits)

    def script(
        self,
        source: str,
        inputs: RuleInputs = RuleInputs(),
        *,
        handler: Handler | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        """Run a ``script``; ``value`` is ``record`` after the script (None without a record)."""
        return self.run("exec", source, inputs, handler=handler, limits=limits)

    def run(
        self,
        mode: Literal["eval", "exec"],
        source: str,
        inputs: RuleInputs = RuleInputs(),
        *,
        handler: Handler | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        """Run rule code in a worker; raises RuleRejected or SandboxError.

        ``handler`` answers the rule's get/find/create/update/link/unlink calls
        (in the calling thread, so in the caller's transaction); ``limits`` are the
        workflow's own, filled from the defaults and capped by the ceiling.
        """
        resolved = (limits or Limits()).over(self.defaults).within(self.ceiling)
        assert resolved.cpu_seconds and resolved.wall_seconds and resolved.memory_mb
        request = self._request(mode, source, inputs, resolved)
        depth = _depth.get() + 1
        worker = self._acquire(nested=depth > 1)
        token = _depth.set(depth)
        parent, inner = _nested.get(), [0.0]
        nested_token = _nested.set(inner)
        started = time.perf_counter()
        try:
            outcome = worker.run(
                request,
                handler,
                cpu_seconds=resolved.cpu_seconds,
                wall_seconds=resolved.wall_seconds,
                memory_mb=resolved.memory_mb,
                max_calls=self.settings.max_calls,
                depth=depth,
                nested=lambda: inner[0],
            )
        finally:
            _nested.reset(nested_token)
            _depth.reset(token)
            self._release(worker)
            if parent is not None:
                parent[0] += time.perf_counter() - started
        elapsed = (time.perf_counter() - started) * 1000
        return RunResult(outcome.value, outcome.log, elapsed, outcome.calls)

    def _request(self, mode: str, source: str, inputs: RuleInputs, limits: Limits) -> bytes:
        if mode not in ("eval", "exec") or not isinstance(source, str):
            raise ValueError("mode is 'eval' or 'exec', and source is text")
        try:
            plain = {
                name: to_plain(getattr(inputs, name), name)
                for name in ("record", "old", "event", "user")
            }
            data = encode(
                {
                    "op": "run",
                    "mode": mode,
                    "source": source,
                    "inputs": plain,
                    "cpu_seconds": limits.cpu_seconds,
                    "memory_mb": limits.memory_mb,
                    "max_calls": self.settings.max_calls,
                }
            )
        except (PlainError, ValueError, TypeError) as exc:
            raise SandboxError(f"the rule's input cannot be sent: {exc}", reason="input") from None
        if len(data) - 4 > self.settings.max_message_bytes:
            raise SandboxError(
                f"the record and the code are larger than the sandbox's message limit "
                f"({len(data) - 4} bytes, limit {self.settings.max_message_bytes})",
                reason="input",
            )
        return data

    # ---- workers ----

    def _spawn(self) -> WorkerProcess | None:
        """Start one worker (its slot was counted in ``_starting``) and make it idle."""
        worker = None
        try:
            worker = WorkerProcess(
                max_message_bytes=self.settings.max_message_bytes,
                memory_ceiling_mb=self.settings.max_memory_mb,
                python=self._python,
            )
        except OSError as exc:
            log.error("cannot start a sandbox worker: %s", exc)
        with self._lock:
            self._starting -= 1
            if worker is not None:
                self._started += 1
                if self._running:
                    self._workers.add(worker)
                    self._idle.append(worker)
            self._lock.notify()
        if worker is not None and not self._running:
            worker.kill()
            return None
        return worker

    def _acquire(self, *, nested: bool) -> WorkerProcess:
        deadline = time.monotonic() + self.settings.queue_seconds
        while True:
            worker = self._take(nested, deadline)
            if worker is None:
                worker = self._spawn_for_me()
            if worker.killed:  # found broken while it was picked
                self._forget(worker)
                continue
            try:
                worker.wait_ready(STARTUP_SECONDS)
            except SandboxError:
                self._forget(worker)
                raise
            if worker.alive:
                return worker
            self._forget(worker)  # died while idle (killed from outside): take another

    def _take(self, nested: bool, deadline: float) -> WorkerProcess | None:
        """An idle worker, or None when the caller may start one itself."""
        size = self.settings.workers
        with self._lock:
            while True:
                if not self._running:
                    raise SandboxError("the sandbox is not running", reason="stopped")
                if self._idle:
                    return self._pick()
                total = len(self._workers) + self._starting
                if total < size or (nested and total < size + MAX_NESTED_EXTRA):
                    self._starting += 1
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0 or nested:
                    raise SandboxError(
                        f"all {size} sandbox workers stayed busy for "
                        f"{self.settings.queue_seconds:g} s",
                        reason="busy",
                    )
                self._lock.wait(remaining)

    def _pick(self) -> WorkerProcess:
        """The most recently used idle worker that is ready; else the newest still starting."""
        for index in range(len(self._idle) - 1, -1, -1):
            if self._idle[index].ready_now():
                return self._idle.pop(index)
        return self._idle.pop()

    def _spawn_for_me(self) -> WorkerProcess:
        try:
            worker = WorkerProcess(
                max_message_bytes=self.settings.max_message_bytes,
                memory_ceiling_mb=self.settings.max_memory_mb,
                python=self._python,
            )
        except OSError as exc:
            with self._lock:
                self._starting -= 1
                self._lock.notify()
            log.error("cannot start a sandbox worker: %s", exc)
            raise SandboxError("the sandbox could not start a worker", reason="crashed") from None
        with self._lock:
            self._starting -= 1
            self._started += 1
            self._workers.add(worker)
        return worker

    def _forget(self, worker: WorkerProcess) -> None:
        if worker.alive:
            worker.kill()
        with self._lock:
            self._workers.discard(worker)
            self._lock.notify()

    def _release(self, worker: WorkerProcess) -> None:
        replace = worker.retire or not worker.alive or worker.runs >= self.settings.runs_per_worker
        with self._lock:
            if not replace and self._running and len(self._workers) <= self.settings.workers:
                self._idle.append(worker)
                self._lock.notify()
                return
            self._workers.discard(worker)
            refill = self._running and len(self._workers) + self._starting < self.settings.workers
            if refill:
                self._starting += 1
            self._lock.notify()
        if worker.alive:
            worker.kill()  # nothing to clean up in a worker; SIGKILL is instant
        if refill:
            self._spawn()
