"""One sandbox pool per test process for the sandbox tests.

Workers take tens of milliseconds to start and microseconds to reuse, so the
tests share a session-wide pool; tests that need other settings make their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.register_assert_rewrite("sandbox_helpers")

from xrm.platform.settings import SandboxSettings  # noqa: E402
from xrm.workflows.pool import SandboxPool  # noqa: E402


@pytest.fixture(scope="session")
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(SandboxSettings(workers=2)) as shared:
        yield shared
