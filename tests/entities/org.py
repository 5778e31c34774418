"""A small organisation model used by the record and query tests: every kind and rule once."""

from __future__ import annotations

from typing import Any

DEPARTMENT: dict[str, Any] = {
    "type": "object",
    "title": "Department",
    "x-xrm": {
        "name": "department",
        "plural": "departments",
        "label": {"en": "Department", "ko": "부서", "zh": "部门"},
        "display": "name",
        "unique": [["code"]],
    },
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "code": {"type": "string", "pattern": "^[A-Z]{2,5}$"},
        "budget": {"type": "string", "format": "decimal"},
        "parent": {
            "type": "string",
            "x-xrm-ref": {"entity": "department", "inverse": "children", "onDelete": "cascade"},
        },
    },
    "required": ["name"],
}

EMPLOYEE: dict[str, Any] = {
    "type": "object",
    "title": "Employee",
    "x-xrm": {"name": "employee", "plural": "employees", "display": "name"},
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "email": {"type": "string", "format": "email"},
        "phone": {"type": "string", "format": "phone"},
        "level": {"type": "integer", "minimum": 1, "maximum": 9},
        "points": {"type": "integer", "format": "int64"},
        "salary": {"type": "string", "format": "decimal"},
        "score": {"type": "number"},
        "hired": {"type": "string", "format": "date"},
        "seen_at": {"type": "string", "format": "date-time"},
        "active": {"type": "boolean", "default": True},
        "status": {"type": "string", "enum": ["new", "busy", "away"], "default": "new"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "badge": {"type": "string", "x-xrm-autonumber": "EMP-{seq:4}"},
        "department": {
            "type": "string",
            "x-xrm-ref": {"entity": "department", "inverse": "employees", "onDelete": "cascade"},
        },
        "manager": {
            "type": "string",
            "x-xrm-ref": {"entity": "employee", "inverse": "reports", "onDelete": "set_null"},
        },
    },
    "required": ["name"],
}

PROJECT: dict[str, Any] = {
    "type": "object",
    "title": "Project",
    "x-xrm": {"name": "project", "plural": "projects"},
    "properties": {
        "title": {"type": "string"},
        "lead": {
            "type": "string",
            "x-xrm-ref": {"entity": "employee", "inverse": "led_projects", "onDelete": "restrict"},
        },
    },
    "required": ["title"],
}

ASSIGNMENTS: dict[str, Any] = {
    "relationship": "assignments",
    "from": "employee",
    "to": "project",
    "fromField": "projects",
    "toField": "members",
    "properties": {
        "role": {"type": "string", "enum": ["owner", "member"]},
        "hours": {"type": "number", "minimum": 0},
    },
}

ORG = [DEPARTMENT, EMPLOYEE, PROJECT, ASSIGNMENTS]
