"""Pooled PostgreSQL connections: pinged only after sitting idle, replaced when dead."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from conftest import ENGINE_KIND

from xrm.platform import db as db_module
from xrm.platform.db import Database

pytestmark = pytest.mark.skipif(ENGINE_KIND != "postgresql", reason="PostgreSQL's pool only")


def _use(db: Database, times: int) -> None:
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")  # the pool holds one opened connection
    for _ in range(times):
        with db.read() as conn:
            conn.exec_driver_sql("SELECT 2")


def _pings(db: Database, work: int, monkeypatch: pytest.MonkeyPatch) -> int:
    pings = []
    real = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda c: pings.append(1) or real(c))
    _use(db, work)
    return len(pings)


def test_a_connection_in_steady_use_is_not_pinged(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Steady" must not depend on how fast this machine runs the 20 uses: no gap counts as idle.
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 3600.0)
    assert _pings(db, 20, monkeypatch) == 0


def test_a_connection_idle_for_a_while_is_pinged_first(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.05)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    time.sleep(0.1)
    assert _pings(db, 1, monkeypatch) >= 1


def test_a_connection_that_died_while_idle_is_replaced_unnoticed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.05)
    with db.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with sa.create_engine(db.engine.url, poolclass=sa.NullPool).connect() as killer:
        assert killer.exec_driver_sql(f"SELECT pg_terminate_backend({pid})").scalar()
    time.sleep(0.1)
    with db.read() as conn:  # the pool's only connection is dead: the ping finds out
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
