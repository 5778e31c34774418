"""The admin UI's sign-in in a real browser against a real ``xrm serve``."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from server import ServedDatabase, running_server, xrm_command

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"


def create_user(database: ServedDatabase, email: str, role: str) -> None:
    done = subprocess.run(
        [
            *xrm_command(),
            "--db",
            database.url,
            "user",
            "create",
            email,
            "--role",
            role,
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        env=database.environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_sign_in_see_the_types_sign_out(test_database: ServedDatabase, tmp_path: Path) -> None:
    create_user(test_database, "ann@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        browser: Any = b
        page = browser.new_page(locale="en-US")
        page.goto(f"{base}/admin/")
        assert page.url == f"{base}/admin/login?next=/admin/"
        assert page.get_attribute("html", "lang") == "en"
        page.fill("input[name=email]", "ann@example.com")
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert "Wrong e-mail or password." in page.inner_text("[role=alert]")
        assert page.input_value("input[name=email]") == "ann@example.com"
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        assert "Signed in as ann@example.com" in page.inner_text("header")
        assert page.locator("li[data-type=customer]").count() == 1
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["xrm_session"]["httpOnly"] is True
        assert cookies["xrm_session"]["sameSite"] == "Lax"
        assert page.evaluate("document.cookie") == ""  # nothing readable by scripts
        page.click("header button:has-text('Sign out')")
        page.wait_for_url(f"{base}/admin/login")
        page.goto(f"{base}/admin/")
        assert page.url.startswith(f"{base}/admin/login")
        # A Korean browser gets Korean pages.
        korean = browser.new_page(locale="ko-KR")
        korean.goto(f"{base}/admin/login")
        assert korean.get_attribute("html", "lang") == "ko"
        assert korean.inner_text("h1") == "로그인"
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def sign_in(browser: Any, base: str, email: str) -> Any:
    """A page of a fresh browser context (its own cookies) signed in as ``email``."""
    page = browser.new_context(locale="en-US").new_page()
    page.goto(f"{base}/admin/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    return page


def test_two_admins_editing_one_role_never_overwrite_each_other(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    create_user(test_database, "ann@example.com", "admin")
    create_user(test_database, "bob@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        ann, bob = sign_in(b, base, "ann@example.com"), sign_in(b, base, "bob@example.com")
        ann.click("header >> text=Roles")
        ann.click("text=New role")
        ann.fill(
            "textarea[name=definition]",
            '{"role": "support", "title": "Support", "entities": {"grievance": {"read": "all"}}}',
        )
        ann.click("button:has-text('Save role')")
        ann.wait_for_url(f"{base}/admin/roles/support")
        assert ann.inner_text("[data-version]") == "1"
        # Both open the editor at version 1; Bob saves first.
        bob.goto(f"{base}/admin/roles/support")
        bob.fill("textarea[name=definition]", bob.input_value("textarea").replace("Support", "Bob"))
        bob.click("button:has-text('Save role')")
        bob.wait_for_url(f"{base}/admin/roles/support")
        assert bob.inner_text("[data-version]") == "2"
        ann.fill("textarea[name=definition]", ann.input_value("textarea").replace("Support", "Ann"))
        ann.click("button:has-text('Save role')")
        assert "Someone else saved this role" in ann.inner_text("[role=alert]")
        assert '"Ann"' in ann.input_value("textarea")  # her edit is kept, not lost
        ann.goto(f"{base}/admin/roles/support")
        assert '"Bob"' in ann.input_value("textarea")
        # The role is one a user can be given, on the users screen.
        ann.goto(f"{base}/admin/users")
        assert ann.locator("input[name=roles][value=support]").count() == 1
        ann.click("a:has-text('bob@example.com')")
        ann.check("input[name=roles][value=support]")
        ann.click("button:has-text('Save changes')")
        assert "Your changes are saved." in ann.inner_text("[role=status]")
        assert ann.inner_text("[data-roles]") == "Administrator, Bob"  # the role's new title
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
