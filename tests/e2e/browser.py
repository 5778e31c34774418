"""A real Chromium for UI tests: the system's (Playwright's own download is not used).

``XRM_CHROMIUM`` names the executable (default ``/usr/bin/chromium``). Without
it the browser tests skip, unless ``XRM_REQUIRE_BROWSER=1`` (CI) makes that a
failure, so a missing browser can never pass for a tested UI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

CHROMIUM = os.environ.get("XRM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
REQUIRE = os.environ.get("XRM_REQUIRE_BROWSER") == "1"


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium (a Playwright ``Browser``), closed afterwards."""
    problem = None
    if not os.path.exists(CHROMIUM):
        problem = f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set XRM_CHROMIUM)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[test]')"
    if problem:
        if REQUIRE:
            pytest.fail(f"XRM_REQUIRE_BROWSER=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()
