"""Signed-in admin UI clients (fixtures): Ann and Bob (admins), Vic (a viewer), own cookies each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from test_signin import PASSWORD, sign_in

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_user
from xrm.platform.settings import Settings


@pytest.fixture
def app_settings(settings: Settings, registry: Registry, db: Database) -> Settings:
    registry.apply(definitions())
    with db.write() as conn:
        create_user(conn, "ann@example.com", ("admin",), name="Ann", password=PASSWORD)
        create_user(conn, "bob@example.com", ("admin",), password=PASSWORD)
        create_user(conn, "vic@example.com", ("viewer",), password=PASSWORD)
    return settings


def client_for(settings: Settings, email: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as client:
        assert sign_in(client, email).status_code == 303
        yield client


@pytest.fixture
def ann(app_settings: Settings) -> Iterator[TestClient]:
    yield from client_for(app_settings, "ann@example.com")


@pytest.fixture
def bob(app_settings: Settings) -> Iterator[TestClient]:
    yield from client_for(app_settings, "bob@example.com")


@pytest.fixture
def vic(app_settings: Settings) -> Iterator[TestClient]:
    yield from client_for(app_settings, "vic@example.com")
