"""GraphiQL at ``GET /graphql`` in a browser, from files this server holds: no internet needed.

GraphiQL, React and ReactDOM come from the npm registry through
package.json and package-lock.json (``npm ci``), and are served from
``node_modules`` under ``/static/graphiql/`` by name from a fixed list (never
an arbitrary path); xrm's own start-up script and style sit beside this
module. The page allows scripts and styles from this server only (its
Content-Security-Policy), so it has no inline script: the session's CSRF
token, which a signed-in admin's requests send back as ``X-XRM-CSRF``, is
handed over in a ``<meta>`` element. Without ``node_modules`` the page says
what to run instead of staying blank.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

CSRF_HEADER = "x-xrm-csrf"
ASSET_PATH = "/static/graphiql"

_HERE = Path(__file__).with_name("static")
_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding package.json

# name under ASSET_PATH -> (package, path inside it); None: a file of xrm itself.
_FILES: dict[str, tuple[str | None, str]] = {
    "react.production.min.js": ("react", "umd/react.production.min.js"),
    "react-dom.production.min.js": ("react-dom", "umd/react-dom.production.min.js"),
    "graphiql.min.js": ("graphiql", "graphiql.min.js"),
    "graphiql.min.css": ("graphiql", "graphiql.min.css"),
    "xrm-graphiql.js": (None, "graphiql.js"),
    "xrm-graphiql.css": (None, "graphiql.css"),
}

# GraphiQL's own dialogs (radix-ui) add <style> elements at run time, which is the
# one thing ``style-src 'self'`` alone would refuse; scripts stay 'self' only.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def node_modules() -> Path | None:
    """Where ``npm ci`` put the packages: beside package.json, else the working folder."""
    for base in (_ROOT, Path.cwd()):
        folder = base / "node_modules"
        if all((folder / package / path).is_file() for package, path in _packaged()):
            return folder
    return None


def _packaged() -> list[tuple[str, str]]:
    return [(package, path) for package, path in _FILES.values() if package is not None]


def _file(name: str) -> Path | None:
    found = _FILES.get(name)
    if found is None:
        return None
    package, path = found
    if package is None:
        return _HERE / path
    folder = node_modules()
    return None if folder is None else folder / package / path


async def asset(request: Request) -> Response:
    """``GET /static/graphiql/{name}``: one file of the fixed list, else 404."""
    path = _file(request.path_params["name"])
    if path is None or not path.is_file():
        return PlainTextResponse("Not Found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


def page(csrf: str | None) -> HTMLResponse:
    """The GraphiQL page; ``csrf``: the signed-in session's token, if there is one."""
    if node_modules() is None:
        body = _MISSING.format(css=f"{ASSET_PATH}/xrm-graphiql.css", root=html.escape(str(_ROOT)))
        status = 503
    else:
        meta = f'<meta name="xrm-csrf" content="{html.escape(csrf)}">' if csrf else ""
        body = _PAGE.format(assets=ASSET_PATH, csrf_meta=meta)
        status = 200
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            "Content-Security-Policy": POLICY,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  {csrf_meta}
  <title>GraphiQL · xrm</title>
  <link rel="stylesheet" href="{assets}/graphiql.min.css">
  <link rel="stylesheet" href="{assets}/xrm-graphiql.css">
  <script src="{assets}/react.production.min.js" defer></script>
  <script src="{assets}/react-dom.production.min.js" defer></script>
  <script src="{assets}/graphiql.min.js" defer></script>
  <script src="{assets}/xrm-graphiql.js" defer></script>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
</body>
</html>
"""

_MISSING = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>GraphiQL is not installed · xrm</title>
  <link rel="stylesheet" href="{css}">
</head>
<body>
  <main class="xrm-missing">
    <h1>GraphiQL is not installed on this server</h1>
    <p>Its files come from npm. Run <code>npm ci</code> in <code>{root}</code>
    (where package.json is), then reload this page.</p>
    <p>The API itself works without it: <code>POST /graphql</code> with a token.</p>
  </main>
</body>
</html>
"""
