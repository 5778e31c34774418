"""Every admin page satisfies its Content-Security-Policy (issue 10, point 16) and axe-core
(issue 12: no serious or critical violation) in a real browser.

The test signs in, opens every admin page it can reach (each parameterless
GET route of the admin UI, then every ``/admin`` link found on the pages
visited, signed in and signed out), and fails on any Content-Security-Policy
violation Chromium reports, on a page without the policy, or on a route with
parameters that no visited page led to (a new page must be reachable, or be
given a sample here, to be checked). A page that adds an inline ``<script>``,
an ``onclick=``, a ``style=`` attribute or a ``<style>`` element fails it.

The first page visited of each route is also checked with axe-core in English at desktop
width and in Korean at phone width: a new screen is checked for accessibility by being
reachable, without a test of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser import chromium
from server import ServedDatabase, running_server
from starlette.routing import Mount, Route
from test_admin_browser import create_user, sign_in
from test_records_accessibility import AXE, serious_violations

from xrm.admin_ui.routes import routes

pytestmark = pytest.mark.slow

MAX_PAGES = 150


def admin_get_routes() -> list[Route]:
    return [
        r
        for r in routes()
        if isinstance(r, Route) and not isinstance(r, Mount) and "GET" in (r.methods or ())
    ]


def test_every_admin_page_satisfies_its_content_security_policy_and_axe(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run npm ci", pytrace=False)
    create_user(test_database, "ann@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        browser: Any = b
        violations: list[str] = []
        missing_policy: list[str] = []

        def watch(page: Any) -> Any:
            def on_console(message: Any) -> None:
                if "Content Security Policy" in message.text:
                    violations.append(f"{page.url}: {message.text}")

            page.on("console", on_console)
            return page

        axe_found: list[str] = []
        checked: dict[str, set[str]] = {"en": set(), "ko": set()}

        def axe(page: Any, path: str, language: str) -> None:
            """axe-core on the first page of each route, per language."""
            route = next((r.path for r in admin_get_routes() if r.path_regex.match(path)), path)
            if route in checked[language]:
                return
            checked[language].add(route)
            axe_found.extend(f"{language} {path}: {v}" for v in serious_violations(page))

        def visit(page: Any, path: str, language: str = "en") -> list[str]:
            response = page.goto(base + path)
            assert response is not None, path
            policy = response.headers.get("content-security-policy", "")
            if "script-src 'self'" not in policy or "unsafe-inline" in policy:
                missing_policy.append(path)
            page.wait_for_load_state("load")
            if path != "/admin/login" or language == "en":
                axe(page, path, language)
            links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            return [
                urlsplit(link).path
                for link in links
                if link.startswith(base) and urlsplit(link).path.startswith("/admin")
            ]

        # Signed out: the sign-in page (and whatever it links to).
        outsider = watch(browser.new_page(locale="en-US"))
        visit(outsider, "/admin/login")
        # Signed in as an admin: every parameterless page, then every link, breadth first.
        page = watch(sign_in(browser, base, "ann@example.com"))
        fixed = admin_get_routes()
        queue = [r.path for r in fixed if not r.param_convertors]
        seen: set[str] = set()
        while queue and len(seen) < MAX_PAGES:
            path = queue.pop(0)
            if path in seen or path.startswith("/admin/logout"):
                continue
            seen.add(path)
            queue.extend(visit(page, path))
        # Korean pages too: other words, the same policy.
        korean = watch(sign_in(browser, base, "ann@example.com"))
        korean.context.set_extra_http_headers({"Accept-Language": "ko-KR"})
        korean.set_viewport_size({"width": 390, "height": 844})
        for path in sorted(seen):  # one page per route: the words change, not the markup
            route = next((r.path for r in fixed if r.path_regex.match(path)), path)
            if route not in checked["ko"]:
                visit(korean, path, "ko")
        unvisited = [
            r.path
            for r in fixed
            if r.param_convertors and not any(r.path_regex.match(p) for p in seen)
        ]
        assert not unvisited, f"no visited page links to {unvisited}: link them or add a sample"
        assert len(seen) >= 5, seen
        assert not missing_policy, f"pages without the Content-Security-Policy: {missing_policy}"
        assert not violations, "\n".join(violations)
        assert not axe_found, "\n".join(axe_found)
        assert {"/admin/", "/admin/records/{entity}/{record_id}"} <= checked["ko"], checked
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_the_policy_is_enforced(test_database: ServedDatabase, tmp_path: Path) -> None:
    """The detection works: an inline script on an admin page is refused and reported."""
    with running_server(test_database, tmp_path / "serve.log") as base, chromium() as b:
        browser: Any = b
        page = browser.new_page()
        reported: list[str] = []
        page.on("console", lambda m: reported.append(m.text))
        page.goto(base + "/admin/login")
        page.evaluate(
            """() => { const s = document.createElement('script');
                       s.textContent = 'window.ranInline = true';
                       document.body.appendChild(s); }"""
        )
        assert page.evaluate("window.ranInline === undefined")
        assert any("Content Security Policy" in text for text in reported), reported
