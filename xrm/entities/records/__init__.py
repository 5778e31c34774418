"""The record service: the one door through which every record is read and written.

The API, the admin UI, imports, workflow scripts and plugins all come through
here, so validation, format normalisation, reference checks, optimistic
locking, ``onDelete`` rules, gap-free autonumbers and the audit trail hold on
every path. A ``RecordSession`` is one transaction: everything done in it
commits together or not at all, audit rows included.

Records are plain dicts: the live properties by name (a reference holds the
other record's id), plus ``id``, ``version``, ``created_at``, ``updated_at``,
``created_by``, ``updated_by`` and ``owner``. Related records are loaded for a
whole page at once (``fetch``, ``children``): one query per relation and level,
never one per row.
"""

# The package: one module per concept of the record session, composed here.
#   pages         Page, page_size, id chunks, the statement cache (what every reader shares)
#   state         the attributes every part of a session shares (typed for the mixins)
#   access        row scopes, hidden and read-only fields, owners
#   shape         rows to records and back, system fields, canonical ids
#   write_events  audit rows, before/after events to the listener, rollback hooks
#   checks        unknown fields, owners, references, uniqueness; lost races
#   duplicates    duplicate rules on every write, and find_duplicates for importers
#   create        create, create_many, auto-numbers
#   read          get, fetch, query, children, aggregate, users, history
#   update        update, and the locked read changes start from
#   delete        the onDelete cascade engine, erase, versions and restore
#   links         link, unlink
#   merge         two records into one: references and links moved, both histories kept

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection

from xrm.entities.catalog_state import Catalog
from xrm.entities.events import WriteListener
from xrm.entities.query import Compiler
from xrm.entities.records.create import CreateMixin, autonumber_pattern, autonumber_text
from xrm.entities.records.delete import ERASED
from xrm.entities.records.links import LinksMixin
from xrm.entities.records.merge import MergeMixin
from xrm.entities.records.pages import Page, Record, StatementCache, page_size
from xrm.entities.records.read import ReadMixin
from xrm.entities.records.shape import formats_uuid
from xrm.entities.registry import Registry
from xrm.platform.access import Permissions
from xrm.platform.db import Database
from xrm.platform.identity import Actor
from xrm.platform.settings import Settings

__all__ = [
    "ERASED",
    "Page",
    "Record",
    "RecordService",
    "RecordSession",
    "StatementCache",
    "autonumber_pattern",
    "autonumber_text",
    "formats_uuid",
    "page_size",
]


class RecordService:
    """Opens record sessions on one database; cheap to keep for the process's lifetime."""

    def __init__(self, db: Database, registry: Registry, settings: Settings) -> None:
        self.db = db
        self.registry = registry
        self.settings = settings
        self.statements = StatementCache()
        # Who hears about writes (the workflow engine, when one runs in this process).
        self.listener: WriteListener | None = None

    @contextmanager
    def session(
        self,
        actor: Actor,
        channel: str = "api",
        *,
        request_id: str | None = None,
        write: bool = True,
    ) -> Iterator[RecordSession]:
        """One transaction for ``actor``: committed when the block ends, rolled back on error.

        After a rollback the session's ``on_rollback`` hooks run (in their own
        transactions): how a rule that refused a write still leaves its run
        in the history.
        """
        transaction = self.db.write() if write else self.db.read()
        session: RecordSession | None = None
        try:
            with transaction as conn:
                session = self.session_on(conn, actor, channel, request_id=request_id)
                yield session
        except BaseException:
            if session is not None:
                session.rolled_back()
            raise

    def session_on(
        self,
        conn: Connection,
        actor: Actor,
        channel: str = "api",
        *,
        request_id: str | None = None,
        version: int | None = None,
    ) -> RecordSession:
        """A session inside a transaction the caller already opened (and will end).

        The GraphQL view checks the caller's token in its read transaction
        and then reads the records in that same one: one round trip fewer.
        """
        return RecordSession(
            conn,
            self.registry.current(conn, version),
            actor,
            channel,
            request_id,
            self.settings,
            statements=self.statements,
            listener=self.listener,
        )


class RecordSession(ReadMixin, CreateMixin, MergeMixin, LinksMixin):
    """Reads and writes inside one transaction, seeing one schema version.

    A thin front: each concept is a mixin of its own module (see above); this
    class only composes them and sets the state they share (``SessionState``).
    """

    def __init__(
        self,
        conn: Connection,
        catalog: Catalog,
        actor: Actor,
        channel: str,
        request_id: str | None,
        settings: Settings,
        statements: StatementCache | None = None,
        listener: WriteListener | None = None,
    ) -> None:
        self.conn = conn
        self.listener = listener
        # How deep in a chain of rules that fire rules this session is (the listener keeps it).
        self.depth = 0
        self.chain = []
        self._rollback_hooks = []
        self._statements = statements if statements is not None else StatementCache()
        self.catalog = catalog
        self.actor = actor
        self.channel = channel
        self.request_id = request_id
        self.settings = settings
        self.dialect = conn.dialect.name
        self.permissions = Permissions.of(actor, catalog.roles)
        self.compiler = Compiler(catalog, self.dialect, settings.phone_region, access=self)
        self._audit = []
        self.duplicate_warnings = []
        self._shape_cache = {}
