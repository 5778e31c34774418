"""A power user builds a rule in a real browser against a real ``xrm serve --demo`` (issue 12).

The built-in role that may define workflows is ``admin`` (its ``define_workflows`` right;
``editor`` and ``viewer`` have none). From the menu to a new before-rule on grievances that
refuses one without a description, enabled from its page; then a grievance without a
description is refused in the record form with the rule's message, and one with a
description saves. A screenshot is kept beside the server log when a step fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from server import ServedDatabase, running_server
from test_admin_browser import create_user, sign_in

pytestmark = pytest.mark.slow

MESSAGE = "Please describe the grievance before saving it."


def test_a_power_user_builds_a_rule_that_refuses_grievances_without_a_description(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    create_user(test_database, "pat@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        page: Any = sign_in(b, base, "pat@example.com")
        try:
            page.click("header nav a:has-text('Workflows')")
            page.wait_for_url(f"{base}/admin/workflows")
            page.click("a:has-text('New workflow')")
            page.wait_for_url(f"{base}/admin/workflows/new")
            assert page.locator(".code-editor .gutter").count() >= 1  # line numbers
            page.get_by_label("Name").fill("grievance_needs_description")
            page.get_by_label("Title").fill("Grievances need a description")
            page.get_by_label("Entity type").select_option(label="Grievance")
            page.get_by_label("a record is created").check()
            page.get_by_label("Stage").select_option("before")
            assert page.locator("#w-cron").is_hidden()  # no schedule trigger chosen
            page.get_by_label("Condition").fill("not record.get('description')")
            page.get_by_label("What it does").select_option(
                label="Refuse the change with a message"
            )
            assert page.locator("#a0-code").is_hidden()  # a reject has no script
            page.get_by_label("Message (English)").fill(MESSAGE)
            page.click("button:has-text('Create workflow')")
            page.wait_for_url("**/admin/workflows/grievance_needs_description?saved=1")
            assert page.inner_text("[data-enabled]") == "No"
            page.click("form.switch button:has-text('Enable')")
            page.wait_for_url("**/admin/workflows/grievance_needs_description?switched=1")
            assert page.inner_text("[data-enabled]") == "Yes"

            page.goto(f"{base}/admin/records/grievance/new")
            page.get_by_label("Subject").fill("Meter reads double")
            page.click("button:has-text('Create record')")
            assert MESSAGE in page.inner_text("[role=alert]")
            assert page.input_value("#f-subject") == "Meter reads double"  # kept
            page.get_by_label("Description").fill("The meter shows twice the real use.")
            page.click("button:has-text('Create record')")
            page.wait_for_url("**/admin/records/grievance/*?saved=1")
            assert page.inner_text("h1") == "Meter reads double"

            page.goto(f"{base}/admin/workflows/grievance_needs_description")
            assert page.locator("[data-run=rejected]").count() == 1  # the refusal is in the runs
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
