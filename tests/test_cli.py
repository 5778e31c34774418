"""The ``xrm`` command as users meet it: the installed console script, run as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest


class CliDatabase(Protocol):
    """What ``conftest.TestDatabase`` offers: a URL, and the environment to run ``xrm`` in."""

    url: str

    def environment(self) -> dict[str, str]: ...


@dataclass
class BadDatabase:
    url: str

    def environment(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("XRM_")}


def _xrm_command() -> list[str]:
    beside = Path(sys.executable).with_name("xrm")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("xrm")
    if found:
        return [found]
    # Not installed as a script (e.g. a bare checkout): the same entry point, through Python.
    return [sys.executable, "-c", "import sys; from xrm.cli import main; sys.exit(main())"]


XRM = _xrm_command()


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def run_xrm(database: CliDatabase, *args: str, cwd: Path | None = None, stdin: str = "") -> Result:
    """Run ``xrm --db URL ARGS`` (the schema, on PostgreSQL, through the environment)."""
    done = subprocess.run(
        [*XRM, "--db", database.url, *args],
        env=database.environment(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(result: Result) -> None:
    assert result.code in (1, 2), result
    assert "Traceback" not in result.err + result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "error" in lines[0]


TICKET: dict[str, Any] = {
    "type": "object",
    "title": "Ticket",
    "x-xrm": {"name": "ticket", "plural": "tickets", "label": {"en": "Ticket", "ko": "티켓"}},
    "properties": {
        "title": {"type": "string", "maxLength": 200},
        "status": {"type": "string", "enum": ["open", "closed"], "default": "open"},
        "opened": {"type": "string", "format": "date"},
    },
    "required": ["title"],
}


def write_definition(folder: Path, definition: dict[str, Any]) -> Path:
    path = folder / definition["x-xrm"]["name"] / "definition.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(definition, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def plan_lines(result: Result) -> list[str]:
    """The plan as printed, without the closing summary line."""
    return [line for line in result.lines if not line.startswith(("applied ", "dry run:"))]


@pytest.fixture
def definitions_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "defs"
    write_definition(folder, TICKET)
    return folder


def test_migrate_initialises_an_empty_database_and_is_idempotent(
    empty_database: CliDatabase,
) -> None:
    first = run_xrm(empty_database, "migrate")
    assert first.code == 0, first.err
    second = run_xrm(empty_database, "migrate")
    assert second.code == 0, second.err
    assert first.out == second.out


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "nosuchdb://somewhere/x",
        "postgresql+psycopg://postgres@127.0.0.1:1/unreachable",
        "sqlite:////nonexistent-folder/x/y.db",
    ],
)
def test_a_bad_database_url_is_one_line_without_traceback(url: str) -> None:
    result = run_xrm(BadDatabase(url), "migrate")
    assert_one_line_error(result)


def test_bad_arguments_are_one_line(test_database: CliDatabase) -> None:
    assert_one_line_error(run_xrm(test_database, "token", "create"))
    assert_one_line_error(run_xrm(test_database, "apply"))


def test_apply_prints_the_plan_then_nothing_to_change(
    test_database: CliDatabase, definitions_dir: Path
) -> None:
    first = run_xrm(test_database, "apply", str(definitions_dir))
    assert first.code == 0, first.err
    assert any("ticket" in line for line in plan_lines(first)), first.out
    assert first.lines[-1].startswith("applied ")
    second = run_xrm(test_database, "apply", str(definitions_dir))
    assert second.code == 0, second.err
    assert second.out.strip() == "nothing to change"


def test_dry_run_changes_nothing(test_database: CliDatabase, definitions_dir: Path) -> None:
    dry = run_xrm(test_database, "apply", str(definitions_dir), "--dry-run")
    assert dry.code == 0, dry.err
    assert dry.lines[-1].startswith("dry run:")
    again = run_xrm(test_database, "apply", str(definitions_dir / "ticket" / "definition.json"))
    assert again.code == 0, again.err
    assert plan_lines(again) == plan_lines(dry)


def test_a_changed_definition_plans_only_the_change(
    test_database: CliDatabase, definitions_dir: Path, tmp_path: Path
) -> None:
    assert run_xrm(test_database, "apply", str(definitions_dir)).code == 0
    changed = json.loads(json.dumps(TICKET))
    changed["properties"]["priority"] = {"type": "integer", "minimum": 1, "maximum": 5}
    path = write_definition(tmp_path / "v2", changed)
    result = run_xrm(test_database, "apply", str(path))
    assert result.code == 0, result.err
    lines = plan_lines(result)
    assert lines and all("create" not in line for line in lines), lines
    assert any("priority" in line for line in lines), lines


def test_a_bad_definition_exits_1_naming_file_and_json_path(
    test_database: CliDatabase, tmp_path: Path
) -> None:
    bad = json.loads(json.dumps(TICKET))
    bad["properties"]["opened"]["format"] = "no-such-format"
    path = write_definition(tmp_path / "bad", bad)
    result = run_xrm(test_database, "apply", str(path))
    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert str(path) in result.err
    assert "properties.opened" in result.err
    # Nothing was applied.
    assert run_xrm(test_database, "definitions", "export", str(tmp_path / "out")).code == 0
    assert not (tmp_path / "out" / "ticket").exists()


def test_invalid_json_is_one_line_naming_file_and_line(
    test_database: CliDatabase, tmp_path: Path
) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "type": "object",\n  oops\n}\n', encoding="utf-8")
    result = run_xrm(test_database, "apply", str(path))
    assert_one_line_error(result)
    assert f"{path}:3:" in result.err


def test_a_missing_path_is_one_line(test_database: CliDatabase, tmp_path: Path) -> None:
    result = run_xrm(test_database, "apply", str(tmp_path / "missing"))
    assert_one_line_error(result)
    assert "missing" in result.err


def test_definitions_export_round_trips(
    test_database: CliDatabase, definitions_dir: Path, tmp_path: Path
) -> None:
    assert run_xrm(test_database, "apply", str(definitions_dir)).code == 0
    out = tmp_path / "exported"
    exported = run_xrm(test_database, "definitions", "export", str(out))
    assert exported.code == 0, exported.err
    files = sorted(out.rglob("*.json"))
    assert files, "export wrote no files"
    for file in files:
        text = file.read_text(encoding="utf-8")
        assert text.endswith("\n")
        json.loads(text)
    again = run_xrm(test_database, "apply", str(out))
    assert again.code == 0, again.err
    assert again.out.strip() == "nothing to change"


def test_export_then_apply_to_another_database_recreates_the_types(
    test_database: CliDatabase,
    empty_database: CliDatabase,
    definitions_dir: Path,
    tmp_path: Path,
) -> None:
    assert run_xrm(test_database, "apply", str(definitions_dir)).code == 0
    out = tmp_path / "exported"
    assert run_xrm(test_database, "definitions", "export", str(out)).code == 0
    fresh = run_xrm(empty_database, "apply", str(out))
    assert fresh.code == 0, fresh.err
    assert any("ticket" in line for line in plan_lines(fresh))
    assert run_xrm(empty_database, "apply", str(definitions_dir)).out.strip() == "nothing to change"


def test_token_create_admin_prints_only_a_new_token(test_database: CliDatabase) -> None:
    first = run_xrm(test_database, "token", "create", "--admin", "--name", "ci")
    assert first.code == 0, first.err
    assert len(first.lines) == 1 and first.lines[0].startswith("xrm_"), first.out
    second = run_xrm(test_database, "token", "create", "--admin", "--expires-in", "7")
    assert second.code == 0, second.err
    assert len(second.lines) == 1 and second.lines[0].startswith("xrm_"), second.out
    assert first.lines[0] != second.lines[0]


def test_token_create_for_a_user(test_database: CliDatabase) -> None:
    missing = run_xrm(test_database, "token", "create", "--user", "nobody@example.com")
    assert_one_line_error(missing)
    assert "nobody@example.com" in missing.err
    assert run_xrm(test_database, "token", "create", "--admin").code == 0  # creates the admin
    result = run_xrm(test_database, "token", "create", "--user", "Admin@Localhost")
    assert result.code == 0, result.err
    assert len(result.lines) == 1 and result.lines[0].startswith("xrm_")


def test_user_create_with_a_password_from_stdin(test_database: CliDatabase) -> None:
    from xrm.platform.db import Database
    from xrm.platform.identity import check_password, find_user
    from xrm.platform.settings import Settings

    result = run_xrm(
        test_database,
        "user",
        "create",
        " Ann@Example.COM ",
        "--role",
        "editor",
        "--role",
        "viewer",
        "--name",
        "Ann Lee",
        "--locale",
        "ko_KR",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert result.code == 0, result.err
    assert "ann@example.com" in result.out
    settings = Settings(
        database_url=test_database.url,
        database_schema=test_database.environment().get("XRM_DATABASE_SCHEMA"),
    )
    db = Database(settings)
    try:
        with db.read() as conn:
            user = find_user(conn, "ann@example.com")
            assert user is not None and user.roles == ("editor", "viewer")
            assert check_password(conn, "ANN@example.com", "correct horse battery") == user
            assert check_password(conn, "ann@example.com", "correct horse battery\n") is None
            assert check_password(conn, "ann@example.com", "wrong") is None
            stored = conn.exec_driver_sql("SELECT password_hash FROM xrm_users").scalars().all()
            assert all(h is None or h.startswith("$argon2id$") for h in stored)
            assert not any(h and "correct horse" in h for h in stored)
            locale = conn.exec_driver_sql("SELECT locale FROM xrm_users WHERE name = 'Ann Lee'")
            assert locale.scalar_one() == "ko-KR"
    finally:
        db.dispose()
    # The token command finds the new user.
    assert run_xrm(test_database, "token", "create", "--user", "ann@example.com").code == 0


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["nobody", "--role", "viewer"], "", "e-mail"),
        (["a@example.com", "--role", "boss"], "", "boss"),
        (["a@example.com", "--role", "viewer", "--locale", "xx-YY"], "", "locale"),
        (["a@example.com"], "", "--role"),
        (["a@example.com", "--role", "viewer", "--password-stdin"], "", "no password"),
        (["a@example.com", "--role", "viewer", "--password-stdin"], "short\n", "8 characters"),
    ],
)
def test_user_create_refuses_bad_input(
    test_database: CliDatabase, args: list[str], stdin: str, says: str
) -> None:
    result = run_xrm(test_database, "user", "create", *args, stdin=stdin)
    assert_one_line_error(result)
    assert says in result.err


def test_user_create_twice_is_a_conflict_and_a_defined_role_is_accepted(
    test_database: CliDatabase, tmp_path: Path
) -> None:
    role = {"role": "support", "entities": {"*": {"read": "own"}}}
    (tmp_path / "support.json").write_text(json.dumps(role), encoding="utf-8")
    applied = run_xrm(test_database, "apply", str(tmp_path / "support.json"))
    assert applied.code == 0, applied.err
    assert run_xrm(test_database, "user", "create", "s@example.com", "--role", "support").code == 0
    again = run_xrm(test_database, "user", "create", "S@example.com", "--role", "viewer")
    assert_one_line_error(again)
    assert "exists already" in again.err


def test_token_list_and_revoke(test_database: CliDatabase) -> None:
    token = run_xrm(test_database, "token", "create", "--admin", "--name", "ci").out.strip()
    listed = run_xrm(test_database, "token", "list")
    assert listed.code == 0, listed.err
    [line] = listed.lines
    token_id, state, email, name, *_ = line.split("\t")
    assert (state, email, name) == ("active", "admin@localhost", "ci")
    assert token not in listed.out  # never shown again
    assert run_xrm(test_database, "token", "list", "--user", "nobody@example.com").out == ""
    revoked = run_xrm(test_database, "token", "revoke", token_id)
    assert revoked.code == 0, revoked.err
    assert run_xrm(test_database, "token", "list").lines[0].split("\t")[1] == "revoked"
    assert_one_line_error(run_xrm(test_database, "token", "revoke", "not-an-id"))
