"""A `lead` type with duplicate rules, shared by the tests of tests/duplicates."""

from __future__ import annotations

from typing import Any

SAME_EMAIL = {"name": "same email", "match": [{"field": "email"}], "action": "block"}
SIMILAR_NAME = {
    "name": "similar name",
    "match": [{"field": "name", "fuzzy": 0.85}, {"field": "phone"}],
    "action": "warn",
}


def lead(*rules: dict[str, Any]) -> dict[str, Any]:
    """The ``lead`` entity type with ``rules`` as its ``x-xrm.duplicates``."""
    return {
        "type": "object",
        "x-xrm": {
            "name": "lead",
            "plural": "leads",
            "label": {"en": "Lead", "ko": "잠재 고객"},
            "display": "name",
            "duplicates": list(rules),
        },
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "email": {"type": "string", "format": "email"},
            "phone": {"type": "string", "format": "phone"},
            "visits": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name"],
    }


LEAD_ROLE = {
    "role": "lead_rep",
    "title": "Lead rep",
    "entities": {"lead": {"read": "own", "create": "all", "update": "own"}},
}
