"""Fixtures shared by the whole suite: a fresh, migrated database per test, on either engine.

Without ``XRM_TEST_DATABASE_URL`` every test gets its own SQLite file, copied
from one template migrated once per session (migrating is the slow part). With
``XRM_TEST_DATABASE_URL=postgresql+psycopg://...`` every test gets its own
PostgreSQL schema, created before and dropped after, so a failed or killed run
never leaves state that the next one sees. ``XRM_REQUIRE_POSTGRES=1`` turns an
unreachable PostgreSQL server into a failed run instead of skipped tests.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import sqlalchemy as sa

from xrm.entities.catalog import definitions
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import Actor, first_admin
from xrm.platform.migrate import upgrade
from xrm.platform.settings import Settings

# Property tests draw the same examples on every run, so a red CI always means a change
# broke something, never that a random draw found an old fault; XRM_HYPOTHESIS=explore
# draws new ones (run it now and then, and keep what it finds as an @example).
hypothesis.settings.register_profile("fixed", derandomize=True)
hypothesis.settings.register_profile("explore", derandomize=False)
hypothesis.settings.load_profile(os.environ.get("XRM_HYPOTHESIS", "fixed"))

TEST_DATABASE_URL = os.environ.get("XRM_TEST_DATABASE_URL") or None
REQUIRE_POSTGRES = os.environ.get("XRM_REQUIRE_POSTGRES") == "1"
ENGINE_KIND = "postgresql" if TEST_DATABASE_URL else "sqlite"


def _postgres_problem() -> str | None:
    """Why the PostgreSQL test server cannot be used, or None when it answers."""
    if TEST_DATABASE_URL is None:
        return "XRM_TEST_DATABASE_URL is not set"
    try:
        engine = sa.create_engine(TEST_DATABASE_URL, poolclass=sa.NullPool)
        if engine.dialect.name != "postgresql":
            return f"XRM_TEST_DATABASE_URL is not a PostgreSQL URL ({engine.dialect.name})"
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        return f"PostgreSQL at XRM_TEST_DATABASE_URL does not answer: {reason}"
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    if REQUIRE_POSTGRES:
        problem = _postgres_problem()
        if problem is not None:
            pytest.exit(f"XRM_REQUIRE_POSTGRES=1 but {problem}", returncode=1)
    _cheap_password_hashing()


def _cheap_password_hashing() -> None:
    """Hash passwords in this process with argon2id at its smallest cost.

    The platform hashes with argon2-cffi's recommended parameters, about 0.15 s of a core per
    hash and per check, by design. Hundreds of tests create users and sign in, which cost the
    suite about two minutes of its CI budget. The hash format and the verification path stay the
    same (an argon2 hash carries its parameters, so servers the tests start verify these hashes
    too); tests/platform/test_password_hashing.py checks the parameters the platform itself uses.
    """
    from argon2 import PasswordHasher

    from xrm.platform import identity

    identity._hashers[:] = [PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)]
    identity._dummy_hash.clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the long tests first; leave out the tests marked ``sqlite_only`` or ``rendering``
    when the run is on PostgreSQL.

    ``sqlite_only`` tests are about states only SQLite could ever hold (a NaN stored in a JSON
    column by an older release); on PostgreSQL they do not apply, and a skip would read as
    "PostgreSQL was not fully tested". ``rendering`` tests judge what a browser makes of the
    admin pages (Content-Security-Policy, axe-core): the markup is the same whichever database
    holds the records; running the judging twice would only cost the suite's time budget.
    ``browser_once`` scenarios drive the browser through screens whose routes the server tests
    (tests/admin_ui) exercise on both databases; the scenarios the issue names (a new admin's
    vendor type, a power user's before-rule, sign-in and Korean) run on both.
    """
    # The long tests (real servers, browsers, killed processes) go first: pytest-xdist hands
    # tests out in order, and one started last keeps one worker busy while the other idles.
    items.sort(
        key=lambda item: 0 if item.get_closest_marker("slow") or "e2e" in item.path.parts else 1
    )
    if ENGINE_KIND != "postgresql":
        return
    left_out = ("sqlite_only", "rendering", "browser_once")
    kept = [item for item in items if not any(item.get_closest_marker(m) for m in left_out)]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> str:
    if TEST_DATABASE_URL is None:
        return "xrm database: sqlite (a fresh file per test)"
    shown = sa.make_url(TEST_DATABASE_URL).render_as_string(hide_password=True)
    return f"xrm database: postgresql {shown} (a fresh schema per test)"


