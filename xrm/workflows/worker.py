"""A sandbox worker: a fresh Python process that runs rule code, one run at a time, under limits.

The host starts it (``python -I -B -c BOOT``, see ``xrm.workflows.process``)
with a scrubbed environment and no file descriptors but its three pipes. It
moves the protocol onto private descriptors (so nothing printed can corrupt
it), forbids core dumps and file writes, imports everything a rule may use,
then answers ``run`` messages until its pipe closes. It may not start
processes, and opens few files (the limits are set once start-up is done).

Each run gets new globals and its own copy of the inputs (they arrive as
JSON), and runs under:

- CPU time: ``ITIMER_PROF`` fires after exactly the run's CPU allowance and
  its default action kills the process (no handler, so rule code cannot catch
  it); ``RLIMIT_CPU`` backs it up at the next whole second;
- memory: ``RLIMIT_AS`` at the process's current size plus the run's
  allowance, so an allocation over it fails with MemoryError (the worker then
  asks to be replaced);
- wall-clock time: enforced by the host, which kills the process.

A run's result is converted to plain JSON inside the limits, so an endless
or enormous result costs the rule's own time and memory, not the host's.
"""

from __future__ import annotations

import datetime as dt
import decimal
import gc
import math
import os
import resource
import signal
import traceback
from types import TracebackType
from typing import Any, NoReturn

from xrm.schemas.rule_code import FILENAME, RuleCodeError, compile_rule
from xrm.workflows.guards import RecordError, fresh_globals
from xrm.workflows.protocol import PlainError, encode, read_frame, to_plain, write_frame

MB = 1024 * 1024
MAX_LOG_LINES = 1000
MAX_LOG_LINE = 2000  # characters
MAX_LOG_BYTES = 64 * 1024
MAX_REJECT = 1000  # characters of a reject() message
MAX_ERROR = 500  # characters of an exception message in a failure
MAX_FIND = 500
MAX_FILES = 32  # descriptors: the pipes, /dev/null, /proc/self/statm, and a lazy import or two


class _Rejected(BaseException):
    """Raised by ``reject()``; a BaseException so ``except Exception`` in rules passes it on."""


def _exit() -> NoReturn:
    os._exit(0)


