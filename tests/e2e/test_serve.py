"""``xrm serve`` as a real server process: it loads the demo, listens, and answers ``/healthz``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from server import STARTUP_TIMEOUT_S, ServedDatabase, running_server

pytestmark = pytest.mark.slow


def test_serve_demo_answers_healthz(test_database: ServedDatabase, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with running_server(test_database, log, "--demo") as base:
        response = httpx.get(f"{base}/healthz", timeout=10)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert httpx.get(f"{base}/no-such-page", timeout=10).status_code == 404
    assert "Traceback" not in log.read_text()


def test_serve_with_two_workers(test_database: ServedDatabase, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with running_server(test_database, log, "--workers", "2") as base:
        for _ in range(20):
            # A new connection each time, so the kernel spreads them over both workers.
            response = httpx.get(f"{base}/healthz", timeout=10)
            assert response.status_code == 200
            assert response.json() == {"status": "ok"}
        deadline = time.monotonic() + STARTUP_TIMEOUT_S  # liveness, not speed
        while log.read_text().count("Started server process") < 2:
            assert time.monotonic() < deadline, f"two workers did not start:\n{log.read_text()}"
            time.sleep(0.2)
    assert "Traceback" not in log.read_text()
