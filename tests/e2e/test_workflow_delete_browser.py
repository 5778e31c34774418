"""A power user deletes a workflow from its page in a real browser (``xrm serve --demo``).

The demo's "Due date by severity" rule runs when a high grievance is created; then the
rule is deleted from its page (the box ticked, the button pressed), the list says so, and
its past run is still readable from the list's "Deleted workflows". A screenshot is kept
beside the server log when a step fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from server import ServedDatabase, running_server
from test_admin_browser import create_user, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser_once]


def test_a_deleted_workflow_stops_and_its_runs_stay_readable(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    create_user(test_database, "pat@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        page: Any = sign_in(b, base, "pat@example.com")
        try:
            page.goto(f"{base}/admin/records/grievance/new")
            page.get_by_label("Subject").fill("Water leak")
            page.get_by_label("Severity").select_option(label="High")
            page.get_by_role("button", name="Create record").click()
            page.wait_for_url("**/admin/records/grievance/*?saved=1")

            page.goto(f"{base}/admin/workflows/grievance_sla")
            assert page.locator("[data-run=done]").count() == 1
            delete = page.get_by_role("button", name="Delete workflow")
            delete.click()  # not ticked: the browser does not send it
            assert page.url == f"{base}/admin/workflows/grievance_sla"
            page.get_by_label("Yes, delete this workflow").check()
            delete.click()
            page.wait_for_url(f"{base}/admin/workflows?deleted=1")
            assert "The workflow is deleted." in page.inner_text("[role=status]")
            assert page.locator("tr[data-workflow=grievance_sla]").count() == 0
            page.locator("#deleted").get_by_role("link", name="Due date by severity").click()
            page.wait_for_url("**/admin/workflows/grievance_sla#runs")
            assert page.locator("[data-run=done]").count() == 1
            assert "due" in page.inner_text("[data-run-log]")  # its log is kept
            assert page.get_by_role("button", name="Delete workflow").count() == 0
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