class Worker:
    """The worker's state between runs: its pipes, limits and size."""

    def __init__(self, read_fd: int, write_fd: int, config: dict[str, Any]) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.max_bytes: int = config["max_message_bytes"]
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.statm = os.open("/proc/self/statm", os.O_RDONLY)
        self.start_size = self.size()
        self.memory_ceiling = config["memory_ceiling_mb"] * MB
        # The hard limit leaves room for one run at the ceiling even after the process grew.
        self.hard_as = self.start_size + 2 * self.memory_ceiling + 256 * MB
        resource.setrlimit(resource.RLIMIT_AS, (self.hard_as, self.hard_as))
        self.soft_as = self.hard_as
        self.hard_cpu = resource.getrlimit(resource.RLIMIT_CPU)[1]
        self.soft_cpu = -1
        self.peak_rss = -1
        self.current_size = self.start_size
        self.codes: dict[tuple[str, str], Any] = {}

    def size(self) -> int:
        """The process's virtual size in bytes (what RLIMIT_AS limits)."""
        return int(os.pread(self.statm, 64, 0).split()[0]) * self.page

    def sized(self) -> int:
        """The virtual size, re-read only when the resident peak moved (a cheap hint)."""
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if peak != self.peak_rss:
            self.peak_rss = peak
            self.current_size = self.size()
        return self.current_size

    def code(self, source: str, mode: str) -> Any:
        """Compiled rule code, cached in this worker by source (a dict lookup per run)."""
        key = (mode, source)
        found = self.codes.get(key)
        if found is None:
            found = compile_rule(source, mode)  # type: ignore[arg-type]
            if len(self.codes) >= 512:
                self.codes.clear()
            self.codes[key] = found
        return found

    def send(self, message: dict[str, Any]) -> None:
        data = encode(message)
        if len(data) - 4 > self.max_bytes:
            raise PlainError(f"the message is larger than the {self.max_bytes} byte limit")
        write_frame(self.write_fd, data)

    def receive(self) -> dict[str, Any]:
        message = read_frame(self.read_fd, self.max_bytes)
        if message is None:
            _exit()
        return message

    def serve(self) -> NoReturn:
        while True:
            message = self.receive()
            if message.get("op") == "run":
                Run(self, message).execute()
            else:
                _exit()

    def arm(self, cpu_seconds: float, memory_mb: int) -> None:
        """Set the run's limits; each system call is skipped when its value would not change."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = usage.ru_utime + usage.ru_stime
        if not used + cpu_seconds + 1 <= self.soft_cpu <= used + cpu_seconds + 3:
            soft = math.ceil(used + cpu_seconds) + 2
            if self.hard_cpu != resource.RLIM_INFINITY:
                soft = min(soft, self.hard_cpu)
            resource.setrlimit(resource.RLIMIT_CPU, (soft, self.hard_cpu))
            self.soft_cpu = soft
        if usage.ru_maxrss != self.peak_rss:
            self.peak_rss = usage.ru_maxrss
            self.current_size = self.size()
        soft_as = min(self.current_size + memory_mb * MB, self.hard_as)
        if soft_as != self.soft_as:
            resource.setrlimit(resource.RLIMIT_AS, (soft_as, self.hard_as))
            self.soft_as = soft_as
        decimal.setcontext(decimal.Context())  # flags or traps set by the last run are gone
        signal.setitimer(signal.ITIMER_PROF, cpu_seconds)

    def disarm(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0)

    @property
    def grown(self) -> bool:
        """Whether the process grew so much that it should be replaced."""
        return self.sized() > self.start_size + self.memory_ceiling


class Run:
    """One run of rule code: its host functions, log and outcome."""

    def __init__(self, worker: Worker, message: dict[str, Any]) -> None:
        self.worker = worker
        self.message = message
        self.max_calls: int = message["max_calls"]
        self.calls = 0
        self.log_lines = 0
        self.log_bytes = 0
        self.printing = ""
        self.rejected: str | None = None
        self.recycle = False

    # ---- what rule code calls ----

    def _call(self, name: str, args: dict[str, Any]) -> Any:
        if self.calls >= self.max_calls:
            raise RecordError(
                f"a run may call get, find, create, update, link and unlink "
                f"{self.max_calls} times at most",
                "LIMIT_EXCEEDED",
            )
        self.calls += 1
        try:
            plain = to_plain(args, "the arguments")
            self.worker.send({"op": "call", "name": name, "args": plain})
        except PlainError as exc:
            raise TypeError(f"{name}(): {exc}") from None
        reply = self.worker.receive()
        error = reply.get("error")
        if isinstance(error, dict):
            raise RecordError(str(error.get("message", "")), str(error.get("code", "ERROR")))
        return reply.get("value")

    def get(self, entity: str, id: str) -> Any:
        _strings("get", entity=entity, id=id)
        return self._call("get", {"entity": entity, "id": id})

    def find(self, entity: str, filter: dict[str, Any] | None = None, limit: int = 50) -> Any:
        _strings("find", entity=entity)
        if filter is None:
            filter = {}
        if not isinstance(filter, dict):
            raise TypeError("find(): filter must be a dict like {'status': {'eq': 'open'}}")
        if type(limit) is not int or not 1 <= limit <= MAX_FIND:
            raise ValueError(f"find(): limit must be a whole number from 1 to {MAX_FIND}")
        return self._call("find", {"entity": entity, "filter": filter, "limit": limit})

    def create(self, entity: str, values: dict[str, Any]) -> Any:
        _strings("create", entity=entity)
        _dicts("create", values=values)
        return self._call("create", {"entity": entity, "values": values})

    def update(self, entity: str, id: str, values: dict[str, Any]) -> Any:
        _strings("update", entity=entity, id=id)
        _dicts("update", values=values)
        return self._call("update", {"entity": entity, "id": id, "values": values})

    def link(
        self, relationship: str, from_id: str, to_id: str, attributes: dict[str, Any] | None = None
    ) -> Any:
        _strings("link", relationship=relationship, from_id=from_id, to_id=to_id)
        if attributes is not None:
            _dicts("link", attributes=attributes)
        args = {"relationship": relationship, "from_id": from_id, "to_id": to_id}
        return self._call("link", {**args, "attributes": attributes})

    def unlink(self, relationship: str, from_id: str, to_id: str) -> Any:
        _strings("unlink", relationship=relationship, from_id=from_id, to_id=to_id)
        args = {"relationship": relationship, "from_id": from_id, "to_id": to_id}
        return self._call("unlink", args)

    def reject(self, message: Any = "rejected by a rule") -> NoReturn:
        # Sticky: a rule that catches its own rejection is still rejected.
        self.rejected = str(message)[:MAX_REJECT] or "rejected by a rule"
        raise _Rejected

    def log(self, *values: Any) -> None:
        self._emit(" ".join(str(v) for v in values))

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def _emit(self, line: str) -> None:
        if self.log_lines > MAX_LOG_LINES or self.log_bytes > MAX_LOG_BYTES:
            return
        line = line[:MAX_LOG_LINE]
        self.log_lines += 1
        self.log_bytes += len(line)
        if self.log_lines > MAX_LOG_LINES or self.log_bytes > MAX_LOG_BYTES:
            line = "(log truncated)"
        self.worker.send({"op": "log", "line": line})

    def print_collector(self, _getattr_: Any = None) -> PrintCollector:
        return PrintCollector(self)

    def printed(self, text: str) -> None:
        lines = (self.printing + text).split("\n")
        self.printing = lines.pop()
        for line in lines:
            self._emit(line)
        if len(self.printing) > MAX_LOG_LINE:
            self._emit(self.printing)
            self.printing = ""

    # ---- the run itself ----

    def names(self) -> dict[str, Any]:
        inputs = self.message["inputs"]
        return {
            "record": inputs.get("record"),
            "old": inputs.get("old"),
            "event": inputs.get("event"),
            "user": inputs.get("user"),
            "get": self.get,
            "find": self.find,
            "create": self.create,
            "update": self.update,
            "link": self.link,
            "unlink": self.unlink,
            "reject": self.reject,
            "log": self.log,
            "now": self.now,
            "_print_": self.print_collector,
            "_print": PrintCollector(self),
        }

    def outcome(self) -> dict[str, Any]:
        mode = self.message["mode"]
        try:
            code = self.worker.code(self.message["source"], mode)
        except RuleCodeError as exc:
            return {"op": "failed", "reason": "compile", "message": str(exc)}
        scope = fresh_globals(self.names())
        try:
            if mode == "eval":
                value: Any = _truth(eval(code, scope))
            else:
                exec(code, scope)
                value = to_plain(scope.get("record"), "record")
                if self.message["inputs"].get("record") is not None and type(value) is not dict:
                    raise PlainError("record must stay a dict of field values")
            if self.printing:
                self._emit(self.printing)
            return {"op": "done", "value": value}
        except _Rejected:
            return {"op": "rejected", "message": self.rejected}
        except PlainError as exc:
            return {"op": "failed", "reason": "result", "message": str(exc)}
        except MemoryError:
            self.recycle = True
            return {"op": "failed", "reason": "memory", "message": ""}
        except BaseException as exc:  # the rule's own error, whatever it raised
            return {"op": "failed", "reason": "error", "message": _describe(exc)}

    def execute(self) -> None:
        worker = self.worker
        worker.arm(float(self.message["cpu_seconds"]), int(self.message["memory_mb"]))
        try:  # the result is encoded inside the limits: its size is the rule's cost
            result = self.outcome()
            if self.rejected is not None:
                result = {"op": "rejected", "message": self.rejected}
            result["recycle"] = self.recycle or worker.grown
            data = encode(result)
        except MemoryError:
            data = encode({"op": "failed", "reason": "memory", "message": "", "recycle": True})
        except (ValueError, TypeError, RecursionError) as exc:
            message = f"the result cannot be sent: {exc}"[:MAX_ERROR]
            data = encode(
                {"op": "failed", "reason": "result", "message": message, "recycle": False}
            )
        finally:
            worker.disarm()
        if len(data) - 4 > worker.max_bytes:
            message = f"the result is larger than the {worker.max_bytes} byte limit"
            data = encode(
                {"op": "failed", "reason": "result", "message": message, "recycle": False}
            )
        write_frame(worker.write_fd, data)


class PrintCollector:
    """RestrictedPython's ``print``: every line goes to the run's log."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._text: list[str] = []

    def __call__(self) -> str:  # the ``printed`` name
        return "".join(self._text)

    def _call_print(self, *objects: Any, sep: str | None = " ", end: str | None = "\n") -> None:
        text = (" " if sep is None else str(sep)).join(str(o) for o in objects)
        text += "\n" if end is None else str(end)
        if sum(len(t) for t in self._text) < MAX_LOG_BYTES:
            self._text.append(text)
        self._run.printed(text)


