"""Front-end libraries from the npm registry, served to admin pages from ``node_modules``.

htmx comes through package.json and package-lock.json (``npm ci``), not
copied into the tree (DESIGN decision 8). Files are served by name from a
fixed list, never an arbitrary path, under ``/admin/vendor/``: same origin, so
the admin pages' Content-Security-Policy (``script-src 'self'``) lets them
load. Without ``node_modules`` the file answers 404 and the pages still work:
htmx only improves them.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

PATH = "/admin/vendor"

_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding package.json

# name under PATH -> (package, path inside it)
FILES: dict[str, tuple[str, str]] = {
    "htmx.min.js": ("htmx.org", "dist/htmx.min.js"),
}


def _file(name: str) -> Path | None:
    found = FILES.get(name)
    if found is None:
        return None
    package, path = found
    for base in (_ROOT, Path.cwd()):
        candidate = base / "node_modules" / package / path
        if candidate.is_file():
            return candidate
    return None


async def asset(request: Request) -> Response:
    """``GET /admin/vendor/{name}``: one file of the fixed list, else 404."""
    path = _file(request.path_params["name"])
    if path is None:
        return PlainTextResponse("Not Found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
