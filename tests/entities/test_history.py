"""A record's past: versions in its history, restoring one, and erasing a person for good."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from org import ORG

from xrm.entities.records import ERASED, RecordService
from xrm.entities.registry import Registry
from xrm.errors import Conflict, Forbidden, NotFound, Restricted, ValidationFailed
from xrm.platform import tables as platform
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_user


@pytest.fixture
def org(registry: Registry, service: RecordService) -> RecordService:
    registry.apply(ORG)
    return service


def audit_text(db: Database) -> str:
    """Everything the audit trail holds, as one string to search for leftovers."""
    with db.read() as conn:
        rows = conn.execute(sa.select(platform.audit)).mappings().all()
    return json.dumps([dict(r) for r in rows], default=str)


def test_history_numbers_versions_and_restore_brings_one_back(
    org: RecordService, admin: Actor
) -> None:
    with org.session(admin) as s:
        emp = s.create("employee", {"name": "Kim", "level": 1, "tags": ["a"]})
        s.update("employee", emp["id"], {"level": 2, "salary": "100.50"})
        s.update("employee", emp["id"], {"name": "Kim Min", "tags": None})
        entries = s.history("employee", [emp["id"]])[emp["id"]]
    assert [(e["action"], e["version"]) for e in entries] == [
        ("create", 1),
        ("update", 2),
        ("update", 3),
    ]
    with org.session(admin, request_id="restore-1") as s:
        restored = s.restore("employee", emp["id"], 1)
        assert restored["version"] == 4
        assert (restored["name"], restored["level"], restored["salary"], restored["tags"]) == (
            "Kim",
            1,
            None,
            ["a"],
        )
        last = s.history("employee", [emp["id"]])[emp["id"]][-1]
    assert last["action"] == "update" and last["version"] == 4
    assert last["changes"] == {
        "name": ["Kim Min", "Kim"],
        "level": [2, 1],
        "salary": ["100.50", None],
        "tags": [None, ["a"]],
    }
    with org.session(admin) as s:
        again = s.restore("employee", emp["id"], 3)  # restoring a restore's predecessor
        assert (again["name"], again["level"], again["salary"]) == ("Kim Min", 2, 100.50)


def test_restore_refuses_unknown_versions_stale_edits_and_unreadable_records(
    org: RecordService, admin: Actor, db: Database
) -> None:
    with org.session(admin) as s:
        emp = s.create("employee", {"name": "Kim"})
        s.update("employee", emp["id"], {"name": "Lee"})
        for version in (0, 3):
            with pytest.raises(ValidationFailed) as refused:
                s.restore("employee", emp["id"], version)
            assert refused.value.faults[0].field == "version"
        with pytest.raises(Conflict):
            s.restore("employee", emp["id"], 1, expected_version=1)
    with db.write() as conn:
        viewer = create_user(conn, "vic@example.com", ("viewer",))
    with org.session(viewer) as s, pytest.raises(Forbidden):
        s.restore("employee", emp["id"], 1)
    with org.session(admin) as s:
        assert s.get("employee", emp["id"])["name"] == "Lee"


def test_erase_deletes_redacts_and_leaves_a_tombstone(
    org: RecordService, admin: Actor, db: Database
) -> None:
    with org.session(admin) as s:
        dept = s.create("department", {"name": "Sales"})
        person = s.create(
            "employee",
            {"name": "Hong Gildong", "email": "gildong@example.com", "department": dept["id"]},
        )
        s.update("employee", person["id"], {"phone": "010-9876-5432"})
        project = s.create("project", {"title": "Launch"})
        s.link("assignments", person["id"], project["id"], {"role": "owner", "hours": 7})
        other = s.create("employee", {"name": "Kept Person", "email": "kept@example.com"})
    assert "gildong@example.com" in audit_text(db)
    with org.session(admin, request_id="erase-1") as s:
        assert s.erase("employee", person["id"]) is True
        assert s.get("employee", person["id"]) is None
        assert s.history("employee", [other["id"]])[other["id"]][0]["changes"]["email"] == [
            None,
            "kept@example.com",
        ]
    text = audit_text(db)
    for leftover in ("Hong Gildong", "gildong@example.com", "+821098765432"):
        assert leftover not in text
    assert "kept@example.com" in text and "Launch" in text
    with db.read() as conn:
        rows = (
            conn.execute(
                sa.select(platform.audit).where(platform.audit.c.record_id == person["id"])
            )
            .mappings()
            .all()
        )
    assert [r["action"] for r in rows] == ["create", "update", "delete", "erase"]
    assert rows[0]["changes"]["name"] == ERASED
    tombstone = rows[-1]
    assert tombstone["actor_email"] == admin.email and tombstone["request_id"] == "erase-1"
    assert {"department", "email", "name", "phone"} <= set(tombstone["changes"]["fields"])
    assert "hours" not in tombstone["changes"]["fields"]  # a link's, counted apart
    assert tombstone["changes"]["links"] == 1
    with db.read() as conn:
        link_rows = conn.execute(
            sa.select(platform.audit.c.changes).where(
                platform.audit.c.entity == "assignments", platform.audit.c.action == "link"
            )
        ).all()
    assert [r[0] for r in link_rows] == [{"role": ERASED, "hours": ERASED}]


def test_erase_is_for_admins_and_follows_delete_rules(
    org: RecordService, admin: Actor, db: Database
) -> None:
    with org.session(admin) as s:
        lead = s.create("employee", {"name": "Lead"})
        s.create("project", {"title": "P", "lead": lead["id"]})  # restrict
    with db.write() as conn:
        editor = create_user(conn, "eddie@example.com", ("editor",))
    with org.session(editor) as s, pytest.raises(Forbidden):
        s.erase("employee", lead["id"])
    with org.session(admin) as s:
        with pytest.raises(Restricted):
            s.erase("employee", lead["id"])
        with pytest.raises(NotFound):
            s.erase("employee", "00000000-0000-0000-0000-000000000000")
    assert "Lead" in audit_text(db)  # nothing redacted by the refused erasures
    with org.session(admin) as s:
        assert s.get("employee", lead["id"]) is not None