@dataclass(frozen=True)
class TestDatabase:
    """Where one test's database lives: a URL, plus a schema on PostgreSQL."""

    __test__ = False  # not a test class, despite the name

    url: str
    schema: str | None = None

    def settings(self) -> Settings:
        return Settings(database_url=self.url, database_schema=self.schema)

    def environment(self) -> dict[str, str]:
        """The process environment for running ``xrm`` against this database."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("XRM_")}
        env["XRM_DATABASE_URL"] = self.url
        if self.schema:
            env["XRM_DATABASE_SCHEMA"] = self.schema
        return env


@pytest.fixture(scope="session")
def engine_kind() -> str:
    """``"sqlite"`` or ``"postgresql"``: the engine this run tests."""
    return ENGINE_KIND


@pytest.fixture(scope="session")
def _postgres_admin() -> Iterator[sa.Engine]:
    """A plain connection pool to the PostgreSQL test database, for creating schemas."""
    problem = _postgres_problem()
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem)
    assert TEST_DATABASE_URL is not None
    engine = sa.create_engine(
        TEST_DATABASE_URL, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT"
    )
    yield engine
    engine.dispose()


def _fresh_postgres_schema(request: pytest.FixtureRequest) -> Iterator[TestDatabase]:
    admin: sa.Engine = request.getfixturevalue("_postgres_admin")
    assert TEST_DATABASE_URL is not None
    schema = f"xrm_t_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield TestDatabase(TEST_DATABASE_URL, schema)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def _postgres_schema(request: pytest.FixtureRequest) -> Iterator[TestDatabase]:
    yield from _fresh_postgres_schema(request)


@pytest.fixture
def _postgres_empty_schema(request: pytest.FixtureRequest) -> Iterator[TestDatabase]:
    """A second schema: ``empty_database`` must not be the test's own database."""
    yield from _fresh_postgres_schema(request)


@pytest.fixture
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> TestDatabase:
    """A database with nothing in it, not even the platform tables."""
    if ENGINE_KIND == "postgresql":
        result: TestDatabase = request.getfixturevalue("_postgres_empty_schema")
        return result
    return TestDatabase(f"sqlite:///{tmp_path / 'empty.db'}")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session, copied for every test."""
    path = tmp_path_factory.mktemp("template") / "xrm.db"
    db = Database(Settings(database_url=f"sqlite:///{path}"))
    try:
        upgrade(db)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.dispose()
    return path


@pytest.fixture
def test_database(request: pytest.FixtureRequest, tmp_path: Path) -> TestDatabase:
    """A fresh database for this test, with the platform tables at the newest version."""
    if ENGINE_KIND == "postgresql":
        target: TestDatabase = request.getfixturevalue("_postgres_schema")
        db = Database(target.settings())
        try:
            upgrade(db)
        finally:
            db.dispose()
        return target
    template: Path = request.getfixturevalue("_sqlite_template")
    path = tmp_path / "xrm.db"
    shutil.copyfile(template, path)
    return TestDatabase(f"sqlite:///{path}")


@pytest.fixture
def settings(test_database: TestDatabase) -> Settings:
    """Settings pointing at this test's fresh database."""
    return test_database.settings()


@pytest.fixture
def database_url(test_database: TestDatabase) -> str:
    return test_database.url


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """An open ``Database`` on this test's fresh, migrated database."""
    database = Database(settings)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def registry(db: Database, settings: Settings) -> Registry:
    """The registry of this test's database, with no definitions yet."""
    return Registry(db, settings)


@pytest.fixture
def service(db: Database, registry: Registry, settings: Settings) -> RecordService:
    """The record service of this test's database."""
    return RecordService(db, registry, settings)


@pytest.fixture
def admin(db: Database) -> Actor:
    """The first admin user (created on demand)."""
    with db.write() as conn:
        return first_admin(conn)


@pytest.fixture
def catalog_service(registry: Registry, service: RecordService) -> RecordService:
    """A record service on a database holding the built-in catalog (no records)."""
    registry.apply(definitions())
    return service


# Tables that requests themselves write (sign-ins, token use): not part of what a change touches.
_REQUEST_TABLES = frozenset({"users", "user_roles", "tokens", "sessions", "signin_failures"})


def database_state(db: Database, only: Collection[str] | None = None) -> dict[str, Any]:
    """Everything a definition change may touch: every table's shape and rows, the stored
    definitions, the schema version and the audit trail (for "a dry run changes nothing").

    ``only``: just these tables (and which tables exist)."""
    inspector = sa.inspect(db.engine)
    names = sorted(inspector.get_table_names())
    state: dict[str, Any] = {"": names}
    with db.read() as conn:
        for name in names:
            if name.removeprefix("xrm_") in _REQUEST_TABLES or (only and name not in only):
                continue
            columns = inspector.get_columns(name)
            shape = (
                [(c["name"], str(c["type"]), c["nullable"]) for c in columns],
                sorted(
                    (str(i["name"]), tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(name)
                ),
                sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"])
                    for f in inspector.get_foreign_keys(name)
                ),
            )
            table = sa.table(name, *(sa.column(c["name"]) for c in columns))
            rows = sorted(repr(tuple(r)) for r in conn.execute(sa.select(table)))
            state[name] = (shape, rows)
    return state


@pytest.fixture
def snapshot(db: Database) -> Callable[..., dict[str, Any]]:
    """Takes ``database_state`` of this test's database when called."""
    return lambda only=None: database_state(db, only)
