"""The plugins screen in a real browser: a webhook destination set up through its form, a
refused one, and the delivery log pass an axe-core check (no serious or critical violation)
in English and Korean, at desktop and phone width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from server import ServedDatabase, running_server
from test_admin_browser import create_user, sign_in
from test_records_accessibility import AXE, serious_violations

from xrm.platform.db import Database
from xrm.plugins.webhook import store

pytestmark = pytest.mark.slow

ALLOWED = "http://127.0.0.1:9/"


def test_the_plugins_screen_has_no_serious_accessibility_violation(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run npm ci", pytrace=False)
    create_user(test_database, "ann@example.com", "admin")
    env = {"XRM_WEBHOOK_ALLOW": ALLOWED}
    with (
        running_server(test_database, tmp_path / "serve.log", "--demo", env=env) as base,
        chromium() as b,
    ):
        db = Database(test_database.settings())  # type: ignore[attr-defined]
        with db.write() as conn:
            store.log_delivery(
                conn,
                destination="erp",
                url=ALLOWED,
                event="create",
                entity="customer",
                record_id=None,
                attempt=1,
                status_code=500,
                duration_ms=31,
                error="answered 500",
                job_id=None,
            )
        db.dispose()
        page: Any = sign_in(b, base, "ann@example.com")
        page.goto(f"{base}/admin/plugins")
        page.fill("#dest-name", "erp")
        page.fill("#dest-url", ALLOWED + "orders")
        page.select_option("#dest-entity", "customer")
        page.check("input[name=events][value=create]")
        page.click("#destinations form:not(.inline) button[type=submit]")
        page.wait_for_selector('tr[data-destination="erp"]')
        found: list[str] = []
        for language in ("en-US", "ko-KR"):
            page.context.set_extra_http_headers({"Accept-Language": language})
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(f"{base}/admin/plugins")
                found += [f"{language} {width}: {v}" for v in serious_violations(page)]
                page.fill("#dest-name", "Bad Name")
                page.fill("#dest-url", "http://169.254.169.254/")
                page.click("#destinations form:not(.inline) button[type=submit]")
                page.wait_for_selector("[role=alert]")
                found += [f"{language} {width} refused: {v}" for v in serious_violations(page)]
        assert found == []
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
