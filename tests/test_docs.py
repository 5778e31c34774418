"""The reference in docs/ is complete, its links lead somewhere and its examples work.

Issue 10, point 30: every ``xrm`` command and option (found by walking the
argparse parser) is described in docs/cli.md, every ``XRM_*`` variable the
package reads (found by searching its source) in docs/settings.md; examples
marked ``<!-- check: definition -->`` are applied and those marked
``<!-- check: graphql -->`` are run against the built-in catalog.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.cli import build_parser
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin
from xrm.platform.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command that does something, with its parser: ``("token", "create")``..."""
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for sub in subparsers:
        for name, child in sub.choices.items():
            yield from commands(child, (*path, name))


def sections(text: str) -> dict[str, str]:
    """Markdown sections by heading text."""
    out: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("#"):
            current = line.lstrip("#").strip()
            out[current] = ""
        else:
            out[current] = out.get(current, "") + line + "\n"
    return out


def test_every_command_and_option_is_documented() -> None:
    documented = sections((DOCS / "cli.md").read_text(encoding="utf-8"))
    found = list(commands(build_parser()))
    assert len(found) >= 9  # migrate, serve, apply, definitions export, user x2, token x3
    missing = []
    for path, parser in found:
        heading = " ".join(("xrm", *path))
        if heading not in documented:
            missing.append(heading)
            continue
        for action in parser._actions:
            for option in action.option_strings:
                wanted = option.startswith("--") and option not in ("--help", "--db")
                if wanted and f"`{option}`" not in documented[heading]:
                    missing.append(f"{heading} {option}")
            positional = (
                (action.metavar or action.dest.upper()) if not action.option_strings else None
            )
            if positional and positional not in documented[heading]:
                missing.append(f"{heading} {positional}")
    assert missing == []
    assert "`--db URL`" in (DOCS / "cli.md").read_text(encoding="utf-8")


def settings_read_by_the_package() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "xrm").rglob("*.py"):
        names.update(re.findall(r"\bXRM_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    return names


def test_every_setting_the_package_reads_is_documented() -> None:
    read = settings_read_by_the_package()
    assert {"XRM_DATABASE_URL", "XRM_GRAPHQL_MAX_PAGE", "XRM_DEBUG"} <= read
    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    assert sorted(name for name in read if f"`{name}`" not in text) == []


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def test_every_link_in_the_docs_leads_somewhere() -> None:
    pages = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
    anchors = {
        page: {slug(h) for h in re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)}
        for page in pages
    }
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://")):
                continue
            file, _, anchor = target.partition("#")
            where = (page.parent / file).resolve() if file else page
            if not where.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and where.suffix == ".md" and anchor not in anchors.get(where, set()):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    unlisted = [p.name for p in DOCS.glob("*.md") if p.name != "README.md" and p.name not in index]
    assert unlisted == []


def test_the_readme_points_to_the_docs_not_to_a_contract_it_does_not_ship() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/README.md" in readme
    assert "project's contract" not in readme


def examples(kind: str) -> list[tuple[str, str]]:
    """(page, code) of every fenced block marked ``<!-- check: KIND -->``, in reading order."""
    found = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        pattern = rf"<!-- check: {kind} -->\n```\w*\n(.*?)\n```"
        found.extend((page.name, code) for code in re.findall(pattern, text, re.S))
    return found


@pytest.fixture
def catalog(registry: Registry) -> Registry:
    registry.apply(definitions())
    return registry


def test_the_definition_examples_are_accepted(catalog: Registry) -> None:
    blocks = examples("definition")
    assert {page for page, _code in blocks} >= {"definitions.md", "access.md"}
    for page, code in blocks:
        plan = catalog.apply([json.loads(code)])
        assert not plan.empty, f"{page}: {code[:60]}"


def test_the_graphql_examples_run(catalog: Registry, settings: Settings, db: Database) -> None:
    blocks = examples("graphql")
    assert len(blocks) >= 5
    with db.write() as conn:
        token = create_token(conn, first_admin(conn))
    with TestClient(create_app(settings)) as client:
        for page, query in blocks:
            response = client.post(
                "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
            )
            body: dict[str, Any] = response.json()
            assert "errors" not in body, f"{page}: {query}\n{body}"
