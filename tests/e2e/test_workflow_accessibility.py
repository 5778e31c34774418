"""The workflow builder's pages pass an axe-core check in a real browser (issue 12: no serious
or critical violation), in English and Korean, at desktop and phone width: the list, the new
form, a workflow's page with its runs, the form showing a compile error, a test run's result
(of the saved workflow and of the form), the list after a deletion and a deleted workflow's
kept runs.

axe-core is evaluated as in ``test_records_accessibility.py`` (through the debugging
protocol, so the served Content-Security-Policy stays as it is).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from server import ServedDatabase, running_server
from test_admin_browser import create_user, sign_in
from test_records_accessibility import AXE, serious_violations

pytestmark = [pytest.mark.slow, pytest.mark.rendering]


def test_the_workflow_builder_has_no_serious_accessibility_violation(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run npm ci", pytrace=False)
    create_user(test_database, "ann@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        page: Any = sign_in(b, base, "ann@example.com")
        page.goto(f"{base}/admin/records/grievance/new")  # a real run of grievance_sla
        page.fill("#f-subject", "Water leak")
        page.select_option("#f-severity", "high")
        page.click("button:has-text('Create record')")
        page.wait_for_url("**/admin/records/grievance/*?saved=1")
        found: list[str] = []
        for language in ("en-US", "ko-KR"):
            page.context.set_extra_http_headers({"Accept-Language": language})
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                where = f"{language} {width}"
                for path in (
                    "/admin/workflows",
                    "/admin/workflows/new",
                    "/admin/workflows/grievance_sla",
                ):
                    page.goto(base + path)
                    found += [f"{where} {path}: {v}" for v in serious_violations(page)]
                page.goto(f"{base}/admin/workflows/new")
                page.fill("#w-name", "broken")
                page.select_option("#w-entity", "grievance")
                page.check("input[name=on][value=create]")
                page.select_option("#a0-type", "script")
                page.fill("#a0-code", "x = 1\nimport os")
                page.click("form.workflow button[type=submit]:not([name]):not([formaction])")
                page.wait_for_selector(".field-error")
                found += [f"{where} compile error: {v}" for v in serious_violations(page)]
                page.goto(f"{base}/admin/workflows/grievance_sla")
                page.select_option("#t-recent", index=1)
                page.click("form.test-run button[type=submit]")
                page.wait_for_selector("[data-test-result]")
                found += [f"{where} test run: {v}" for v in serious_violations(page)]
                page.select_option("#try-recent", index=1)
                page.click("#try button[type=submit]")
                page.wait_for_selector("[data-tried]")
                found += [f"{where} form's test run: {v}" for v in serious_violations(page)]
        page.goto(f"{base}/admin/workflows/grievance_sla")
        page.check("#d-confirm")
        page.click("#delete button[type=submit]")
        page.wait_for_url("**/admin/workflows?deleted=1")
        for language in ("en-US", "ko-KR"):
            page.context.set_extra_http_headers({"Accept-Language": language})
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                for path in ("/admin/workflows?deleted=1", "/admin/workflows/grievance_sla"):
                    page.goto(base + path)
                    found += [f"{language} {width} {path}: {v}" for v in serious_violations(page)]
        assert found == []
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
