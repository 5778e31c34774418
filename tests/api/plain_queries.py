"""Plain read queries over the demo catalog that every answering path must agree on.

Shared by the fast-path and the one-statement differential tests (a module of
their own: importing one test module from another would collect its tests twice).
"""

from __future__ import annotations

from typing import Any

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
