"""Plain read queries over the demo catalog that every answering path must agree on.

Shared by the fast-path and the one-statement differential tests (a module of
their own: importing one test module from another would collect its tests twice),
with ``post``, which asks one and makes its answer comparable across paths.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

SHARED_PLAIN: list[tuple[str, dict[str, Any]]] = [
    (
        """{ a: customers(first: 2, orderBy: [{name: DESC}]) { nodes { n: name e: email } }
             b: partners(filter: {kind: {eq: "reseller"}}) { totalCount nodes { name
               parent { name } customers(first: 3) { nodes { name } } } }
             __typename }""",
        {},
    ),
    (
        """query($f: GrievanceFilter) { grievances(filter: $f, orderBy: [{raisedAt: DESC}]) {
             nodes { number severity raisedAt resolvedAt dueDate customer { name }
                     contact { fullName customer { name partner { name } } }
                     asset { name } } } }""",
        {"f": {"or": [{"severity": {"in": ["high", "critical"]}}, {"status": {"eq": "open"}}]}},
    ),
    (
        """{ tasks(first: 10, orderBy: [{dueDate: ASC}]) { nodes { title dueDate completedAt
             assignee { email } assigneeId customer { name } grievance { number } } } }""",
        {},
    ),
    (
        """{ customers(first: 4) { nodes { relatedCustomers { edges { attributes
               node { name relatedFrom { totalCount } } } } } } }""",
        {},
    ),
]


def post(client: TestClient, token: str, query: str, variables: dict[str, Any]) -> Any:
    """The answer to ``query``, without what differs between two runs (request ids)."""
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    for error in body.get("errors", ()):
        error["extensions"].pop("requestId", None)
        error["message"] = error["message"].split(" (request ")[0]
    return body
