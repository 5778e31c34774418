"""Long commands show their progress on a terminal (rich), and nothing of it in a pipe.

Issue 10, point 31: ``rich`` was declared and never used. The demo load
(about a thousand records) draws a progress bar on stderr when stderr is a
terminal; standard output carries only the result either way.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from typing import Any

import pytest

from xrm.entities.demo import STEPS

pytestmark = pytest.mark.slow

LOAD = (
    "import sys\n"
    "from xrm.cli import _load_demo\n"
    "from xrm.platform.db import Database\n"
    "from xrm.platform.settings import Settings\n"
    "settings = Settings.from_env()\n"
    "db = Database(settings)\n"
    "_load_demo(settings, db)\n"
    "db.dispose()\n"
)


def run_demo_load(database: Any, stderr_is_a_terminal: bool) -> tuple[str, str]:
    if not stderr_is_a_terminal:
        done = subprocess.run(
            [sys.executable, "-c", LOAD],
            env=database.environment(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr
    main, side = pty.openpty()
    env = {**database.environment(), "COLUMNS": "100", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-c", LOAD], env=env, stdout=subprocess.PIPE, stderr=side, text=True
    )
    os.close(side)
    drawn = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        drawn += chunk
    out, _ = proc.communicate(timeout=300)
    os.close(main)
    assert proc.returncode == 0, drawn.decode(errors="replace")
    return out, drawn.decode(errors="replace")


def test_the_demo_load_draws_progress_on_a_terminal_only(
    test_database: Any, empty_database: Any
) -> None:
    from xrm.platform.db import Database
    from xrm.platform.migrate import upgrade

    db = Database(empty_database.settings())
    try:
        upgrade(db)
    finally:
        db.dispose()
    out, drawn = run_demo_load(test_database, stderr_is_a_terminal=True)
    assert out.startswith("demo catalog ready (")
    assert "demo records" in drawn and f"/{STEPS}" not in out
    out, err = run_demo_load(empty_database, stderr_is_a_terminal=False)
    assert out.startswith("demo catalog ready (")
    assert err == ""  # a pipe or a log file gets no progress drawing
