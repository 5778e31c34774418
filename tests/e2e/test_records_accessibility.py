"""The record screens pass an axe-core check in a real browser (issue 12: no serious or critical
violation), in English and Korean, at desktop and phone width.

axe-core comes from the npm registry through package.json (``npm ci``); it is evaluated in the
page through the browser's debugging protocol, which the page's Content-Security-Policy does not
govern, so the policy stays as it is served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from server import ServedDatabase, running_server
from test_admin_browser import create_user, sign_in

pytestmark = pytest.mark.slow

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = """async () => {
  const found = await axe.run(document, {resultTypes: ['violations']});
  return found.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '));
}"""


def serious_violations(page: Any) -> list[str]:
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found: list[str] = page.evaluate(SERIOUS)
    return found


def test_the_record_screens_have_no_serious_accessibility_violation(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run npm ci", pytrace=False)
    create_user(test_database, "ann@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        page: Any = sign_in(b, base, "ann@example.com")
        page.goto(f"{base}/admin/records/customer")
        customer = page.locator("table.records tbody tr a").first.get_attribute("href")
        page.goto(f"{base}/admin/records/grievance")
        grievance = page.locator("table.records tbody tr a").first.get_attribute("href")
        page.goto(f"{base}/admin/records/contract")
        contract = page.locator("table.records tbody tr a").first.get_attribute("href")
        found: list[str] = []
        for language in ("en-US", "ko-KR"):
            page.context.set_extra_http_headers({"Accept-Language": language})
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                for path in (
                    "/admin/",
                    "/admin/records/customer",
                    "/admin/records/grievance?status=open&columns=subject,status,customer",
                    customer,
                    grievance,
                    # Filters in force, one refused beside its input (the disclosure opens).
                    "/admin/records/contract?customer.tier=gold&value.min=1&signed_on.from=x",
                    # Related records in tabs, a many-to-many tab with its link forms opened.
                    f"{contract}#rel-contacts",
                    "/admin/records/customer/new",  # last: the error form is posted from it
                ):
                    page.goto(base + path)
                    page.evaluate(
                        "document.querySelectorAll('details').forEach(d => d.open = true)"
                    )
                    found += [f"{language} {width} {path}: {v}" for v in serious_violations(page)]
                page.fill("#f-name", "Broken")
                page.fill("#f-phone", "12")
                page.click("form.record button[type=submit]")
                page.wait_for_selector(".field-error")
                found += [f"{language} {width} error form: {v}" for v in serious_violations(page)]
        assert found == []
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
