"""The ``pool`` fixture: one sandbox pool per test process (``pytest_plugins = ["sandbox_pool"]``),
and ``ruled``: the built-in catalog's record service with a workflow engine listening.

Workers take tens of milliseconds to start and microseconds to reuse, so the
tests share a session-wide pool; tests that need other settings make their own.
(Not a conftest.py: the suite's modules import the root conftest by name.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from xrm.entities.records import RecordService
from xrm.platform.settings import SandboxSettings
from xrm.workflows.engine import WorkflowEngine
from xrm.workflows.pool import SandboxPool


@pytest.fixture(scope="session")
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(SandboxSettings(workers=2)) as shared:
        yield shared


@pytest.fixture
def ruled(catalog_service: RecordService, pool: SandboxPool) -> RecordService:
    """The catalog's record service with a workflow engine listening to its writes."""
    WorkflowEngine(catalog_service, pool)
    return catalog_service
