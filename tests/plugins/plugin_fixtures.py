"""Fixtures of the plugin tests (``pytest_plugins = ["plugin_fixtures"]``): a sandbox pool,
the built-in catalog wired to the plugins the way app.py wires it, a job worker on a
clock the test moves, and a recording HTTP receiver on 127.0.0.1.

(Not a conftest.py: the suite's modules import the root conftest by name.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from xrm.entities.events import Listeners
from xrm.entities.records import RecordService
from xrm.platform.db import Database
from xrm.platform.jobs import Backoff, Worker, WorkerConfig
from xrm.platform.settings import PluginSettings, SandboxSettings, Settings
from xrm.plugins.manager import Plugins, load
from xrm.workflows.engine import WorkflowEngine
from xrm.workflows.pool import SandboxPool

SAMPLE = Path(__file__).parent / "sample_plugin"


@pytest.fixture
def sample_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Install the sample package the way pip's editable install does: its source on
    sys.path and a ``*.dist-info`` with the entry points its own pyproject.toml declares."""
    project = tomllib.loads((SAMPLE / "pyproject.toml").read_text())["project"]
    info = tmp_path / f"xrm_sample_plugin-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = [
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items())
        for group, points in project["entry-points"].items()
    ]
    (info / "entry_points.txt").write_text("\n".join(lines))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(SAMPLE / "src"))
    yield
    sys.modules.pop("xrm_sample_plugin", None)


@pytest.fixture(scope="session")
def plugin_pool() -> Iterator[SandboxPool]:
    with SandboxPool(SandboxSettings(workers=1)) as shared:
        yield shared


@dataclass
class Wired:
    """The process as app.py builds it: plugins, registry, records, engine, and a worker."""

    settings: Settings
    plugins: Plugins
    records: RecordService
    engine: WorkflowEngine
    ahead: list[dt.timedelta] = field(default_factory=lambda: [dt.timedelta(0)])

    @property
    def db(self) -> Database:
        return self.records.db

    def worker(self) -> Worker:
        config = WorkerConfig(
            poll_seconds=0.02,
            concurrency=1,
            lease=dt.timedelta(seconds=60),
            backoff=Backoff(base=dt.timedelta(seconds=10), jitter=0.0),
        )
        handlers = {**self.plugins.job_handlers(self.db), **self.engine.job_handlers()}
        return Worker(
            self.db, handlers, config, clock=lambda: dt.datetime.now(dt.UTC) + self.ahead[0]
        )

    def later(self, seconds: float) -> None:
        """Move the workers' clock on (backoffs pass without waiting)."""
        self.ahead[0] += dt.timedelta(seconds=seconds)


def wire(settings: Settings, db: Database, pool: SandboxPool) -> Wired:
    plugins = load(settings)
    plugins.prepare(db)
    registry = plugins.registry(db)
    from xrm.entities.catalog import definitions

    registry.apply(definitions())
    records = RecordService(db, registry, settings)
    engine = WorkflowEngine(records, pool, plugins.actions, plugins.switched_off())
    plugins.attach(engine)
    records.listener = Listeners(records.listener, *plugins.listeners(db))
    return Wired(settings, plugins, records, engine)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers from a script."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []  # status codes to give, in order; then 200
        self.delay = 0.0
        self.redirect_to: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                outer.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                if outer.delay:
                    time.sleep(outer.delay)
                status = outer.answers.pop(0) if outer.answers else 200
                self.send_response(status)
                if outer.redirect_to:
                    self.send_header("Location", outer.redirect_to)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def make_wired(settings: Settings, db: Database, plugin_pool: SandboxPool) -> Callable[..., Wired]:
    """``make_wired(**plugin_settings)``: the process with these plugin settings."""

    def make(**options: Any) -> Wired:
        changed = dataclasses.replace(settings, plugins=PluginSettings(**options))
        return wire(changed, db, plugin_pool)

    return make
