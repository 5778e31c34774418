"""A new admin defines a type in the browser's form and works with its records (issue 12).

Against a real ``xrm serve --demo``: the "vendor" type with four fields (a
required name, an e-mail, a rating from 1 to 5, a reference to partner) is
defined through the designer's form, never by typing JSON; the plan is shown,
then applied; two vendors are created through their generated form, the list
is filtered, one vendor is edited and its history read. A screenshot of the
page is kept beside the server log when a step fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from server import ServedDatabase, running_server
from test_admin_browser import create_user, sign_in

pytestmark = pytest.mark.slow

FIELDS = [
    # name, kind, English label, Korean label
    ("name", "text", "Name", "이름"),
    ("email", "email", "Email", "이메일"),
    ("rating", "integer", "Rating", "평점"),
    ("partner", "reference", "Partner", "파트너"),
]


def _define_vendor(page: Any, base: str) -> None:
    page.click("header >> text=Types")
    page.click("text=New type")
    page.wait_for_url(f"{base}/admin/types/new")
    page.fill("#name", "vendor")
    page.fill("#plural", "vendors")
    page.fill("#label_en", "Vendor")
    page.fill("#label_ko", "공급업체")
    for index, (name, kind, english, korean) in enumerate(FIELDS):
        if index:
            page.click("button:has-text('Add a field')")
        page.fill(f"#f{index}_name", name)
        page.select_option(f"#f{index}_kind", kind)
        page.fill(f"#f{index}_label_en", english)
        page.fill(f"#f{index}_label_ko", korean)
    page.check("#f0_required")
    assert page.is_visible("#f2_min")  # the kind's own options show as it is chosen
    page.fill("#f2_min", "1")
    page.fill("#f2_max", "5")
    page.select_option("#f3_ref_entity", "partner")
    page.locator("button[value=plan]").first.click()
    steps = page.locator("[data-plan] li[data-step]").all_inner_texts()
    assert steps == ["Creates the type 'Vendor'."]
    page.click("button:has-text('Apply')")
    page.wait_for_url(f"{base}/admin/types/vendor?applied=1")
    assert "The change is applied." in page.inner_text("main")


def _create_vendor(page: Any, base: str, name: str, email: str, rating: str) -> None:
    page.goto(f"{base}/admin/records/vendor/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Rating").fill(rating)
    page.locator("#f-partner").select_option(index=1)
    page.click("button:has-text('Create record')")
    page.wait_for_url("**/admin/records/vendor/*?saved=1")


def test_a_new_admin_defines_a_vendor_type_and_works_with_vendors(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    create_user(test_database, "ann@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        page: Any = sign_in(b, base, "ann@example.com")
        try:
            _define_vendor(page, base)
            _create_vendor(page, base, "Acme Supplies", "SALES@ACME.example", "4")
            assert page.input_value("#f-email") == "sales@acme.example"  # normalised
            _create_vendor(page, base, "Borealis Parts", "hello@borealis.example", "5")
            page.goto(f"{base}/admin/records/vendor?q=borealis")
            rows = page.locator("table.records tbody tr")
            assert rows.count() == 1 and "Borealis Parts" in rows.first.inner_text()
            rows.first.locator("a").first.click()
            page.get_by_label("Rating").fill("3")
            page.click("button:has-text('Save changes')")
            page.wait_for_url("**?saved=1")
            history = page.locator("li[data-history]").all_inner_texts()
            assert "Rating: 5 → 3" in history[0]
            assert "Name: Borealis Parts" in history[-1]
            page.get_by_label("Rating").fill("9")  # the designer's limit holds in the form
            page.click("button:has-text('Save changes')")
            assert page.locator("[data-field=rating] .field-error").count() == 1
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
