"""What every part of a record session shares: one transaction, one schema version, one actor.

``RecordSession`` is composed of one mixin per concept (access, shape, write
events, checks, create, read, update, delete, links). Each mixin derives from
this class, so that mypy knows the attributes it uses, and from the mixins
whose methods it calls, so that its bases say what it depends on. The
attributes are declared here and set once, by ``RecordSession.__init__``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from xrm.entities.catalog_state import Catalog
from xrm.entities.events import WriteListener
from xrm.entities.query import Compiler
from xrm.entities.records.pages import StatementCache
from xrm.platform.access import Permissions
from xrm.platform.identity import Actor
from xrm.platform.settings import Settings


class SessionState:
    """The attributes of a record session, as its mixins see them."""

    conn: Connection
    listener: WriteListener | None
    depth: int
    chain: list[str]
    _rollback_hooks: list[Callable[[], None]]
    _statements: StatementCache
    catalog: Catalog
    actor: Actor
    channel: str
    request_id: str | None
    settings: Settings
    dialect: str
    permissions: Permissions
    compiler: Compiler
    _audit: list[dict[str, Any]]
    # What ``warn`` duplicate rules matched in this session's writes (the API returns them).
    duplicate_warnings: list[dict[str, Any]]
    _shape_cache: dict[tuple[str, frozenset[str] | None], tuple[tuple[str, ...], tuple[str, ...]]]
