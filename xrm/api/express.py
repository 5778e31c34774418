"""Repeated plain queries: one statement, on PostgreSQL one round trip and no transaction.

A client usually sends the same few requests again and again. The first
time, the ordinary path answers: it checks the token, reads the schema
version, validates the document, applies the limits and, for a plain query,
builds the one statement of ``json_plan`` that returns the whole answer.
That statement is then remembered as a *plan*, keyed by the token's hash and
the request body's exact bytes, for the schema it was built on.

The next time the same body arrives with the same token, the view sends a
single statement: the token check and the schema version (``token_query``)
with the answer beside them, computed only when the token is still valid and
the version is still the plan's. Python then checks the token row exactly as
``token_use`` always does, and that the user and roles are the plan's. If
anything differs (revoked, expired, roles or schema changed) the answer is
thrown away and the ordinary path answers, which also refreshes the plan.
So the token is still checked on every request, in the same snapshot as the
data, just as the ordinary path does; what is saved is BEGIN, the separate
token statement, ROLLBACK, graphql-core's work and parsing JSON back into
Python: the database's text is the response's ``data``.

On PostgreSQL the one statement runs in autocommit on a pooled connection
(a single statement sees one snapshot), through the driver with its
parameters bound once when the plan is made (no SQLAlchemy
compilation or cache-key work per request): each parameter is converted as
SQLAlchemy would convert it once, when the plan is made; lists and literal
parameters are rendered into the text then. On SQLite, where a statement
costs no round trip, the token check and then the answer run through
SQLAlchemy in one read transaction.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.rows import dict_row

from xrm.api.lru import Lru
from xrm.entities.json_query import Prepared, Unsupported, answer_bytes, read_answer
from xrm.entities.registry import version_query, version_value
from xrm.platform.db import Database
from xrm.platform.identity import Actor, TokenUse, token_query, token_use
from xrm.schemas.formats import json_bytes

TOKEN_PARAM = "xrm_token_hash"
ANSWER = "xrm_answer"
BODY_LIMIT = 16 * 1024  # larger bodies are not remembered
PLANS_KEPT = 512  # per schema; a plan holds its body and its SQL text (a few kB)


class PlanFailed(Exception):
    """A plan's statement failed: the request is answered the ordinary way.

    ``lasting`` when the statement itself is at fault (it would fail again): the
    request is then never planned again. A busy or restarting database is not.
    """

    def __init__(self, cause: Exception, lasting: bool) -> None:
        super().__init__(str(cause))
        self.lasting = lasting


@dataclass(frozen=True, slots=True)
class Plan:
    """One remembered request: the statement's text and parameters, and whose answer it is."""

    sql: str  # PostgreSQL: the token check with the answer; SQLite: the answer alone
    params: dict[str, Any] | tuple[Any, ...]
    user_id: str
    roles: tuple[str, ...]
    version: int
    reparse: bool  # the answer copies stored JSON: read it as the ordinary path does


class Plans:
    """The plans of one schema, by ``(token hash, body)``.

    A request is planned the second time it is answered the ordinary way, so
    requests that never repeat (values written into the query text) cost no
    compilation; a request whose plan failed is never planned again.
    """

    def __init__(self) -> None:
        self._plans: Lru[Plan | None] = Lru(PLANS_KEPT)
        self._seen: Lru[bool] = Lru(PLANS_KEPT)

    def find(self, key: Hashable) -> Plan | None:
        return self._plans.get(key)[1]

    def wanted(self, key: Hashable) -> bool:
        """Whether ``key`` should be planned now (its second ordinary answer, never refused)."""
        if self._plans.get(key)[0]:
            return False  # planned, or refused
        if self._seen.get(key)[0]:
            return True
        self._seen.put(key, True)
        return False

    def put(self, key: Hashable, plan: Plan | None) -> None:
        """Keep ``plan`` for ``key``; None refuses the key for good."""
        self._seen.drop(key)
        self._plans.put(key, plan)

    def drop(self, key: Hashable) -> None:
        """Forget ``key``'s plan: it no longer fits (token, roles or schema changed)."""
        self._plans.drop(key)

    def clear(self) -> None:
        self._plans = Lru(PLANS_KEPT)
        self._seen = Lru(PLANS_KEPT)


