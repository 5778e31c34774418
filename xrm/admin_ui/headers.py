"""What every admin UI response carries for the browser's protection, and where its CSS lives.

The Content-Security-Policy lets a page load scripts, styles, images and
fonts from this server only, and run no inline script or style: an injected
``<script>`` or ``onclick=`` (should escaping ever fail) does nothing. The
pages satisfy it by keeping their CSS in ``static/admin.css`` and having no
inline script; tests/e2e/test_admin_csp.py opens every admin page in a real
browser and fails on any violation it reports, so a new page or template
that breaks the policy is caught. Set here for every response under
``/admin`` (pages, redirects, refusals), whichever handler made it.
"""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/admin"
STATIC = "/admin/static"

POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)

HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class AdminHeaders:
    """ASGI middleware: ``HEADERS`` on every response to a path under ``/admin``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def static_files() -> Mount:
    """``/admin/static``: the admin UI's stylesheet (and later its scripts), nothing else."""
    folder = Path(__file__).with_name("static")
    return Mount(STATIC, app=StaticFiles(directory=folder), name="admin_static")
