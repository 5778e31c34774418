"""A signed-in admin UI session may use /graphql, but only from GraphiQL's page (point 29).

The session cookie now reaches /graphql; it counts there only with the
session's CSRF token in ``X-XRM-CSRF`` (which GraphiQL's page carries and
another site's page cannot read or send) and no foreign ``Origin``.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

# The signed-in clients (a conftest.py here would shadow the root conftest module).
pytest_plugins = ["admin_clients"]

QUERY = "{ customers { totalCount } }"
CREATE = 'mutation { createCustomer(input: {name: "Made in GraphiQL"}) { name } }'


def graphiql_csrf(client: TestClient) -> str | None:
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    found = re.search(r'<meta name="xrm-csrf" content="([^"]+)">', page.text)
    return found.group(1) if found else None


def ask(client: TestClient, query: str, **headers: str) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or [{}]
    found: str | None = errors[0].get("extensions", {}).get("code")
    return found


def test_graphiql_page_hands_the_session_its_csrf_token(ann: TestClient) -> None:
    token = graphiql_csrf(ann)
    assert token
    assert ask(ann, QUERY, **{"X-XRM-CSRF": token})["data"] == {"customers": {"totalCount": 0}}
    assert ask(ann, CREATE, **{"X-XRM-CSRF": token})["data"] == {
        "createCustomer": {"name": "Made in GraphiQL"}
    }
    # The same origin, said aloud, is fine.
    same = {"X-XRM-CSRF": token, "Origin": "http://testserver"}
    assert ask(ann, QUERY, **same)["data"] == {"customers": {"totalCount": 1}}


def test_the_cookie_alone_or_from_another_site_counts_for_nothing(ann: TestClient) -> None:
    token = graphiql_csrf(ann)
    assert token
    assert code(ask(ann, QUERY)) == "UNAUTHENTICATED"
    assert code(ask(ann, QUERY, **{"X-XRM-CSRF": token[:-1] + "x"})) == "UNAUTHENTICATED"
    foreign = {"X-XRM-CSRF": token, "Origin": "https://evil.example"}
    assert code(ask(ann, CREATE, **foreign)) == "UNAUTHENTICATED"
    # Signed out: the page's token no longer opens anything.
    home = ann.get("/admin/").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', home)
    assert csrf
    ann.post("/admin/logout", data={"csrf": csrf.group(1)})
    assert code(ask(ann, QUERY, **{"X-XRM-CSRF": token})) == "UNAUTHENTICATED"
    assert graphiql_csrf(ann) is None


def test_the_session_keeps_its_users_rights(vic: TestClient) -> None:
    token = graphiql_csrf(vic)
    assert token
    assert ask(vic, QUERY, **{"X-XRM-CSRF": token})["data"] == {"customers": {"totalCount": 0}}
    assert code(ask(vic, CREATE, **{"X-XRM-CSRF": token})) == "FORBIDDEN"


def test_graphiql_without_a_session_shows_no_token(app_settings: Any) -> None:
    from xrm.app import create_app

    with TestClient(create_app(app_settings)) as client:
        assert graphiql_csrf(client) is None
        assert code(ask(client, QUERY, **{"X-XRM-CSRF": "guess"})) == "UNAUTHENTICATED"
