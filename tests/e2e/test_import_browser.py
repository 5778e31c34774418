"""The import wizard in a real browser against ``xrm serve --demo``: the issue's scenario.

A spreadsheet of customers (Korean headers, CP949, one bad row) is uploaded,
its columns map themselves, a check lists the bad row and writes nothing, the
import runs as a background job in the server while its page shows the
progress, and the finished page offers the rejected rows. Every page on the
way passes an axe-core check (no serious or critical violation) in English
at desktop width and in Korean at phone width.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from server import ServedDatabase, running_server
from test_admin_browser import create_user, sign_in
from test_records_accessibility import AXE, serious_violations

pytestmark = pytest.mark.slow

CSV = (
    "고객명,이메일,전화번호,등급,Fax\n"
    "Acme Korea,ACME@X.COM ,010-1234-5678,골드,1\n"
    "Bad,not mail,12,VIP,2\n"
)


def test_a_spreadsheet_is_uploaded_mapped_checked_and_imported(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run npm ci", pytrace=False)
    create_user(test_database, "ann@example.com", "admin")
    found: list[str] = []
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        page: Any = sign_in(b, base, "ann@example.com")
        for number, (language, width) in enumerate([("en-US", 1280), ("ko-KR", 390)]):
            page.context.set_extra_http_headers({"Accept-Language": language})
            page.set_viewport_size({"width": width, "height": 900})
            where = f"{language} {width}"
            source = tmp_path / f"customers{number}.csv"
            # A new e-mail each round: each round's import creates its one good row.
            source.write_bytes(CSV.replace("ACME@", f"ACME{number}@").encode("cp949"))
            page.goto(f"{base}/admin/import")
            found += [f"{where} upload: {v}" for v in serious_violations(page)]
            page.select_option("#import-entity", "customer")
            page.set_input_files("#import-file", str(source))
            page.click("form[enctype] button[type=submit]")
            page.wait_for_selector("table.mapping")
            assert page.input_value("#column1") == "email" and page.input_value("#column4") == ""
            found += [f"{where} mapping: {v}" for v in serious_violations(page)]
            page.select_option("#import-key", "email")
            page.click("main form:has(table.mapping) button[type=submit] >> nth=0")  # Check
            page.wait_for_selector("table.rejects")
            assert "not mail" in page.inner_text("table.rejects")
            found += [f"{where} check: {v}" for v in serious_violations(page)]
            page.click("button[formaction$='/run']")
            page.wait_for_selector("[data-import-progress]:not([data-running])", timeout=60_000)
            assert page.locator("a[href$='/rejected.csv']").count() == 1
            found += [f"{where} done: {v}" for v in serious_violations(page)]
    assert found == []
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
