"""The record service as users meet it: writes validated, normalised, locked and audited."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from org import EMPLOYEE, ORG

from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.errors import Conflict, Duplicate, NotFound, Restricted, ValidationFailed
from xrm.platform import audit as platform_audit
from xrm.platform import tables as platform
from xrm.platform.db import Database
from xrm.platform.identity import Actor


@pytest.fixture
def org(registry: Registry, service: RecordService) -> RecordService:
    registry.apply(ORG)
    return service


def fields(error: ValidationFailed) -> set[str]:
    return {f.field for f in error.faults}


def audit_rows(db: Database, **where: Any) -> list[Any]:
    query = sa.select(platform.audit).order_by(platform.audit.c.id)
    for key, value in where.items():
        query = query.where(platform.audit.c[key] == value)
    with db.read() as conn:
        return list(conn.execute(query).mappings())


def count(db: Database, registry: Registry, entity: str) -> int:
    table = registry.current().tables[entity]
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# --- create ---------------------------------------------------------------------------------


def test_create_normalises_every_format_and_fills_system_fields(
    org: RecordService, admin: Actor
) -> None:
    with org.session(admin) as s:
        dept = s.create("department", {"name": "  영업부  ", "code": "SAL", "budget": "1000.50"})
        emp = s.create(
            "employee",
            {
                "name": "김민준 (金敏俊)",
                "email": "  Min.Kim@Example.COM ",
                "phone": "010-1234-5678",
                "points": "9007199254740993",
                "salary": "12345678901234567890.12345678",
                "hired": "2024-03-01",
                "seen_at": "2024-03-01T09:30:00+09:00",
                "department": dept["id"],
            },
        )
    assert dept["name"] == "영업부"
    assert emp["email"] == "min.kim@example.com"
    assert emp["phone"] == "+821012345678"
    assert emp["status"] == "new" and emp["active"] is True  # defaults
    assert emp["badge"] == "EMP-0001"
    assert uuid.UUID(emp["id"]).version == 7 and emp["id"] == emp["id"].lower()
    assert emp["version"] == 1 and emp["created_by"] == admin.id == emp["owner"]
    with org.session(admin, write=False) as s:
        stored = s.get("employee", emp["id"])
    assert stored is not None
    assert stored["name"] == "김민준 (金敏俊)"
    assert stored["salary"] == Decimal("12345678901234567890.12345678")
    assert stored["points"] == 9007199254740993
    assert stored["seen_at"].isoformat() == "2024-03-01T00:30:00+00:00"
    assert stored["department"] == dept["id"]


def test_create_reports_every_failing_field_at_once(org: RecordService, admin: Actor) -> None:
    with pytest.raises(ValidationFailed) as caught, org.session(admin) as s:
        s.create(
            "employee",
            {
                "email": "not an email",
                "phone": "12",
                "level": 10,
                "status": "gone",
                "hired": "2024-02-30",
                "nickname": "x",
            },
        )
    assert fields(caught.value) >= {
        "name",
        "email",
        "phone",
        "level",
        "status",
        "hired",
        "nickname",
    }
    messages = " ".join(str(f) for f in caught.value.faults)
    assert "required" in messages and "nickname" in messages


def test_null_rules_on_create_and_patch(org: RecordService, admin: Actor) -> None:
    with org.session(admin) as s:
        emp = s.create("employee", {"name": "A", "status": None, "email": "a@x.org"})
        assert emp["status"] == "new"  # null on create is absent: the default applies
        cleared = s.update("employee", emp["id"], {"email": None})
        assert cleared["email"] is None
        with pytest.raises(ValidationFailed) as caught:
            s.update("employee", emp["id"], {"name": None})
    assert fields(caught.value) == {"name"}


def test_bulk_create_is_all_or_nothing_with_indexed_faults(
    org: RecordService, admin: Actor, db: Database, registry: Registry
) -> None:
    rows = [{"name": f"e{i}", "email": f"e{i}@x.org"} for i in range(5)]
    rows[3]["email"] = "broken"
    rows[4]["level"] = 0
    with pytest.raises(ValidationFailed) as caught, org.session(admin) as s:
        s.create_many("employee", rows)
    assert fields(caught.value) == {"inputs.3.email", "inputs.4.level"}
    assert count(db, registry, "employee") == 0
    with org.session(admin) as s:
        made = s.create_many("employee", rows[:3])
    assert [r["name"] for r in made] == ["e0", "e1", "e2"]
    assert [r["badge"] for r in made] == ["EMP-0001", "EMP-0002", "EMP-0003"]


def test_reference_to_a_missing_record_is_refused(org: RecordService, admin: Actor) -> None:
    ghost = str(uuid.uuid4())
    with pytest.raises(ValidationFailed) as caught, org.session(admin) as s:
        s.create("employee", {"name": "A", "department": ghost, "manager": "not-an-id"})
    assert fields(caught.value) == {"manager"}  # the malformed id is reported first
    with pytest.raises(ValidationFailed) as caught, org.session(admin) as s:
        s.create("employee", {"name": "A", "department": ghost})
    assert fields(caught.value) == {"department"}
    assert ghost in str(caught.value.faults[0])


def test_unique_sets_refuse_duplicates_in_table_and_in_batch(
    org: RecordService, admin: Actor
) -> None:
    with org.session(admin) as s:
        s.create("department", {"name": "Sales", "code": "SAL"})
    with pytest.raises(Duplicate) as caught, org.session(admin) as s:
        s.create("department", {"name": "Sales 2", "code": "SAL"})
    assert caught.value.code == "DUPLICATE"
    with pytest.raises(Duplicate) as caught, org.session(admin) as s:
        s.create_many("department", [{"name": "A", "code": "AA"}, {"name": "B", "code": "AA"}])
    assert caught.value.extensions["errors"][0]["field"] == "inputs.1.code"
    with org.session(admin) as s:  # nulls never collide
        s.create_many("department", [{"name": "C"}, {"name": "D"}])


def test_values_that_look_like_sql_are_stored_verbatim(
    org: RecordService, admin: Actor, db: Database, registry: Registry
) -> None:
    evil = "Robert'); DROP TABLE e_employee; --"
    with org.session(admin) as s:
        emp = s.create(
            "employee", {"name": evil, "tags": ["' OR 1=1 --", '"; DELETE'], "email": "a@b.c"}
        )
    with org.session(admin, write=False) as s:
        again = s.get("employee", emp["id"])
        found = s.query("employee", filter={"name": {"eq": evil}})
    assert again is not None and again["name"] == evil
    assert again["tags"] == ["' OR 1=1 --", '"; DELETE']
    assert found.total_count == 1
    assert count(db, registry, "employee") == 1


# --- update ---------------------------------------------------------------------------------


def test_update_is_partial_and_bumps_the_version(org: RecordService, admin: Actor) -> None:
    with org.session(admin) as s:
        emp = s.create("employee", {"name": "A", "level": 2, "email": "a@x.org"})
        updated = s.update("employee", emp["id"], {"level": 3}, expected_version=1)
    assert updated["level"] == 3 and updated["email"] == "a@x.org"
    assert updated["version"] == 2
    with org.session(admin) as s:
        same = s.update("employee", emp["id"], {"level": 3})
    assert same["version"] == 2  # nothing changed, nothing written


def test_a_record_is_found_by_any_spelling_of_its_id(org: RecordService, admin: Actor) -> None:
    with org.session(admin) as s:
        emp = s.create("employee", {"name": "A", "level": 2, "email": "a@x.org"})
    with org.session(admin, write=False) as s:
        for spelling in (emp["id"].upper(), emp["id"].replace("-", ""), f"{{{emp['id']}}}"):
            found = s.get("employee", spelling)
            assert found is not None and found["id"] == emp["id"], spelling
        assert s.get("employee", "not-an-id") is None
        assert s.get("employee", "00000000-0000-0000-0000-000000000000") is None


def test_relations_read_after_a_definition_change_see_the_new_fields(
    org: RecordService, registry: Registry, admin: Actor
) -> None:
    """Statements kept between sessions are per schema version: a change is seen at once."""
    with org.session(admin) as s:
        dept = s.create("department", {"name": "Ops"})
        boss = s.create("employee", {"name": "Bo", "department": dept["id"]})
    with org.session(admin, write=False) as s:  # warm the kept statements
        assert [
            e["name"] for e in s.children("department", "employees", [dept["id"]])[dept["id"]].items
        ] == ["Bo"]
        assert "nickname" not in s.fetch("employee", [boss["id"]])[boss["id"]]
    employee = copy.deepcopy(next(d for d in ORG if d["x-xrm"]["name"] == "employee"))
    employee["properties"]["nickname"] = {"type": "string"}
    registry.apply([employee])
    with org.session(admin) as s:
        s.update("employee", boss["id"], {"nickname": "B"})
    with org.session(admin, write=False) as s:
        page = s.children("department", "employees", [dept["id"]])[dept["id"]]
        assert [e["nickname"] for e in page.items] == ["B"]
        assert s.fetch("employee", [boss["id"]])[boss["id"]]["nickname"] == "B"


def test_a_stale_expected_version_is_a_conflict_never_an_overwrite(
    org: RecordService, admin: Actor
) -> None:
    with org.session(admin) as s:
        emp = s.create("employee", {"name": "A", "level": 2})
    with org.session(admin) as s:
        s.update("employee", emp["id"], {"level": 5}, expected_version=1)
    with pytest.raises(Conflict) as caught, org.session(admin) as s:
        s.update("employee", emp["id"], {"level": 7}, expected_version=1)
    assert caught.value.code == "CONFLICT"
    assert caught.value.extensions["currentVersion"] == 2
    with org.session(admin, write=False) as s:
        assert s.get("employee", emp["id"])["level"] == 5  # type: ignore[index]


def test_concurrent_updates_with_the_same_version_one_wins(
    org: RecordService, admin: Actor
) -> None:
    with org.session(admin) as s:
        emp = s.create("employee", {"name": "A", "level": 1})
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def edit(level: int) -> None:
        barrier.wait()
        try:
            with org.session(admin) as s:
                s.update("employee", emp["id"], {"level": level}, expected_version=1)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=edit, args=(n,)) for n in (2, 3, 4, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    with org.session(admin, write=False) as s:
        final = s.get("employee", emp["id"])
    assert final is not None and final["version"] == 2


def test_update_of_a_missing_record_is_not_found(org: RecordService, admin: Actor) -> None:
    with pytest.raises(NotFound), org.session(admin) as s:
        s.update("employee", str(uuid.uuid4()), {"level": 1})
    with pytest.raises(NotFound), org.session(admin) as s:
        s.update("employee", "1; DROP TABLE e_employee", {"level": 1})


# --- delete ---------------------------------------------------------------------------------


def test_on_delete_restrict_cascade_and_set_null(
    org: RecordService, admin: Actor, db: Database, registry: Registry
) -> None:
    with org.session(admin) as s:
        top = s.create("department", {"name": "Top"})
        sub = s.create("department", {"name": "Sub", "parent": top["id"]})
        boss = s.create("employee", {"name": "Boss", "department": top["id"]})
        worker = s.create(
            "employee", {"name": "Worker", "department": sub["id"], "manager": boss["id"]}
        )
        other = s.create("department", {"name": "Other"})
        outsider = s.create(
            "employee", {"name": "Outsider", "department": other["id"], "manager": worker["id"]}
        )
        project = s.create("project", {"title": "P", "lead": worker["id"]})
    # restrict: the project led by a worker of the sub-department blocks deleting Top.
    with pytest.raises(Restricted) as caught, org.session(admin) as s:
        s.delete("department", top["id"])
    assert "project" in caught.value.message
    assert count(db, registry, "department") == 3 and count(db, registry, "employee") == 3
    with org.session(admin) as s:
        s.delete("project", project["id"])
        s.delete("department", top["id"])  # cascades: Sub, Boss, Worker
    with org.session(admin, write=False) as s:
        assert s.get("department", sub["id"]) is None
        assert s.get("employee", worker["id"]) is None
        survivor = s.get("employee", outsider["id"])
    assert survivor is not None and survivor["manager"] is None  # set_null
    assert survivor["version"] == 2
    deleted = {r["record_id"] for r in audit_rows(db, action="delete")}
    assert {top["id"], sub["id"], boss["id"], worker["id"]} <= deleted


def test_deleting_a_record_removes_its_links(
    org: RecordService, admin: Actor, db: Database, registry: Registry
) -> None:
    with org.session(admin) as s:
        emp = s.create("employee", {"name": "A"})
        project = s.create("project", {"title": "P"})
        s.link("assignments", emp["id"], project["id"], {"role": "owner", "hours": 2.5})
        s.delete("employee", emp["id"])
    link_table = registry.current().link_tables["assignments"]
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(link_table)).scalar_one() == 0


# --- links ----------------------------------------------------------------------------------


def test_link_with_attributes_relink_and_unlink(org: RecordService, admin: Actor) -> None:
    with org.session(admin) as s:
        emp = s.create("employee", {"name": "A"})
        p1 = s.create("project", {"title": "P1"})
        p2 = s.create("project", {"title": "P2"})
        s.link("assignments", emp["id"], p1["id"], {"role": "owner", "hours": 2.5})
        s.link("assignments", emp["id"], p2["id"])
        s.link("assignments", emp["id"], p1["id"], {"role": "member", "hours": 1})
        pages = s.children("employee", "projects", [emp["id"]], order_by=[{"title": "ASC"}])
        members = s.children("project", "members", [p1["id"]])
    page = pages[emp["id"]]
    assert [p["title"] for p in page.items] == ["P1", "P2"]
    assert page.attributes == [{"role": "member", "hours": 1.0}, {"role": None, "hours": None}]
    assert [m["name"] for m in members[p1["id"]].items] == ["A"]
    with org.session(admin) as s:
        assert s.unlink("assignments", emp["id"], p1["id"]) is True
        assert s.unlink("assignments", emp["id"], p1["id"]) is False


def test_link_validates_attributes_and_both_ends(org: RecordService, admin: Actor) -> None:
    with org.session(admin) as s:
        emp = s.create("employee", {"name": "A"})
    with pytest.raises(ValidationFailed) as caught, org.session(admin) as s:
        s.link("assignments", emp["id"], str(uuid.uuid4()), {"role": "boss", "hours": -1, "x": 1})
    assert fields(caught.value) == {"toId", "attributes.role", "attributes.hours", "attributes.x"}
    with pytest.raises(NotFound), org.session(admin) as s:
        s.link("no_such_relationship", emp["id"], emp["id"])


# --- transactions, audit, autonumbers ---------------------------------------------------------


def test_every_write_is_audited_in_its_own_transaction(
    org: RecordService, admin: Actor, db: Database, registry: Registry
) -> None:
    with org.session(admin, channel="import", request_id="req-1") as s:
        emp = s.create("employee", {"name": "A", "level": 1})
        s.update("employee", emp["id"], {"level": 2})
        project = s.create("project", {"title": "P"})
        s.link("assignments", emp["id"], project["id"])
        s.unlink("assignments", emp["id"], project["id"])
        s.delete("project", project["id"])
    rows = audit_rows(db, request_id="req-1")
    assert [r["action"] for r in rows] == ["create", "update", "create", "link", "unlink", "delete"]
    assert all(r["channel"] == "import" and r["actor_email"] == admin.email for r in rows)
    assert rows[1]["changes"] == {"level": [1, 2]}
    # A session that fails after writing leaves neither the record nor its audit row.
    with pytest.raises(RuntimeError), org.session(admin, request_id="req-2") as s:
        s.create("employee", {"name": "B"})
        raise RuntimeError("boom")
    assert audit_rows(db, request_id="req-2") == []
    assert count(db, registry, "employee") == 1


class AuditDown(Exception):
    pass


def test_no_write_without_its_audit_row(
    org: RecordService,
    admin: Actor,
    db: Database,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When writing the audit row fails, the whole change it records rolls back."""
    with org.session(admin) as s:
        emp = s.create("employee", {"name": "A", "level": 1})
        project = s.create("project", {"title": "P"})
        s.link("assignments", emp["id"], project["id"])
        dept = s.create("department", {"name": "D"})
    before = {e: count(db, registry, e) for e in ("employee", "project", "department")}
    audit_before = len(audit_rows(db))

    def failing_write(conn: Any, entries: Any) -> None:
        raise AuditDown("audit store unavailable")

    monkeypatch.setattr(platform_audit, "write", failing_write)
    attempts = [
        lambda s: s.create("employee", {"name": "B"}),
        lambda s: s.create_many("employee", [{"name": "C"}, {"name": "D"}]),
        lambda s: s.update("employee", emp["id"], {"level": 5}),
        lambda s: s.delete("department", dept["id"]),
        lambda s: s.delete("employee", emp["id"]),  # also removes its link
        lambda s: s.link("assignments", emp["id"], project["id"], {"hours": 3}),
        lambda s: s.unlink("assignments", emp["id"], project["id"]),
    ]
    for attempt in attempts:
        with pytest.raises(AuditDown), org.session(admin) as s:
            attempt(s)
    with pytest.raises(AuditDown):
        registry.apply(
            [{**EMPLOYEE, "properties": {**EMPLOYEE["properties"], "x": {"type": "string"}}}]
        )
    monkeypatch.undo()
    assert {e: count(db, registry, e) for e in before} == before
    assert len(audit_rows(db)) == audit_before
    assert "x" not in registry.current().entity("employee").properties
    with org.session(admin) as s:
        stored = s.get("employee", emp["id"])
        assert stored is not None and stored["level"] == 1 and stored["version"] == 1
        members = s.children("project", "members", [project["id"]])[project["id"]]
        assert [m["id"] for m in members.items] == [emp["id"]]
        assert members.attributes == [{"role": None, "hours": None}]


