"""A business admin works with records in a real browser against a real ``xrm serve --demo``.

From the home page to a type's list, a new record whose first try has an
invalid field (the error shows beside it, what was typed stays), the fix,
an edit, the record found by searching the list, and its history in words.
A screenshot of the page is kept beside the server log when a step fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from playwright.sync_api import expect
from server import ServedDatabase, running_server
from test_admin_browser import create_user, sign_in

from xrm.admin_ui import record_views
from xrm.entities.catalog import definitions
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import first_admin

pytestmark = [pytest.mark.slow, pytest.mark.browser_once]


def test_an_admin_creates_fixes_edits_and_finds_a_record(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    create_user(test_database, "ann@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        page: Any = sign_in(b, base, "ann@example.com")
        try:
            page.click("li[data-type=customer] a")
            page.wait_for_url(f"{base}/admin/records/customer")
            assert page.locator("table.records tbody tr").count() > 0  # the demo's customers
            page.click("a:has-text('New record')")
            page.wait_for_url(f"{base}/admin/records/customer/new")
            page.get_by_label("Name").fill("Zephyr Test Works")
            page.get_by_label("Phone").fill("12")  # not a phone number anywhere
            page.get_by_label("Tier").select_option(label="Gold")
            page.click("button:has-text('Create record')")
            error = page.locator("[data-field=phone] .field-error")
            assert "is not a valid phone number" in error.inner_text()
            assert page.get_attribute("#f-phone", "aria-invalid") == "true"
            assert page.input_value("#f-name") == "Zephyr Test Works"  # kept
            assert page.locator("#f-tier option:checked").inner_text() == "Gold"
            page.get_by_label("Phone").fill("02-312-3456")
            page.click("button:has-text('Create record')")
            page.wait_for_url("**/admin/records/customer/*?saved=1")
            assert page.inner_text("h1") == "Zephyr Test Works"
            assert page.input_value("#f-phone") == "+8223123456"  # stored as E.164
            page.get_by_label("Tier").select_option(label="VIP")
            page.click("button:has-text('Save changes')")
            page.wait_for_url("**?saved=1")
            assert page.inner_text("[data-version]") == "2"
            history = page.locator("li[data-history]").all_inner_texts()
            assert "Tier: Gold → VIP" in history[0] and "changed" in history[0]
            assert "created" in history[-1] and "Name: Zephyr Test Works" in history[-1]
            page.click("nav.crumbs a:has-text('Customer')")
            page.fill("#q", "zephyr")
            page.click("form.search button")
            # htmx updates the list in place and puts the search in the address.
            page.wait_for_url("**/admin/records/customer?*q=zephyr*")
            rows = page.locator("table.records tbody tr")
            expect(rows).to_have_count(1)
            assert "VIP" in rows.first.inner_text()
            rows.first.locator("a").click()
            assert page.inner_text("h1") == "Zephyr Test Works"
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_on_a_phone_the_list_comes_first_and_the_filters_are_a_keyboard_away(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    """At 390 px the filters are one closed line above the list; opened with the keyboard, a
    filter applied shows as a chip, the address is the clean one, and the chip's ✕ removes it."""
    create_user(test_database, "ann@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        page: Any = sign_in(b, base, "ann@example.com")
        try:
            page.set_viewport_size({"width": 390, "height": 844})
            # What the list's form sends without JavaScript when nothing is chosen.
            page.goto(f"{base}/admin/records/contract?q=&status.eq=&value.min=&sort=&dir=")
            assert page.url == f"{base}/admin/records/contract"
            filters = page.locator("details[data-filters]")
            assert filters.get_attribute("open") is None
            first = page.locator("table.records tbody tr").first.bounding_box()
            assert first is not None and first["y"] < 844  # a record on the first screen
            filters.locator("summary").focus()
            page.keyboard.press("Enter")
            assert filters.get_attribute("open") is not None
            page.locator("#filter-status").focus()
            page.keyboard.press("End")  # the last status; chosen without a mouse
            chosen = page.locator("#filter-status option:checked").inner_text()
            page.get_by_role("button", name="Apply the filters").click()
            # htmx swaps the list in place and the address bar shows the clean address.
            page.wait_for_url(f"{base}/admin/records/contract?status.eq=*")
            assert "&" not in page.url and "=&" not in page.url
            chip = page.locator("li[data-chip='status.eq']")
            expect(chip).to_have_text(f"Status: {chosen} ✕")
            statuses = page.locator("table.records tbody td[data-label=Status]").all_inner_texts()
            assert statuses and set(statuses) == {chosen}
            chip.get_by_role("link", name=f"Remove the filter Status: {chosen}").focus()
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}/admin/records/contract")
            expect(page.locator("li[data-chip]")).to_have_count(0)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_a_reference_to_a_type_with_many_records_is_picked_by_typing_its_name(
    test_database: Any, tmp_path: Path
) -> None:
    """More partners than a list can hold: the partner box suggests names as the user types."""
    settings = test_database.settings()
    db = Database(settings)
    try:
        registry = Registry(db, settings)
        registry.apply(definitions())
        with db.write() as conn:
            admin = first_admin(conn)
        with RecordService(db, registry, settings).session(admin) as records:
            count = record_views.MAX_OPTIONS + 1
            records.create_many("partner", [{"name": f"Partner {i:03}"} for i in range(count)])
    finally:
        db.dispose()
    create_user(test_database, "ann@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log") as base, chromium() as b:
        page: Any = sign_in(b, base, "ann@example.com")
        try:
            page.goto(f"{base}/admin/records/customer/new")
            box = page.locator("#f-partner")
            assert box.get_attribute("data-picker") == "/admin/records/partner"
            box.press_sequentially("Partner 12", delay=20)
            page.wait_for_function(
                "() => document.querySelectorAll('#f-partner-choices option').length === 10"
            )
            offered = page.eval_on_selector_all(
                "#f-partner-choices option", "options => options.map(o => o.value)"
            )
            assert offered == [f"Partner 12{i}" for i in range(10)]
            box.fill("Partner 123")
            page.get_by_label("Name").fill("Picked Ltd")
            page.click("button:has-text('Create record')")
            page.wait_for_url("**?saved=1")
            assert page.input_value("#f-partner") == "Partner 123"
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
