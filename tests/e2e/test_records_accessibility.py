"""axe-core in a real browser (issue 12: no serious or critical violation) for the admin states
no link reaches; every page a link reaches is checked by test_admin_csp's crawler.

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


def test_a_refused_record_form_has_no_serious_accessibility_violation(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    """A form sent back with errors, which no link leads to (every page a link reaches is
    checked by test_admin_csp's crawler), in English at desktop width and Korean on a phone."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run npm ci", pytrace=False)
    create_user(test_database, "ann@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        page: Any = sign_in(b, base, "ann@example.com")
        found: list[str] = []
        for language, width in (("en-US", 1280), ("ko-KR", 390)):
            page.context.set_extra_http_headers({"Accept-Language": language})
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(base + "/admin/records/customer/new")
            page.fill("#f-name", "Broken")
            page.fill("#f-phone", "12")
            page.click("form.record button[type=submit]")
            page.wait_for_selector(".field-error")
            found += [f"{language} {width} error form: {v}" for v in serious_violations(page)]
        assert found == []
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_the_check_finds_a_serious_violation() -> None:
    """The detection works: an input without a label and an image without text are reported."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run npm ci", pytrace=False)
    with chromium() as b:
        page: Any = b.new_page()  # type: ignore[attr-defined]
        page.set_content(
            '<html lang="en"><title>t</title>'
            '<main><input type="text"><img src="x.png"></main></html>'
        )
        found = " ".join(serious_violations(page))
        assert "label (critical)" in found and "image-alt (critical)" in found, found
