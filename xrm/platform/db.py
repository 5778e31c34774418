"""The database: one engine per process, explicit transactions, SQLite and PostgreSQL alike.

SQLite runs in WAL mode with a busy timeout and foreign keys on; write
transactions begin IMMEDIATE so two writers queue instead of failing on lock
upgrade. PostgreSQL sessions run in UTC, optionally inside a given schema (the
test suite isolates each run in a fresh one).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from xrm.platform import sqlite_functions
from xrm.platform.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000
PING_AFTER_IDLE_S = 1.0  # see _ping_when_idle


def insert_or_skip(conn: Connection, table: sa.Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for ``table`` in ``conn``'s dialect.

    Both databases spell it the same way in SQLAlchemy, from different modules;
    a concurrent insert of the same key waits for the other transaction and then
    adds nothing (``rowcount`` 0) instead of failing the caller's transaction.
    """
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_engine(settings: Settings) -> Engine:
    url = sa.make_url(_normalise_url(settings.database_url))
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if url.get_backend_name() == "postgresql":
        return _postgresql_engine(url, settings.database_schema)
    raise ValueError(f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql")


def _sqlite_engine(url: sa.URL) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        sqlite_functions.install(dbapi_connection)  # exact sums, minimums, maximums

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("xrm_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgresql_engine(url: sa.URL, schema: str | None) -> Engine:
    from psycopg.types.string import TextLoader  # only PostgreSQL needs the driver loaded

    options = "-c timezone=UTC"
    if schema:
        options += f" -c search_path={schema}"
    engine = sa.create_engine(url, connect_args={"options": options}, pool_size=10, max_overflow=10)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Ids are text everywhere in xrm: read uuid columns as text, not as uuid.UUID objects.
        dbapi_connection.adapters.register_loader("uuid", TextLoader)

    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it sat idle for ``PING_AFTER_IDLE_S``.

    A connection goes stale while it waits in the pool (a server restart, an
    idle timeout on the way); pinging it at every checkout, as ``pool_pre_ping``
    does, costs a round trip on every request, a sixth of a plain query's
    time. Connections in steady use skip it: should one have died meanwhile,
    its statement fails once and SQLAlchemy then replaces every connection
    opened before the failure.
    """

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["xrm_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("xrm_idle_since")
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool drops this connection and checks out another (a fresh one if need be).
            raise sa.exc.DisconnectionError(str(exc)) from exc


def take_turns(conn: Connection, purpose: str) -> None:
    """Make processes doing ``purpose`` take turns until ``conn``'s transaction ends.

    Schema work that each server process does at start-up (a plugin's tables)
    races between workers on PostgreSQL: two ``CREATE TABLE`` of the same name
    both pass ``checkfirst`` and one fails on the catalog's unique index. A
    transaction-level advisory lock queues the second behind the first, which
    then finds the table. SQLite's write transactions already take turns
    (``BEGIN IMMEDIATE``).
    """
    if conn.dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:8], "big", signed=True)
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


class Database:
    """The engine plus the two kinds of transaction every layer uses."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.dialect: str = self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction: committed on success, rolled back on any error."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(xrm_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (rolled back at the end)."""
        with self.engine.connect() as conn, conn.begin() as tx:
            yield conn
            tx.rollback()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
