"""The duplicate scan over stored records (``xrm duplicates scan``) and ``duplicatePairs``:
pairs best first, a page at a time, only records the reader may see, none once merged."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import TestDatabase
from rules import LEAD_ROLE, SAME_EMAIL, SIMILAR_NAME, lead
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.cli import main
from xrm.entities.duplicate_scan import find_pairs
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_token, create_user, first_admin
from xrm.platform.settings import Settings

# Stored before the rules existed, as an old import would have left them.
LEADS = [
    {"name": "Kim Minsu", "email": "minsu@example.com", "phone": "010-1111-2222"},
    {"name": "Kim Minsu", "email": "MINSU@example.com"},
    {"name": "Kim Min-su", "phone": "+82 10 1111 2222"},
    {"name": "Park Jisoo", "phone": "010-1111-2222"},
    {"name": "Lee Hana", "email": "hana@example.com"},
]


@pytest.fixture
def stored(service: RecordService, registry: Registry, admin: Actor) -> list[dict[str, Any]]:
    registry.apply([lead(), LEAD_ROLE])
    with service.session(admin) as session:
        made = session.create_many("lead", LEADS)
    registry.apply([lead(SAME_EMAIL, SIMILAR_NAME)])
    return made


def test_find_pairs_scores_each_pair_once_best_rule_first(
    service: RecordService, admin: Actor, stored: list[dict[str, Any]]
) -> None:
    ids = [r["id"] for r in stored]
    with service.session(admin, write=False) as session:
        found = find_pairs(session, "lead")
    shown = {(frozenset((p.first_id, p.second_id)), p.rule, p.score) for p in found}
    assert shown == {
        (frozenset((ids[0], ids[1])), "same email", 1.0),
        (frozenset((ids[0], ids[2])), "similar name", 0.9737),
    }
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)


def test_the_command_stores_pairs_that_graphql_pages_best_first(
    service: RecordService,
    admin: Actor,
    stored: list[dict[str, Any]],
    test_database: TestDatabase,
    settings: Settings,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in test_database.environment().items():
        if key.startswith("XRM_"):
            monkeypatch.setenv(key, value)
    assert main(["duplicates", "scan", "lead"]) == 0
    assert "lead: 2 duplicate pairs found" in capsys.readouterr().out
    assert main(["duplicates", "scan", "nothing"]) == 1
    assert "nothing" in capsys.readouterr().err
    with db.write() as conn:
        token = create_token(conn, first_admin(conn), name="tests")
        rep = create_user(conn, "rep@example.com", ("lead_rep",))
        rep_token = create_token(conn, rep, name="rep")
    query = """query($after: String) { duplicatePairs(entity: "lead", first: 1, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } nodes { rule score firstName secondName } } }"""
    with TestClient(create_app(settings)) as client:

        def ask(after: str | None = None, who: str = token) -> dict[str, Any]:
            body: dict[str, Any] = client.post(
                "/graphql",
                json={"query": query, "variables": {"after": after}},
                headers={"Authorization": f"Bearer {who}"},
            ).json()
            return body

        first = ask()["data"]["duplicatePairs"]
        assert first["totalCount"] == 2
        assert first["nodes"] == [
            {
                "rule": "same email",
                "score": 1.0,
                "firstName": "Kim Minsu",
                "secondName": "Kim Minsu",
            }
        ]
        assert first["pageInfo"]["hasNextPage"] is True
        second = ask(first["pageInfo"]["endCursor"])["data"]["duplicatePairs"]
        assert [n["rule"] for n in second["nodes"]] == ["similar name"]
        assert second["pageInfo"]["hasNextPage"] is False
        bad = ask("garbage!")["errors"][0]["extensions"]
        assert bad["code"] == "VALIDATION_FAILED" and bad["errors"][0]["field"] == "after"
        # A rep reads only the leads it owns: none of these pairs.
        assert ask(who=rep_token)["data"]["duplicatePairs"]["totalCount"] == 0
        with service.session(admin) as session:
            session.merge("lead", stored[0]["id"], stored[1]["id"])
        assert ask()["data"]["duplicatePairs"]["totalCount"] == 1


def test_a_scan_is_bounded_in_a_huge_block(
    service: RecordService, registry: Registry, admin: Actor
) -> None:
    """Every record shares one blocking value: each is compared with at most CANDIDATES
    before it, so the pairs stay linear in the records."""
    from xrm.entities import duplicate_scan

    registry.apply([lead()])
    with service.session(admin) as session:
        session.create_many("lead", [{"name": "Same", "phone": "010-1111-2222"}] * 12)
    registry.apply([lead(SIMILAR_NAME)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(duplicate_scan, "CANDIDATES", 3)
        with service.session(admin, write=False) as session:
            found = find_pairs(session, "lead")
    assert len(found) == 3 * 12 - (1 + 2 + 3)