def test_autonumbers_have_no_gaps_under_concurrency_or_rollback(
    org: RecordService, admin: Actor
) -> None:
    with pytest.raises(ValidationFailed), org.session(admin) as s:
        s.create("employee", {"name": "rolled back"})
        s.create("employee", {"level": 99})  # fails: the whole session rolls back
    made: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def create_some() -> None:
        barrier.wait()
        for _ in range(5):
            with org.session(admin) as s:
                badge = s.create("employee", {"name": "x"})["badge"]
            with lock:
                made.append(badge)

    threads = [threading.Thread(target=create_some) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(made) == [f"EMP-{n:04d}" for n in range(1, 21)]


def test_deleting_a_record_clears_retired_references_to_it(
    org: RecordService, admin: Actor, registry: Registry, db: Database
) -> None:
    with org.session(admin) as s:
        dept = s.create("department", {"name": "Ops"})
        emp = s.create("employee", {"name": "A", "department": dept["id"]})
    employee = json.loads(json.dumps(EMPLOYEE))
    del employee["properties"]["department"]  # retired: hidden, its data kept
    registry.apply([employee])
    with org.session(admin) as s:
        assert s.delete("department", dept["id"]) is True  # no cascade, no restriction
        survivor = s.get("employee", emp["id"])
    assert survivor is not None and "department" not in survivor
    table = registry.current().tables["employee"]
    with db.read() as conn:
        kept = conn.execute(sa.select(table.c.department_id)).scalar_one()
    assert kept is None  # the retired reference no longer points at a deleted record
