"""A serving process builds its schema up front and keeps it out of the collector's way."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform import heap
from xrm.platform.settings import Settings


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_serving_app_starts_with_its_schema_and_a_settled_heap(
    settings: Settings, registry: Registry, restored_gc: None
) -> None:
    registry.apply(definitions())
    with TestClient(create_app(settings, serving=True)) as client:
        schema = client.app.state.graphql.schemas.latest()  # type: ignore[attr-defined]
        assert schema is not None and schema.version == registry.current().version
        assert gc.get_freeze_count() > 0  # the schema's objects are out of the collector's sight
        assert gc.get_threshold()[0] == heap.YOUNG_OBJECTS
        assert client.get("/healthz").status_code == 200


def test_an_embedded_app_leaves_the_collector_alone(settings: Settings, restored_gc: None) -> None:
    threshold = gc.get_threshold()
    with TestClient(create_app(settings)) as client:
        assert client.app.state.graphql.schemas.latest() is None  # type: ignore[attr-defined]
        assert gc.get_threshold() == threshold
