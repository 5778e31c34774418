"""Fixtures of the import tests (a plugin: `pytest_plugins = ["cli_fixtures"]`): the catalog on a
test database, and ``xrm`` run in-process."""

from __future__ import annotations

import os
from typing import Any

import pytest
from test_cli import Result

from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry


@pytest.fixture
def catalog_db(test_database: Any, registry: Registry) -> Any:
    registry.apply(definitions())
    return test_database


@pytest.fixture
def xrm(
    catalog_db: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """``xrm ARGS`` run in this process (the same ``main`` the console script calls): a
    subprocess per command would cost the suite seconds each."""
    from xrm.cli import main

    for name in [k for k in os.environ if k.startswith("XRM_")]:
        monkeypatch.delenv(name)
    for name, value in catalog_db.environment().items():
        if name.startswith("XRM_"):
            monkeypatch.setenv(name, value)

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run
