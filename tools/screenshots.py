"""Screenshots of every admin screen, to be looked at before a screen is called done.

Starts ``xrm serve --demo`` on a fresh SQLite file, signs in as an admin, and visits
every parameterless admin page and then every ``/admin`` link found, keeping the first
page of each route (plus any ``--path`` given). Each is saved at desktop (1280 wide) and
phone (390 wide) width, in English and in Korean, as ``OUT/<route>-<lang>-<width>.png``,
whole pages. Korean needs a CJK font (Debian: ``apt-get install -y fonts-noto-cjk``).

    python tools/screenshots.py /tmp/shots [--path /admin/records/customer?q=a ...]

A developer's tool, not a test: nothing here asserts; the pictures are for eyes.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page, sync_playwright

from xrm.admin_ui.routes import routes

PASSWORD = "correct horse battery staple"
WIDTHS = {"desktop": 1280, "phone": 390}
LANGUAGES = {"en": "en-US", "ko": "ko-KR"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _route_of(path: str) -> str:
    for route in routes():
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(urlsplit(path).path):
            return str(getattr(route, "path", path))
    return path


def _file_name(route: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", route.strip("/")) or "root"


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/admin/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")


def _pages(page: Page, base: str, extra: list[str]) -> dict[str, str]:
    """The first path seen of each route, breadth first from the parameterless ones."""
    queue = [r.path for r in routes() if "{" not in getattr(r, "path", "{")] + extra
    chosen: dict[str, str] = {}
    seen: set[str] = set()
    while queue and len(seen) < 200:
        path = queue.pop(0)
        if path in seen or path.startswith("/admin/logout"):
            continue
        seen.add(path)
        route = _route_of(path) if path not in extra else path
        if route in chosen:
            continue
        response = page.goto(base + path)
        if response is None or response.status >= 400:
            continue
        chosen[route] = path
        for link in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            if link.startswith(base) and urlsplit(link).path.startswith("/admin"):
                parts = urlsplit(link)
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--path", action="append", default=[], help="also this page")
    parser.add_argument("--chromium", default=os.environ.get("XRM_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/shots.db"
        xrm = [str(Path(sys.executable).with_name("xrm"))]
        subprocess.run(
            [
                *xrm,
                "--db",
                url,
                "user",
                "create",
                "shots@example.com",
                "--role",
                "admin",
                "--password-stdin",
            ],
            input=PASSWORD.encode(),
            check=True,
            capture_output=True,
        )
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115 - closed with the server
        server = subprocess.Popen(
            [*xrm, "--db", url, "serve", "--demo", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=args.chromium, headless=True, args=["--no-sandbox"]
                )
                for lang, accept in LANGUAGES.items():
                    for size, width in WIDTHS.items():
                        context = browser.new_context(
                            locale=accept,
                            extra_http_headers={"Accept-Language": accept},
                            viewport={"width": width, "height": 900},
                        )
                        page = context.new_page()
                        _sign_in(page, base, "shots@example.com")
                        for route, path in _pages(page, base, args.path).items():
                            page.goto(base + path)
                            name = f"{_file_name(route)}-{lang}-{size}.png"
                            page.screenshot(path=str(args.out / name), full_page=True)
                            print(args.out / name, path)
                        context.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
