"""What one GraphQL request carries: the caller, its services, and its read session."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from xrm.api.names import Translator
from xrm.entities.catalog_state import Catalog
from xrm.entities.records import RecordService, RecordSession
from xrm.entities.registry import Registry, version_query, version_value
from xrm.errors import Unauthenticated
from xrm.platform.db import Database
from xrm.platform.identity import Actor, actor_for_token, touch_token

if TYPE_CHECKING:
    from xrm.workflows.engine import WorkflowEngine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """The process-wide services resolvers reach."""

    registry: Registry
    records: RecordService
    workflows: WorkflowEngine | None = None  # None where no sandbox runs (some tools, tests)


@dataclass
class RequestContext:
    """One request: opened read session on first use, closed when execution ends.

    Queries share one read transaction, so every list and relation in a
    response comes from the same snapshot; each mutation field writes in its
    own transaction, committed when the field is resolved.
    """

    services: Services
    actor: Actor | None
    request_id: str
    token: str | None = None  # the bearer token, checked by ``authenticate``
    catalog: Catalog | None = None
    translator: Translator = field(init=False)
    _stack: ExitStack = field(default_factory=ExitStack)
    _reader: RecordSession | None = None
    _conn: Connection | None = None
    _version: int | None = None  # the schema version read with the token
    _touch: str | None = None  # a token whose use is to be recorded once the read ends
    # The statement that answered the whole query, if one did (``json_plan``), and what
    # identifies a repetition of this request (``express``): together they make a plan.
    answered_by: Any = None
    express_key: Hashable | None = None
    # What ``warn`` duplicate rules matched in this request's committed writes: the
    # response carries them as ``extensions.warnings`` (additive; the data is unchanged).
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def authenticate(self) -> None:
        """Check the bearer token inside the request's read transaction, kept for its reads.

        A separate transaction for the token would cost a connection checkout,
        BEGIN and COMMIT more per request. The token's last use is recorded (at
        most once a minute) by ``close``, after the read is released: holding
        one pooled connection while waiting for another could exhaust the pool
        when many requests arrive at once.
        """
        token, self.token = self.token, None
        if token is None or self.actor is not None:
            return
        version = version_query().scalar_subquery()
        use = actor_for_token(self._connection(), token, also={"version": version})
        if use is None:
            return
        self._version = version_value(use.also["version"])
        if use.stale:
            self._touch = use.token_id
        self.actor = use.actor

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._stack.enter_context(self.services.records.db.read())
        return self._conn

    def bind(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.translator = Translator(catalog)

    def caller(self) -> Actor:
        if self.actor is None:
            raise Unauthenticated("authentication required: send Authorization: Bearer <token>")
        return self.actor

    def reader(self) -> RecordSession:
        if self._reader is None:
            actor = self.caller()
            self._reader = self.services.records.session_on(
                self._connection(), actor, "api", request_id=self.request_id, version=self._version
            )
        return self._reader

    @contextmanager
    def writer(self) -> Iterator[RecordSession]:
        with self.services.records.session(
            self.caller(), "api", request_id=self.request_id
        ) as session:
            yield session
        self.warnings.extend(session.duplicate_warnings)

    def close(self) -> None:
        self._stack.close()
        self._reader = None
        self._conn = None
        self._version = None
        touch, self._touch = self._touch, None
        if touch is not None:
            record_use(self.services.records.db, touch, self.request_id)


def record_use(db: Database, token_id: str, request_id: str) -> None:
    """Record a token's use, best effort: a busy database must not fail the answer."""
    try:
        with db.write() as conn:
            touch_token(conn, token_id)
    except Exception:
        log.warning("request %s: could not record token use", request_id, exc_info=True)
