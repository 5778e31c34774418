"""GraphiQL's page and files come from this server, never from a CDN (issue 10, point 29)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from xrm.api import graphiql
from xrm.app import create_app
from xrm.platform.settings import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def test_the_page_loads_only_files_this_server_serves(client: TestClient) -> None:
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "connect-src 'self'" in policy
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(sources) == 6 and all(s.startswith("/static/graphiql/") for s in sources)
    assert "<script>" not in page.text  # nothing inline
    for source in sources:
        served = client.get(source)
        assert served.status_code == 200, source
        assert len(served.content) > 100
        kind = "javascript" if source.endswith(".js") else "css"
        assert kind in served.headers["content-type"], source


def test_only_the_listed_files_are_served(client: TestClient) -> None:
    for name in ("package.json", "..%2F..%2Fpyproject.toml", "graphiql.min.js.map", "x.js"):
        assert client.get(f"/static/graphiql/{name}").status_code == 404, name
    assert client.get("/static/graphiql/../../pyproject.toml").status_code == 404


def test_without_node_modules_the_page_says_what_to_run(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graphiql, "_ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert "npm ci" in page.text and str(tmp_path) in page.text
    assert client.get("/static/graphiql/graphiql.min.js").status_code == 404
    assert client.get("/static/graphiql/xrm-graphiql.css").status_code == 200
