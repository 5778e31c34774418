"""``xrm apply`` and ``definitions export`` with definitions that are not plain JSON (issue 10, 25).

Python's JSON parser reads ``NaN``, ``Infinity`` and ``1e999``, and gives up on
nesting near 1,000 levels with a RecursionError: each is a clear error naming
the file (and the JSON path), a non-zero exit, no traceback, nothing applied.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import TICKET, CliDatabase, Result, assert_one_line_error, run_xrm

from xrm.entities.registry import Registry
from xrm.platform import tables as platform
from xrm.platform.db import Database


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ticket.json"
    path.write_text(text, encoding="utf-8")
    return path


def _nothing_applied(database: CliDatabase, tmp_path: Path) -> None:
    out = tmp_path / "out"
    exported = run_xrm(database, "definitions", "export", str(out))
    assert exported.code == 0, exported.err
    assert not list(out.rglob("*.json"))


def _refused(result: Result, *expected: str) -> None:
    assert result.code == 1, result
    assert "Traceback" not in result.err + result.out
    assert "internal error" not in result.err
    for text in expected:
        assert text in result.err, result.err


@pytest.mark.parametrize(
    ("spelled", "problem"),
    [
        ("NaN", "NaN is not a JSON number"),
        ("Infinity", "Infinity (or a number too large) is not a JSON number"),
        ("-Infinity", "Infinity (or a number too large) is not a JSON number"),
        ("1e999", "Infinity (or a number too large) is not a JSON number"),
    ],
)
def test_apply_refuses_non_finite_numbers_naming_file_and_path(
    test_database: CliDatabase, tmp_path: Path, spelled: str, problem: str
) -> None:
    text = json.dumps(TICKET).replace('"maxLength": 200', f'"maxLength": 200, "x": {spelled}')
    text = text.replace('"title": "Ticket"', f'"title": "Ticket", "examples": [{spelled}]')
    path = _write(tmp_path, text)
    result = run_xrm(test_database, "apply", str(path))
    _refused(result, f"{path}: examples.0: {problem}", f"{path}: properties.title.x: {problem}")
    _nothing_applied(test_database, tmp_path)


def test_apply_refuses_a_file_nested_a_thousand_deep_in_one_line(
    test_database: CliDatabase, tmp_path: Path
) -> None:
    path = _write(tmp_path, '{"x": ' + "[" * 1000 + "]" * 1000 + "}")
    result = run_xrm(test_database, "apply", str(path))
    assert_one_line_error(result)
    assert result.code == 1
    assert f"{path}: nested too deeply" in result.err
    assert "RecursionError" not in result.err and "internal error" not in result.err
    _nothing_applied(test_database, tmp_path)


def test_apply_refuses_nesting_past_the_definition_limit_at_its_path(
    test_database: CliDatabase, tmp_path: Path
) -> None:
    definition = json.loads(json.dumps(TICKET))
    definition["properties"]["extra"] = {
        "type": "object",
        "default": json.loads("[" * 300 + "]" * 300),
    }
    path = _write(tmp_path, json.dumps(definition))
    result = run_xrm(test_database, "apply", str(path))
    _refused(result, f"{path}: properties.extra.default.0.…: nested more than 100 levels deep")
    _nothing_applied(test_database, tmp_path)


def test_apply_refuses_a_type_named_after_the_apis_own(
    test_database: CliDatabase, tmp_path: Path
) -> None:
    definition = json.loads(json.dumps(TICKET))
    definition["x-xrm"] = {"name": "query", "plural": "queries"}
    path = _write(tmp_path, json.dumps(definition))
    result = run_xrm(test_database, "apply", str(path))
    _refused(result, f"{path}: x-xrm.name: 'query' becomes the GraphQL type 'Query'")
    _nothing_applied(test_database, tmp_path)


@pytest.mark.sqlite_only  # only SQLite ever stored NaN in a definition
def test_export_never_writes_non_json(
    test_database: CliDatabase, registry: Registry, db: Database, tmp_path: Path
) -> None:
    ticket = json.loads(json.dumps(TICKET))
    ticket["properties"]["score"] = {"type": "number", "minimum": 0}
    registry.apply([ticket])
    ticket["properties"]["score"]["minimum"] = float("nan")
    stored = ticket
    with db.write() as conn:  # as an older release let it be stored
        conn.execute(
            platform.entity_types.update()
            .where(platform.entity_types.c.name == "ticket")
            .values(definition=stored)
        )
    out = tmp_path / "exported"
    result = run_xrm(test_database, "definitions", "export", str(out))
    assert_one_line_error(result)
    assert "ticket/definition.json: properties.score.minimum: NaN is not a JSON number" in (
        result.err
    )
    assert not out.exists() or not list(out.rglob("*.json"))
