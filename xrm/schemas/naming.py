"""Naming rules shared by every layer: identifiers, reserved names, case conversion.

Definitions become SQL tables, GraphQL names and Python keys, so one set of rules
decides what a name may be, and one place converts between snake_case and the
camelCase/PascalCase spellings the API uses.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 40
# PostgreSQL truncates identifiers longer than 63 bytes; we refuse instead.
MAX_SQL_IDENTIFIER = 63

NAME_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")

RESERVED_PROPERTIES = frozenset(
    {"id", "version", "created_at", "updated_at", "created_by", "updated_by", "owner", "history"}
)
# The id columns of system references (``owner`` is stored as ``owner_id``), as ``<ref>_id``.
SYSTEM_REFERENCE_COLUMNS = frozenset({"owner_id"})
RESERVED_TYPES = frozenset(
    {"user", "role", "workflow", "entity_type", "relationship", "audit", "job"}
)

# Names the admin UI's addresses take for its own pages: ``/admin/types/new``,
# ``/admin/workflows/new``, ``/admin/types/<type>/relationships/new``. A type, relationship or
# workflow by one of these names could never be opened there, so a NEW one is refused
# (``Registry.apply``, every door: GraphQL, CLI, admin UI). The rule came after the others: a
# definition stored before it keeps loading and can still be changed, so it is not checked
# when a stored definition is read back (``xrm.schemas.parse``).
PAGE_NAMES = frozenset({"new"})

ENTITY_TABLE_PREFIX = "e_"
RELATIONSHIP_TABLE_PREFIX = "r_"


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid identifier, or None when it is."""
    if not isinstance(name, str):
        return "must be a string"
    if len(name) > MAX_NAME:
        return f"{name!r} is longer than {MAX_NAME} characters"
    if not NAME_RE.match(name):
        return (
            f"{name!r} is not a lower snake_case ASCII identifier "
            "(letters, digits and single underscores, starting with a letter)"
        )
    return None


def new_name_problem(name: str) -> str | None:
    """Why ``name`` may not be given to a type, relationship or workflow defined now, or None.

    Only for definitions that are not stored yet (see :data:`PAGE_NAMES`).
    """
    if name in PAGE_NAMES:
        return f"{name!r} is reserved for the admin UI's own pages: choose another name"
    return None


def camel(name: str) -> str:
    """``invoice_line`` -> ``invoiceLine``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def pascal(name: str) -> str:
    """``invoice_line`` -> ``InvoiceLine``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def snake(name: str) -> str:
    """``invoiceLine`` -> ``invoice_line`` (the inverse of :func:`camel`)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def entity_table(name: str) -> str:
    return ENTITY_TABLE_PREFIX + name


def relationship_table(name: str) -> str:
    return RELATIONSHIP_TABLE_PREFIX + name


def constraint_name(kind: str, table: str, *parts: str) -> str:
    """A deterministic constraint/index name that fits PostgreSQL's 63-byte limit."""
    full = "_".join((kind, table, *parts))
    if len(full) <= MAX_SQL_IDENTIFIER:
        return full
    digest = hashlib.sha1(full.encode()).hexdigest()[:10]
    return f"{full[: MAX_SQL_IDENTIFIER - 11]}_{digest}"
