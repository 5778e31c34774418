"""A power user tries a workflow's form before saving it, in a real browser, with and without
JavaScript (``xrm serve --demo``).

The form of a new rule that escalates a grievance is tried against a grievance typed by
name: the result beside the form says what would change, in words, and nothing is saved;
a condition that does not compile is named at the condition, and (with JavaScript) its line
is marked in the code editor's gutter. A screenshot is kept beside the server log when a
step fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from server import ServedDatabase, running_server
from test_admin_browser import PASSWORD, create_user, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser_once]


def try_the_form(page: Any, base: str, name: str, javascript: bool) -> None:
    page.goto(f"{base}/admin/workflows/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Entity type").select_option(label="Grievance")
    page.get_by_label("a record is changed").check()
    page.get_by_label("Stage").select_option("after")
    page.locator("#a0-type").select_option(label="Update the record or a referenced one")
    page.locator("#a0-values").fill("severity = critical")
    page.get_by_label("or type any record").fill("Pipe burst")
    page.get_by_role("button", name="Test run this form").click()
    page.wait_for_selector("[data-tried]")
    result = page.inner_text("[data-tried]")
    assert "Nothing was saved" in result, result
    assert "Severity: Medium → Critical" in result, result
    assert page.input_value("#w-name") == name  # the form comes back as typed
    assert page.input_value("#a0-values") == "severity = critical"

    page.get_by_label("Condition").fill("record['severity'] ==\n")
    page.get_by_role("button", name="Test run this form").click()
    page.wait_for_selector("#e-when")
    assert "Line 1" in page.inner_text("#e-when")
    assert "The test did not run" in page.inner_text("[data-tried]")
    if javascript:
        assert page.locator(".code-editor .gutter span.bad").count() == 1


def test_a_form_is_tried_before_it_is_saved_with_and_without_javascript(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    create_user(test_database, "pat@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        page: Any = sign_in(b, base, "pat@example.com")
        bare: Any = b.new_context(locale="en-US", java_script_enabled=False).new_page()  # type: ignore[attr-defined]
        try:
            page.goto(f"{base}/admin/records/grievance/new")
            page.get_by_label("Subject").fill("Pipe burst")
            page.get_by_role("button", name="Create record").click()
            page.wait_for_url("**/admin/records/grievance/*?saved=1")

            try_the_form(page, base, "escalate_pipes", javascript=True)

            bare.goto(f"{base}/admin/login")
            bare.get_by_label("E-mail").fill("pat@example.com")
            bare.get_by_label("Password").fill(PASSWORD)
            bare.get_by_role("button", name="Sign in").click()
            bare.wait_for_url(f"{base}/admin/")
            try_the_form(bare, base, "escalate_plainly", javascript=False)

            page.goto(f"{base}/admin/workflows")
            assert page.locator("tr[data-workflow^=escalate]").count() == 0  # nothing saved
            page.goto(f"{base}/admin/records/grievance?q=Pipe")
            page.get_by_role("link", name="Pipe burst").click()
            assert page.locator("#f-severity").input_value() == "medium"  # rolled back
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            bare.screenshot(path=str(tmp_path / "failure-without-javascript.png"), full_page=True)
            raise
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
