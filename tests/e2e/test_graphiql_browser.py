"""GraphiQL works offline for a signed-in admin, in a real browser (issue 10, point 29).

Every request the page makes to any other address is blocked (and recorded):
GraphiQL's files must come from the server itself, from ``node_modules``.
The admin signs in, opens ``/graphql``, runs a query and sees the answer;
the same cookie without the CSRF header GraphiQL sends gets nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from server import ServedDatabase, running_server
from test_admin_browser import create_user, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.browser_once]

QUERY = "{ customers(first: 3, orderBy: [{name: ASC}]) { totalCount nodes { name } } }"


def test_a_signed_in_admin_runs_a_query_in_graphiql_with_no_internet(
    test_database: ServedDatabase, tmp_path: Path
) -> None:
    create_user(test_database, "ann@example.com", "admin")
    with running_server(test_database, tmp_path / "serve.log", "--demo") as base, chromium() as b:
        browser: Any = b
        page = sign_in(browser, base, "ann@example.com")
        outside: list[str] = []

        def only_this_server(route: Any) -> None:
            if route.request.url.startswith(base):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.context.route("**/*", only_this_server)
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.goto(f"{base}/graphql")
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=30_000)
        page.evaluate(
            "q => document.querySelector('.graphiql-query-editor .CodeMirror')"
            ".CodeMirror.setValue(q)",
            QUERY,
        )
        page.click(".graphiql-execute-button")
        page.wait_for_function(
            "() => (document.querySelector('.graphiql-response .CodeMirror') || {})"
            ".CodeMirror?.getValue().includes('totalCount')",
            timeout=30_000,
        )
        shown = page.evaluate(
            "() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()"
        )
        answer = json.loads(shown)
        assert "errors" not in answer, answer
        assert answer["data"]["customers"]["totalCount"] > 0
        assert len(answer["data"]["customers"]["nodes"]) == 3
        assert outside == [], f"the page reached outside the server: {outside}"
        assert not [c for c in console if "Content Security Policy" in c], console
        # The session cookie alone (a request another site's page could make) counts for nothing.
        bare = page.evaluate(
            """q => fetch('/graphql', {method: 'POST', body: JSON.stringify({query: q}),
                    headers: {'Content-Type': 'application/json'}}).then(r => r.json())""",
            QUERY,
        )
        assert bare["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
