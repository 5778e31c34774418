"""An admin changes a many-to-many relationship, then removes it, in the browser (issue 12).

Against a real ``xrm serve --demo``: from the contract type's page, the
"Contract contacts" relationship gets a new English label and a "Since"
attribute through the plan; then it is removed, which the page refuses until
the box naming how many links go is ticked. A screenshot of the page is kept
beside the server log when a step fails.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from server import ServedDatabase, running_server
from test_admin_browser import create_user, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser_once]


def _edit(page: Any, base: str) -> None:
    page.goto(f"{base}/admin/types/contract")
    row = page.locator("li[data-relationship=contract_contacts]")
    row.get_by_role("link", name=re.compile("Change or remove")).click()
    page.wait_for_url(f"{base}/admin/types/contract/relationships/contract_contacts")
    page.fill("#label_en", "People on the contract")  # the relationship's, not an attribute's
    page.get_by_role("button", name="Add an attribute").click()
    index = page.locator("input[id$=_name][id^=f]").count() - 1
    page.fill(f"#f{index}_name", "since")
    page.select_option(f"#f{index}_kind", "date")
    page.fill(f"#f{index}_label_en", "Since")
    page.fill(f"#f{index}_label_ko", "시작일")
    # The form has this button under each of its parts; they do the same.
    page.get_by_role("button", name="Save: show what changes").first.click()
    steps = page.locator("[data-plan] li[data-step]").all_inner_texts()
    assert steps == ["Adds the field 'Since' (Date)."]
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"{base}/admin/types/contract?applied=1")
    listed = page.inner_text("li[data-relationship=contract_contacts]")
    assert "People on the contract" in listed and "Since" in listed


def _remove(page: Any, base: str) -> None:
    page.goto(f"{base}/admin/types/contract/relationships/contract_contacts")
    links = re.search(r"Links stored: (\d+)", page.inner_text("main"))
    assert links is not None
    page.get_by_role("button", name="Remove the relationship").click()  # the box unticked
    assert "Tick the box" in page.inner_text("[data-remove]")
    box = page.get_by_label(f"Yes, remove it and delete the links it holds: {links.group(1)}.")
    box.check()
    page.get_by_role("button", name="Remove the relationship").click()
    page.wait_for_url(f"{base}/admin/types/contract?removed=1")
    assert "The relationship is removed, with its links." in page.inner_text("main")
    assert page.locator("li[data-relationship=contract_contacts]").count() == 0


def test_an_admin_changes_then_removes_a_relationship(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    create_user(test_database, "ann@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        page: Any = sign_in(b, base, "ann@example.com")
        try:
            _edit(page, base)
            _remove(page, base)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
