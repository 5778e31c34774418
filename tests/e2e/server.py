"""Start and stop a real ``xrm serve`` process for end-to-end tests."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Protocol

import httpx
import pytest

STARTUP_TIMEOUT_S = 60.0


class ServedDatabase(Protocol):
    """What ``conftest.TestDatabase`` offers: a URL, and the environment to run ``xrm`` in."""

    url: str

    def environment(self) -> dict[str, str]: ...


def xrm_command() -> list[str]:
    beside = Path(sys.executable).with_name("xrm")
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-c", "import sys; from xrm.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(
    database: ServedDatabase,
    log: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    max_open_files: int | None = None,
) -> Iterator[str]:
    """Start ``xrm serve`` with ``args``, wait until ``/healthz`` answers, stop it afterwards.

    ``env`` adds settings (``XRM_*``) to the server's environment; ``max_open_files``
    starts it under that open-file limit (``ulimit -n``).
    """
    with served(database, log, *args, env=env, max_open_files=max_open_files) as (base, _):
        yield base


@contextmanager
def served(
    database: ServedDatabase,
    log: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    max_open_files: int | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """:func:`running_server`, also giving the process (to kill it as a crash would)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def limit_files() -> None:
        if max_open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, max_open_files))

    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*xrm_command(), "--db", database.url, "serve", "--port", str(port), *args],
            env={**database.environment(), **(env or {})},
            preexec_fn=limit_files if max_open_files is not None else None,
            cwd=log.parent,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so workers can be stopped too
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    pytest.fail(
                        f"xrm serve exited with {proc.returncode}:\n{log.read_text()}",
                        pytrace=False,
                    )
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"xrm serve did not answer in time:\n{log.read_text()}", pytrace=False
                    )
                time.sleep(0.2)
            yield base, proc
        finally:
            _stop(proc)


def crash(proc: subprocess.Popen[bytes]) -> None:
    """kill -9 a process started in its own session, with its children (sandbox workers)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
    # Whatever is left of the process group (a stuck worker) is killed outright.
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
