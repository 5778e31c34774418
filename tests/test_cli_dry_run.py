"""``xrm apply --dry-run`` prints a blocked plan as ``defineEntityType(dryRun: true)`` answers it.

Issue 10, point 21: each step on its line, a blocked step saying which rules
the stored records break, the records under it, and a last line saying the
change is blocked (exit 1); a refused apply names every broken rule with its
records (point 18). Nothing is applied either way.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

from test_cli import TICKET, CliDatabase, plan_lines, run_xrm, write_definition

from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.ids import new_id


def stored_tickets(registry: Registry, db: Database, *titles: str) -> list[str]:
    """Tickets written straight into their table (the CLI under test reads them)."""
    table = registry.current().tables["ticket"]
    now = dt.datetime.now(dt.UTC)
    ids = [new_id() for _ in titles]
    with db.write() as conn:
        conn.execute(
            table.insert(),
            [
                {"id": i, "version": 1, "created_at": now, "updated_at": now, "title": t}
                for i, t in zip(ids, titles, strict=True)
            ],
        )
    return ids


def test_a_blocked_dry_run_prints_the_steps_and_their_records(
    test_database: CliDatabase, registry: Registry, db: Database, tmp_path: Path
) -> None:
    assert run_xrm(test_database, "apply", str(write_definition(tmp_path / "v1", TICKET))).code == 0
    titles = ("a rather long title", "short", "long!!!!!")
    too_long, _short, odd = stored_tickets(registry, db, *titles)
    tightened = copy.deepcopy(TICKET)
    tightened["properties"]["title"] = {"type": "string", "maxLength": 8, "pattern": "^[a-z ]+$"}
    path = write_definition(tmp_path / "v2", tightened)
    version = registry.current().version

    dry = run_xrm(test_database, "apply", str(path), "--dry-run")
    assert dry.code == 1, dry
    assert "Traceback" not in dry.err
    lines = plan_lines(dry)
    assert lines[0].startswith("check stored ticket.title against the new rules; blocked: ")
    assert "properties.title: must be at most 8 characters long" in lines[0]
    assert "properties.title: " in lines[0] and "does not match the pattern" in lines[0]
    assert lines[1] == "  blocking records: " + ", ".join(sorted([too_long, odd]))
    assert dry.lines[-1] == "dry run: 1 change planned, blocked by stored records; nothing applied"

    applied = run_xrm(test_database, "apply", str(path))
    assert applied.code == 1
    errors = applied.err.splitlines()
    assert errors[0].startswith(f"{path}: properties.title: must be at most 8 characters long")
    assert "2 stored records would break" in errors[0]
    assert errors[2].startswith(f"{path}: properties.title: ")
    assert "does not match the pattern" in errors[2]
    assert errors[1] == "  blocking records: " + ", ".join(sorted([too_long, odd]))
    assert errors[3] == f"  blocking records: {odd}"
    assert registry.current().version == version
    exported = tmp_path / "out"
    assert run_xrm(test_database, "definitions", "export", str(exported)).code == 0
    stored = json.loads((exported / "ticket" / "definition.json").read_text(encoding="utf-8"))
    assert stored["properties"]["title"] == TICKET["properties"]["title"]
