"""``/graphql`` against the GraphQL over HTTP spec: graphql-http's server audit on a real server.

The audit is the npm package ``graphql-http`` (``package.json`` at the repository
root; install it with ``npm ci``). It runs in Node against ``xrm serve``, with our
bearer token on every request, and reports each check as ``ok``, ``notice``
(a MAY), ``warn`` (a SHOULD) or ``error`` (a MUST). A failed MUST fails this
test; failed SHOULDs are listed in the message. Without Node or ``npm ci`` the
test fails rather than skips, so CI cannot silently stop checking the spec.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import TestDatabase
from server import running_server

from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("graphql_http_audit.mjs")


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not installed: the GraphQL over HTTP audit needs Node.js (>= 18), "
            "then `npm ci` at the repository root",
            pytrace=False,
        )
    if not (ROOT / "node_modules" / "graphql-http" / "package.json").exists():
        pytest.fail(
            f"node_modules/graphql-http is missing: run `npm ci` in {ROOT} "
            "(the GraphQL over HTTP audit needs it)",
            pytrace=False,
        )
    return node


def _audit(url: str, token: str) -> list[dict[str, Any]]:
    run = subprocess.run(
        [_node(), str(SCRIPT), url],
        env={**os.environ, "XRM_TOKEN": token},
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, f"the audit did not run ({run.returncode}):\n{run.stderr}"
    results = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert results, f"the audit reported nothing:\n{run.stdout}\n{run.stderr}"
    return results


def _show(results: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"  {r['id']} {r['name']}: {r.get('reason')} (HTTP {r.get('httpStatus')})" for r in results
    )


def test_graphql_endpoint_passes_the_graphql_over_http_audit(
    test_database: TestDatabase, tmp_path: Path
) -> None:
    _node()  # fail before starting a server when the audit cannot run
    db = Database(test_database.settings())
    try:
        with db.write() as conn:
            token = create_token(conn, first_admin(conn))
    finally:
        db.dispose()
    log = tmp_path / "serve.log"
    with running_server(test_database, log, "--no-worker") as base:
        results = _audit(f"{base}/graphql", token)
    musts = [r for r in results if r["name"].startswith("MUST")]
    assert musts, "the audit ran no MUST checks"
    failed = [r for r in results if r["status"] == "error"]
    warned = [r for r in results if r["status"] == "warn"]
    advice = f"\nSHOULD recommendations not met:\n{_show(warned)}" if warned else ""
    assert not failed, (
        f"{len(failed)} of {len(musts)} MUST requirements fail:\n{_show(failed)}{advice}"
    )
    assert "Traceback" not in log.read_text(), log.read_text()
    if warned:  # not a failure, but visible with -rA
        print(advice)