def make_plan(prepared: Prepared, actor: Actor, version: int, dialect: sa.Dialect) -> Plan | None:
    """The plan answering ``prepared`` for ``actor`` at schema ``version``, or None.

    A plan keeps text and values only, no SQLAlchemy objects: hundreds of
    statement trees kept alive would make every full garbage collection slow.
    """
    if actor.id is None:
        return None
    statement: sa.Select[Any] = prepared.statement
    if dialect.name == "postgresql":
        token = sa.bindparam(TOKEN_PARAM, "", type_=sa.String())
        found = token_query(token, {"version": version_query().scalar_subquery()}).subquery()
        expires = found.c.expires_at
        valid = sa.and_(
            found.c.revoked_at.is_(None),
            found.c.active.is_(True),
            sa.or_(expires.is_(None), expires > sa.func.now()),
            found.c.also_version == str(version),
        )
        # Computed only while the token is valid and the schema is the plan's.
        answer = sa.case((valid, statement.scalar_subquery()), else_=sa.null())
        statement = sa.select(found, answer.label(ANSWER))
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    sql = str(compiled)
    if "POSTCOMPILE" in sql:
        return None
    params = dict(compiled.construct_params())
    for name, value in params.items():
        # Each value as SQLAlchemy would send it (ids, decimals, dates), converted once. A
        # list's items are rendered as <name>_1, <name>_2...: they take the list's type.
        bind = compiled.binds.get(name)
        if bind is None:
            bind = compiled.binds.get(name.rpartition("_")[0])
        if bind is None:
            return None
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            params[name] = process(value)
    values: dict[str, Any] | tuple[Any, ...] = params
    if compiled.positiontup is not None:  # SQLite's qmark style
        values = tuple(params[name] for name in compiled.positiontup)
    return Plan(sql, values, actor.id, actor.roles, version, prepared.verbatim_json)


def run(db: Database, plan: Plan, token_hash: str) -> tuple[bytes, TokenUse] | None:
    """The answer's ``data`` as JSON bytes and the token's use; None for the ordinary path.

    None when the plan no longer fits; ``PlanFailed`` when its statement failed.
    """
    row = _sqlite_row(db, plan, token_hash) if db.is_sqlite else _row(db, plan, token_hash)
    use = _fits(plan, row)
    if row is None or use is None or row.get(ANSWER) is None:
        return None
    try:
        data = answer_bytes(row[ANSWER])
        if plan.reparse:
            data = json_bytes(read_answer(data, verbatim_json=True))
    except Unsupported:
        return None  # a value only the ordinary path answers right
    return data, use


def _fits(plan: Plan, row: Mapping[Any, Any] | None) -> TokenUse | None:
    """The token's use, if the token is valid and its user, roles and schema are the plan's."""
    use = token_use(row, ("version",))
    if (
        use is None
        or use.actor.id != plan.user_id
        or use.actor.roles != plan.roles
        or version_value(use.also["version"]) != plan.version
    ):
        return None
    return use


def _sqlite_row(db: Database, plan: Plan, token_hash: str) -> Mapping[Any, Any] | None:
    """SQLite: the token check, then the answer, in one read transaction.

    There is no round trip to save, and nesting the answer inside the check
    can exceed the depth SQLite's parser allows.
    """
    version = {"version": version_query().scalar_subquery()}
    try:
        with db.read() as conn:
            found = conn.execute(token_query(token_hash, version)).mappings().first()
            if found is None or not _fits(plan, found):
                return found
            answer = conn.exec_driver_sql(plan.sql, plan.params).scalar_one()
    except sa.exc.DBAPIError as exc:
        raise PlanFailed(exc, not isinstance(exc, sa.exc.OperationalError)) from exc
    return {**found, ANSWER: answer}


def _row(db: Database, plan: Plan, token_hash: str) -> Mapping[Any, Any] | None:
    """PostgreSQL: one round trip, in autocommit, straight through the driver."""
    raw = db.engine.raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        driver.autocommit = True
        try:
            with driver.cursor(row_factory=dict_row) as cursor:
                assert isinstance(plan.params, dict)
                cursor.execute(plan.sql, {**plan.params, TOKEN_PARAM: token_hash})
                row = cursor.fetchone()
        finally:
            if not driver.closed:
                driver.autocommit = False
    except psycopg.Error as exc:
        if driver.closed or driver.broken:
            raw.invalidate()
        raise PlanFailed(exc, not isinstance(exc, psycopg.OperationalError)) from exc
    finally:
        raw.close()
    return row
