"""``xrm import``, ``xrm imports`` and ``xrm export`` as an operator runs them, in a shell.

The import's promises that only a real process can test live here: exit 0
with a summary even when rows are rejected, one line and nothing written for
a file it cannot read, and a kill in the middle that leaves whole batches, after
which running the same file again puts every row in exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from import_support import csv_bytes
from test_cli import assert_one_line_error, run_xrm

from xrm.platform import tables
from xrm.platform.db import Database

pytest_plugins = ["cli_fixtures"]


def _count(db: Database, table: str) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_import_summarises_lists_undoes_and_exports(xrm: Any, db: Database, tmp_path: Path) -> None:
    path = tmp_path / "고객.csv"
    path.write_bytes(
        csv_bytes(
            [["고객명", "이메일", "Fax"], ["Acme", "a@x.com", "1"], ["Bad", "nope", ""]], "cp949"
        )
    )
    done = xrm("import", "customer", str(path), "--dry-run")
    assert done.code == 0, done.err
    assert done.lines[0] == (
        "dry run: 2 rows: 1 would be created, 0 updated, 0 unchanged, 1 rejected; "
        "nothing was written"
    )
    assert done.lines[1].startswith("  row 3: email: 'nope' is not an e-mail address")
    assert _count(db, "e_customer") == 0
    done = xrm("import", "customer", str(path))
    assert done.code == 0, done.err
    assert "column 'Fax' is not imported" in done.err
    assert "xrm: importing 고객.csv: 2 of 2 rows" in done.err  # a pipe gets plain progress lines
    summary, rejected = done.lines
    assert summary.startswith("import ") and summary.endswith(
        ": 2 rows: 1 created, 0 updated, 0 unchanged, 1 rejected"
    )
    import_id = summary.split()[1].rstrip(":")
    written = Path(rejected.removeprefix("rejected rows: "))
    assert written.parent == tmp_path
    assert written.read_text(encoding="utf-8-sig").splitlines()[0] == "고객명,이메일,Fax,reason"
    listed = xrm("imports", "list")
    assert listed.lines[0].startswith(f"{import_id}  done     customer  1 created")
    assert listed.lines[0].endswith("고객.csv")
    exported = xrm("export", "customer", "--format", "json")
    assert [r["name"] for r in json.loads(exported.out)] == ["Acme"]
    undone = xrm("imports", "undo", import_id)
    assert undone.lines == [f"undid import {import_id}: deleted 1 record, restored 0 records"]
    assert _count(db, "e_customer") == 0
    again = xrm("imports", "undo", import_id)
    assert_one_line_error(again)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "Email=fax_number"], "customer has no field 'fax_number'"),
        (["--key", "nothing"], "--key nothing: customer has no field 'nothing'"),
        (["--sheet", "One"], "--sheet applies to XLSX workbooks"),
    ],
)
def test_options_that_cannot_work_are_one_line_and_write_nothing(
    xrm: Any, db: Database, tmp_path: Path, args: list[str], message: str
) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(csv_bytes([["Name", "Email"], ["A", "a@x.com"]]))
    done = xrm("import", "customer", str(path), *args)
    assert_one_line_error(done)
    assert message in done.err
    assert _count(db, "e_customer") == 0 and _count(db, "xrm_imports") == 0


def test_resume_by_id_continues_a_crashed_import_from_its_stored_file(
    xrm: Any, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xrm.entities.imports import store

    path = tmp_path / "six.csv"
    path.write_bytes(csv_bytes([["name"], *([f"C{n}"] for n in range(6))]))
    monkeypatch.setenv("XRM_IMPORT_BATCH_SIZE", "2")
    real = store.advance
    calls: list[int] = []

    def power_cut(*args: Any, **kwargs: Any) -> bool:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("the power went out")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "advance", power_cut)
    crashed = xrm("import", "customer", str(path))
    assert crashed.code == 1 and "Traceback" not in crashed.err
    assert crashed.err.splitlines()[-1] == "xrm: error: the power went out"
    monkeypatch.setattr(store, "advance", real)
    assert _count(db, "e_customer") == 4  # two whole batches; the third rolled back
    import_id = xrm("imports", "list").lines[0].split()[0]
    path.unlink()  # a resume by id reads the copy kept with the import
    resumed = xrm("import", "--resume", import_id)
    assert resumed.code == 0, resumed.err
    assert resumed.lines[0] == (
        f"import {import_id}: 6 rows: 6 created, 0 updated, 0 unchanged, 0 rejected"
    )
    assert _count(db, "e_customer") == 6
    assert_one_line_error(xrm("import", "--resume", import_id))  # done: nothing to resume


# Runs ``xrm import`` with each batch's commit slowed down, so the test can kill it between
# (and inside) batches; the import itself is the real command.
SLOW_IMPORT = (
    "import sys, time\n"
    "from xrm.entities.imports import store\n"
    "advance = store.advance\n"
    "def slow(*args, **kwargs):\n"
    "    time.sleep(0.15)\n"
    "    return advance(*args, **kwargs)\n"
    "store.advance = slow\n"
    "from xrm.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.mark.slow
def test_a_killed_import_resumes_and_every_row_goes_in_once(
    catalog_db: Any, db: Database, tmp_path: Path
) -> None:
    rows = 60
    path = tmp_path / "many.csv"
    path.write_bytes(
        csv_bytes([["name", "email"], *([f"C{n}", f"c{n}@x.com"] for n in range(rows))])
    )
    env = {**catalog_db.environment(), "XRM_IMPORT_BATCH_SIZE": "5"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_IMPORT, "import", "customer", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    done_batches = 0
    try:
        deadline = time.monotonic() + 120
        while done_batches < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            with db.read() as conn:
                done_batches = int(
                    conn.execute(
                        sa.select(sa.func.coalesce(sa.func.max(tables.imports.c.batches_done), 0))
                    ).scalar_one()
                )
        assert proc.poll() is None, "the import ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    with db.read() as conn:
        [(status, batches)] = conn.execute(
            sa.select(tables.imports.c.status, tables.imports.c.batches_done)
        ).all()
    assert status == "running" and 3 <= batches < rows // 5
    assert _count(db, "e_customer") == batches * 5  # whole batches, nothing of the one killed
    resumed = run_xrm(catalog_db, "import", "customer", str(path))
    assert resumed.code == 0, resumed.err
    assert "resuming import" in resumed.err
    assert resumed.lines[0].endswith(
        f": {rows} rows: {rows} created, 0 updated, 0 unchanged, 0 rejected"
    )
    with db.read() as conn:
        names = [r[0] for r in conn.execute(sa.text("SELECT name FROM e_customer"))]
        [(import_id, status)] = conn.execute(
            sa.select(tables.imports.c.id, tables.imports.c.status)
        ).all()
        audit = tables.audit
        created = conn.execute(
            sa.select(sa.func.count()).where(
                audit.c.request_id == f"import:{import_id}", audit.c.action == "create"
            )
        ).scalar_one()
    assert sorted(names) == sorted(f"C{n}" for n in range(rows)) and status == "done"
    assert created == rows  # each record's creation audited once, under the import's id
