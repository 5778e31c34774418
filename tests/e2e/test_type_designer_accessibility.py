"""The type designer's pages pass an axe-core check in a real browser (issue 12: no serious or
critical violation), in English and Korean, at desktop and phone width: the list of types, a new
type, a stored type, its plan with blocking records, the form refused with its errors, and a
relationship's page refusing a removal whose data-loss box is not ticked.
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


def test_the_type_designer_has_no_serious_accessibility_violation(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run npm ci", pytrace=False)
    create_user(test_database, "ann@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        page: Any = sign_in(b, base, "ann@example.com")
        found: list[str] = []
        for language, width in (("en-US", 1280), ("ko-KR", 390)):  # as the crawler does
            page.context.set_extra_http_headers({"Accept-Language": language})
            page.set_viewport_size({"width": width, "height": 900})
            # The designer's pages as links reach them are checked by test_admin_csp's crawler.
            # The plan of a conversion that stored phone numbers block.
            page.goto(base + "/admin/types/partner")
            page.select_option("#f4_kind", "integer")
            page.locator("button[value=plan]").first.click()
            page.wait_for_selector("[data-plan] .blockers")
            found += [f"{language} {width} plan: {v}" for v in serious_violations(page)]
            page.goto(base + "/admin/types/new")
            page.fill("#f0_name", "size")
            page.select_option("#f0_kind", "integer")
            page.fill("#f0_max", "big")
            page.locator("button[value=plan]").first.click()
            page.wait_for_selector(".field-error")
            found += [f"{language} {width} errors: {v}" for v in serious_violations(page)]
            # A relationship's page after "Remove" without the data-loss box ticked.
            page.goto(base + "/admin/types/contract/relationships/contract_contacts")
            page.locator("[data-remove] button[type=submit]").click()
            page.wait_for_selector("#e-confirm")
            found += [f"{language} {width} removal: {v}" for v in serious_violations(page)]
        assert found == []
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
