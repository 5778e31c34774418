"""``xrm serve`` starts on a stored catalog whose schema cannot be built (issue 10, point 7).

Before, a type named ``query`` (stored by a release without the name check)
made every ``/graphql`` request a 500 and ``xrm serve`` refuse to start. The
catalog here is stored around today's check, as such a release stored it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from server import ServedDatabase, running_server

from xrm.entities import registry as registry_module
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin
from xrm.schemas import parse

pytestmark = pytest.mark.slow


def entity(name: str, plural: str) -> dict[str, Any]:
    return {
        "type": "object",
        "x-xrm": {"name": name, "plural": plural},
        "properties": {"title": {"type": "string"}},
    }


def test_serve_starts_and_serves_the_types_that_work(
    test_database: ServedDatabase,
    registry: Registry,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    registry.apply([entity("note", "notes")])
    with monkeypatch.context() as old_release:
        old_release.setattr(parse, "clashes", lambda *args, **kwargs: [])
        old_release.setattr(registry_module, "admit", lambda definition: None)
        registry.apply([entity("query", "queries"), entity("string", "strings")])
    with db.write() as conn:
        token = create_token(conn, first_admin(conn))
    log = tmp_path / "serve.log"
    with running_server(test_database, log) as base:
        answer = httpx.post(
            f"{base}/graphql",
            json={"query": "{ notes { totalCount } entityTypes { name } }"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["data"]["notes"] == {"totalCount": 0}
        assert {t["name"] for t in body["data"]["entityTypes"]} == {"note", "query", "string"}
    text = log.read_text()
    assert "cannot be built" in text and "'Query'" in text and "'String'" in text, text
    assert "served without query, string" in text, text
    assert "Traceback" not in text