def _strings(function: str, **values: Any) -> None:
    for name, value in values.items():
        if not isinstance(value, str):
            raise TypeError(f"{function}(): {name} must be a string, not {type(value).__name__}")


def _dicts(function: str, **values: Any) -> None:
    for name, value in values.items():
        if not isinstance(value, dict):
            raise TypeError(f"{function}(): {name} must be a dict, not {type(value).__name__}")


def _truth(value: Any) -> bool:
    """A condition's value as a bool; only plain values have an obvious truth."""
    if value is None:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | dict | set | decimal.Decimal):
        return bool(value)
    raise PlainError(f"the condition gave a {type(value).__name__}; it must give True or False")


def _rule_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(exc: BaseException) -> str:
    """``line 3: ZeroDivisionError: division by zero``, from the rule's own frames only."""
    try:
        text = str(exc)
    except Exception:
        text = ""
    name = type(exc).__name__
    if isinstance(exc, RecordError):
        name = f"RecordError ({exc.code})"
    elif isinstance(exc, RecursionError):
        text = "the rule recursed too deeply"
    described = f"{name}: {text[:MAX_ERROR]}" if text else name
    line = _rule_line(exc.__traceback__)
    return f"line {line}: {described}" if line else described


def _isolate() -> tuple[int, int]:
    """Move the protocol off fds 0 and 1, so a stray print cannot corrupt it."""
    read_fd, write_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    return read_fd, write_fd


def _warm_up() -> None:
    """Compile and run one rule, and touch lazily imported parts, before the first real run."""
    dt.datetime.strptime("2000-01-02", "%Y-%m-%d")  # imports _strptime now, not in a run
    code = compile_rule("import math, re, datetime, decimal, json, statistics\nx = [1]", "exec")
    exec(code, fresh_globals({}))


def main(config_text: str) -> NoReturn:
    import json

    config = json.loads(config_text)
    read_fd, write_fd = _isolate()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    for sig in (signal.SIGPROF, signal.SIGXCPU):
        signal.signal(sig, signal.SIG_DFL)
    worker = Worker(read_fd, write_fd, config)
    _warm_up()
    # Past start-up a worker needs no new process and few files; an escaped rule gets neither
    # (RLIMIT_NPROC binds unprivileged users: it counts their processes).
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_FILES, MAX_FILES))
    gc.collect()
    gc.freeze()  # the interpreter's own objects need no more collecting
    worker.send({"op": "ready", "pid": os.getpid()})
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)  # start-up errors went to the host; nothing after that needs reading
    os.close(null)
    try:
        worker.serve()
    except BaseException:  # a broken worker leaves; the host sees its pipe close
        traceback.print_exc()
        _exit()
