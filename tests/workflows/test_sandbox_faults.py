"""Faults from outside a rule: workers killed mid-run or idle, workers that lie or never start.

Each must fail the one run it touches with a clear SandboxError (never hang,
never a traceback to the caller), and the pool must replace the worker and
keep serving.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import assert_serves

from xrm.platform.settings import SandboxSettings
from xrm.workflows.errors import SandboxError
from xrm.workflows.pool import RuleInputs, SandboxPool
from xrm.workflows.process import HostCall


def _busy_pid(pool: SandboxPool) -> int:
    (pid,) = pool.stats().busy_pids
    return pid


def test_a_worker_killed_while_it_waits_for_the_host_fails_the_run() -> None:
    with SandboxPool(SandboxSettings(workers=1)) as pool:
        killed: list[int] = []

        def kill_my_worker(call: HostCall) -> Any:
            pid = _busy_pid(pool)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            time.sleep(0.05)
            return {"id": "c1"}

        with pytest.raises(SandboxError) as caught:
            pool.script("get('customer', 'c1')", RuleInputs(record={}), handler=kill_my_worker)
        assert caught.value.reason == "crashed"
        assert caught.value.message == "the sandbox worker running the rule stopped unexpectedly"
        assert_serves(pool)
        assert killed[0] not in pool.stats().pids


def test_a_worker_killed_while_it_computes_fails_the_run() -> None:
    with SandboxPool(SandboxSettings(workers=1, cpu_seconds=5, wall_seconds=10)) as pool:

        def start_the_killer(call: HostCall) -> Any:
            pid = _busy_pid(pool)
            threading.Timer(0.2, os.kill, (pid, signal.SIGKILL)).start()
            return None

        source = "get('x', 'y')\nlog('looping')\nwhile True:\n    pass"
        with pytest.raises(SandboxError) as caught:
            pool.script(source, handler=start_the_killer)
        assert caught.value.reason == "crashed"
        assert caught.value.log == ("looping",)
        assert_serves(pool)
        assert pool.stats().started == 2


def test_a_worker_killed_while_idle_is_replaced_before_the_next_run() -> None:
    with SandboxPool(SandboxSettings(workers=1)) as pool:
        (pid,) = pool.stats().pids
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
        assert_serves(pool)
        assert pid not in pool.stats().pids


def _fake_python(tmp_path: Path, program: str) -> str:
    """An executable that the pool starts as its 'python': it runs ``program`` instead."""
    script = tmp_path / "fake_worker.py"
    script.write_text(program)
    wrapper = tmp_path / "fake_python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return str(wrapper)


_FAKE_HEAD = """
import json, os, struct, sys, time
def send(data):
    os.write(1, struct.pack('>I', len(data)) + data)
def receive():
    size = struct.unpack('>I', os.read(0, 4))[0]
    data = b''
    while len(data) < size:
        data += os.read(0, size - len(data))
    return json.loads(data)
send(json.dumps({'op': 'ready', 'pid': os.getpid()}).encode())
receive()
"""


@pytest.mark.parametrize(
    ("name", "misbehaviour"),
    [
        ("calls no host function", 'send(b\'{"op": "call", "name": "system", "args": {}}\')'),
        ("sends a frame over the limit", "os.write(1, struct.pack('>I', 2 ** 31))"),
        ("sends what is not JSON", "send(b'\\x80not json')"),
        ("sends an unknown message", 'send(b\'{"op": "shell"}\')'),
        (
            "reports an unknown failure",
            'send(b\'{"op": "failed", "reason": "cpu", "message": ""}\')',
        ),
        ("answers nothing", "time.sleep(30)"),
    ],
)
def test_a_worker_that_breaks_the_protocol_is_killed(
    tmp_path: Path, name: str, misbehaviour: str
) -> None:
    python = _fake_python(tmp_path, _FAKE_HEAD + misbehaviour + "\ntime.sleep(30)\n")
    settings = SandboxSettings(workers=1, wall_seconds=0.5)
    with SandboxPool(settings, python=python) as pool:
        (pid,) = pool.stats().pids
        with pytest.raises(SandboxError) as caught:
            pool.condition("True")
        assert caught.value.reason in ("protocol", "wall")
        assert caught.value.reason == ("wall" if name == "answers nothing" else "protocol")
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped


@pytest.mark.parametrize(
    "greeting",
    [
        "os.write(1, b'hello world')",  # a header announcing a frame far over the limit
        "os.write(1, b'\\x00\\x00\\x00\\x03abc')",  # a frame that is not JSON
        'os.write(1, b\'\\x00\\x00\\x00\\x0e{"op": "done"}\')',  # not ready
    ],
)
def test_a_worker_that_never_says_ready_is_refused(tmp_path: Path, greeting: str) -> None:
    python = _fake_python(tmp_path, f"import os, time\n{greeting}\ntime.sleep(30)\n")
    with SandboxPool(SandboxSettings(workers=2), python=python) as pool:
        for _ in range(3):
            with pytest.raises(SandboxError) as caught:
                pool.condition("True")
            assert caught.value.reason == "crashed"
            assert caught.value.message == "the sandbox could not start a worker to run the rule"
        assert pool.stats().busy_pids == ()


def test_a_python_that_cannot_start_gives_a_clear_error() -> None:
    with SandboxPool(SandboxSettings(workers=1), python="/nonexistent/python") as pool:
        with pytest.raises(SandboxError) as caught:
            pool.condition("True")
        assert caught.value.reason == "crashed"
        assert "could not start a worker" in caught.value.message
