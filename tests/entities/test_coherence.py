"""A definition changed by another process is seen on this process's next request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import TestDatabase
from org import DEPARTMENT

from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.identity import Actor


def xrm(database: TestDatabase, *args: str) -> subprocess.CompletedProcess[str]:
    script = "import sys; from xrm.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", script, "--db", database.url, *args],
        env=database.environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_change_applied_by_another_process_is_seen_on_the_next_call(
    test_database: TestDatabase,
    registry: Registry,
    service: RecordService,
    admin: Actor,
    tmp_path: Path,
) -> None:
    registry.apply([DEPARTMENT])
    before = registry.current()
    assert "floor" not in before.types["department"].properties
    changed: dict[str, Any] = json.loads(json.dumps(DEPARTMENT))
    changed["properties"]["floor"] = {"type": "integer", "x-xrm-label": {"en": "Floor", "ko": "층"}}
    path = tmp_path / "department.json"
    path.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")

    done = xrm(test_database, "apply", str(path))
    assert done.returncode == 0, done.stderr
    assert "add department.floor" in done.stdout

    after = registry.current()  # the same Registry object, which cached the old version
    assert after.version == before.version + 1
    assert after.types["department"].properties["floor"].label["ko"] == "층"
    with service.session(admin) as s:
        made = s.create("department", {"name": "HQ", "floor": 12})
    assert made["floor"] == 12
    assert registry.current() is after  # nothing changed since: the snapshot is reused
