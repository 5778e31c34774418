"""The import wizard in a real browser against ``xrm serve --demo``: the issue's scenario.

A spreadsheet of customers (Korean headers, CP949, one bad row) is uploaded,
its columns map themselves, a check lists the bad row and writes nothing, the
import runs as a background job in the server while its page shows the
progress, and the finished page offers the rejected rows. Every page on the
way passes an axe-core check (no serious or critical violation) in English
at desktop width and in Korean at phone width.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from server import ServedDatabase, running_server, xrm_command
from test_admin_browser import create_user, sign_in
from test_records_accessibility import AXE, serious_violations

pytestmark = [pytest.mark.slow, pytest.mark.browser_once]

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
            # The trail's last step follows the import from "Progress" to "Result".
            step = page.locator("nav.crumbs [aria-current=page]").inner_text()
            assert step == ("Result" if language == "en-US" else "결과")
            found += [f"{where} done: {v}" for v in serious_violations(page)]
    assert found == []
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


LEADS = {
    "type": "object",
    "x-xrm": {
        "name": "lead",
        "plural": "leads",
        "display": "name",
        "duplicates": [{"name": "same phone", "match": [{"field": "phone"}], "action": "warn"}],
    },
    "properties": {"name": {"type": "string"}, "phone": {"type": "string", "format": "phone"}},
    "required": ["name"],
}


def _xrm(database: ServedDatabase, *args: str) -> None:
    done = subprocess.run(
        [*xrm_command(), "--db", database.url, *args],
        env=database.environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_duplicates_are_left_out_on_the_check_and_merged_by_the_import(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    """A stored lead and a file repeating its phone, and one row repeating another's, in other
    spellings: "Leave them out" lists both as rejected; "Merge" folds them in."""
    create_user(test_database, "ann@example.com", "admin")
    (tmp_path / "lead.json").write_text(json.dumps(LEADS))
    (tmp_path / "stored.csv").write_text("name,phone\nKim,010-1234-5678\n")
    _xrm(test_database, "apply", str(tmp_path / "lead.json"))
    _xrm(test_database, "import", "lead", str(tmp_path / "stored.csv"))
    source = tmp_path / "leads.csv"
    source.write_text(
        "name,phone\nKim Minsu,+82 10 1234 5678\nLee,02-123-4567\nLee Jr,+82 2 123 4567\n"
    )
    with running_server(test_database, tmp_path / "serve.log") as base, chromium() as b:
        page: Any = sign_in(b, base, "ann@example.com")
        page.goto(f"{base}/admin/import")
        page.select_option("#import-entity", "lead")
        page.set_input_files("#import-file", str(source))
        page.click("form[enctype] button[type=submit]")
        page.get_by_label("Leave them out (they go to the rejected rows)").check()
        page.get_by_role("button", name="Check the file").click()
        rejects = page.locator("table.rejects").first.inner_text()
        assert "This looks like a duplicate of Kim (rule: same phone)." in rejects
        assert "This looks like a duplicate of row 3 of the file (rule: same phone)." in rejects
        assert serious_violations(page) == []
        page.get_by_label("Merge them into the record they duplicate").check()
        page.get_by_role("button", name="Import now").click()
        page.wait_for_selector("[data-import-progress]:not([data-running])", timeout=60_000)
        merged = page.get_by_role("table").inner_text()
        assert merged.count("Merged") == 2 and "row 3 of the file" in merged
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
