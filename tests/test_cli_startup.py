"""The command starts quickly because it imports only what the command needs (issue 10, 31).

No clock here: what makes ``xrm --help`` and ``xrm token create`` slow is
importing the web stack, Alembic and the definition machinery, so the tests
assert which heavy modules a command did NOT import (``python -X importtime``
shows what each costs; bench/ is the place for speed targets).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest
from conftest import ENGINE_KIND

from xrm.platform.migrate import head_revision

ROOT = Path(__file__).resolve().parents[1]
# What a command that only talks to the database must not pay for.
WEB_AND_DEFINITIONS = {
    "alembic",
    "strawberry",
    "graphql",
    "starlette",
    "uvicorn",
    "jinja2",
    "jsonschema",
    "referencing",
    "babel",
    "phonenumbers",
    "email_validator",
    "argon2",
    "rich",
    "orjson",
    "xrm.entities.registry",
    "xrm.api",
    "xrm.admin_ui",
}
REPORT = (
    "import atexit, json, sys\n"
    "def report():\n"
    "    print('MODULES ' + json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    "atexit.register(report)\n"
    "from xrm.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def imported_by(database: Any, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``xrm ARGS`` in a fresh interpreter; the modules it had imported when it ended."""
    env = database.environment() if database is not None else None
    done = subprocess.run(
        [sys.executable, "-c", REPORT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return done, set(json.loads(line.removeprefix("MODULES ")))


def loaded(modules: set[str], names: set[str]) -> set[str]:
    return {n for n in names if any(m == n or m.startswith(n + ".") for m in modules)}


def test_help_imports_nothing_heavy() -> None:
    done, modules = imported_by(None, "--help")
    assert done.returncode == 0 and "user" in done.stdout and "token" in done.stdout
    assert loaded(modules, WEB_AND_DEFINITIONS | {"sqlalchemy", "psycopg"}) == set()


def test_token_create_imports_only_the_database(test_database: Any) -> None:
    done, modules = imported_by(
        test_database, "--db", test_database.url, "token", "create", "--admin"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("xrm_")
    assert loaded(modules, WEB_AND_DEFINITIONS) == set()
    if ENGINE_KIND == "sqlite":
        assert loaded(modules, {"psycopg"}) == set()


def test_the_newest_revision_read_from_the_files_is_alembics() -> None:
    """The start-up shortcut skips Alembic only when the database is at Alembic's own head."""
    from alembic.script import ScriptDirectory

    from xrm.platform.migrate import alembic_config

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


@cache
def _distributions() -> dict[str, list[str]]:
    return dict(packages_distributions())


@cache
def _declared() -> frozenset[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = set()
    for requirement in project["dependencies"]:
        name = requirement.split(";")[0].split("[")[0]
        for sep in "<>=!~ ":
            name = name.split(sep)[0]
        names.add(name.strip().lower().replace("_", "-"))
    return frozenset(names)


@cache  # parsing every module costs a second; each dependency's test asks again
def _imported_top_level() -> frozenset[str]:
    import ast

    found = set()
    for path in (ROOT / "xrm").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return frozenset(found - set(sys.stdlib_module_names) - {"xrm", "__future__"})


def test_every_imported_package_is_a_declared_dependency() -> None:
    distributions = packages_distributions()
    declared = _declared()
    undeclared = {
        module
        for module in _imported_top_level()
        if not {d.lower().replace("_", "-") for d in distributions.get(module, [module])} & declared
    }
    assert undeclared == set()


# Declared without an import of their own: what they provide is loaded by another package.
USED_INDIRECTLY = {
    "python-multipart": "starlette parses the admin forms with it",
}


@pytest.mark.parametrize("dependency", sorted(_declared()))
def test_every_declared_dependency_is_used(dependency: str) -> None:
    if dependency in USED_INDIRECTLY:
        return
    distributions = _distributions()
    modules = {m for m, ds in distributions.items() if dependency in {d.lower() for d in ds}}
    assert modules & _imported_top_level(), f"{dependency} is declared but nothing imports it"
