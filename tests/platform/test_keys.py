"""Every process signs with the same secret, even when workers start at the same instant."""

from __future__ import annotations

import pytest

from xrm.platform import keys
from xrm.platform.db import Database
from xrm.platform.settings import Settings


def test_the_stored_key_is_created_once_and_read_back(db: Database) -> None:
    settings = Settings(database_url=str(db.engine.url))
    first = keys.secret_key(db, settings)
    assert len(first) >= 48
    assert keys.secret_key(db, settings) == first


def test_a_worker_that_loses_the_race_uses_the_winners_key(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ``serve --workers`` processes both find no key; the second insert must not crash."""
    settings = Settings(database_url=str(db.engine.url))
    real_token = keys.secrets.token_urlsafe

    def other_worker_stores_first(n: int) -> str:
        monkeypatch.setattr(keys.secrets, "token_urlsafe", real_token)
        winner = keys.secret_key(db, settings)  # the other worker, between our read and insert
        assert winner
        return "the-losers-candidate"

    monkeypatch.setattr(keys.secrets, "token_urlsafe", other_worker_stores_first)
    mine = keys.secret_key(db, settings)
    assert mine != b"the-losers-candidate"
    assert keys.secret_key(db, settings) == mine


def test_a_configured_key_wins_over_the_stored_one(db: Database) -> None:
    settings = Settings(database_url=str(db.engine.url), secret_key="configured")
    assert keys.secret_key(db, settings) == b"configured"
