"""Roles enforced at the record service: every channel meets the same checks.

A ``rep`` may create employees, but reads, changes and deletes only the ones
they own; salaries are hidden from them and badges read-only. A ``viewer``
reads everything and writes nothing. What a role may not see behaves as if it
did not exist: it is not listed, not counted, not aggregated, not matched by
filters, not reachable through references, and not probeable.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from org import ORG

from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.errors import DefinitionError, Forbidden, NotFound, ValidationFailed
from xrm.platform import tables as platform
from xrm.platform.access import HIDDEN
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_user

REP: dict[str, Any] = {
    "role": "rep",
    "label": {"en": "Sales rep"},
    "entities": {
        "department": {"read": "all"},
        "project": {"read": "own", "create": "all", "update": "own"},
        "employee": {
            "read": "own",
            "create": "all",
            "update": "own",
            "delete": "own",
            "fields": {"salary": "hidden", "badge": "read_only"},
        },
    },
}
AUDITOR: dict[str, Any] = {
    "role": "auditor",
    "entities": {"employee": {"read": "all", "fields": {"salary": "hidden", "phone": "hidden"}}},
}


@pytest.fixture
def org(registry: Registry, service: RecordService) -> RecordService:
    registry.apply([*ORG, REP, AUDITOR])
    return service


def user(db: Database, email: str, *roles: str) -> Actor:
    with db.write() as conn:
        return create_user(conn, email, roles)


@pytest.fixture
def people(org: RecordService, db: Database, admin: Actor) -> dict[str, Any]:
    """Two reps with two employees each, one admin-owned employee, and a department."""
    ann, bob = user(db, "ann@example.com", "rep"), user(db, "bob@example.com", "rep")
    with org.session(admin) as s:
        dept = s.create("department", {"name": "Sales", "budget": "100"})
        boss = s.create(
            "employee",
            {"name": "Boss", "salary": "9000", "level": 9, "department": dept["id"]},
        )
    made: dict[str, Any] = {"ann": ann, "bob": bob, "dept": dept, "boss": boss}
    for who, rep in (("ann", ann), ("bob", bob)):
        with org.session(rep) as s:
            made[who + "_staff"] = s.create_many(
                "employee",
                [
                    {"name": f"{who} one", "level": 1, "department": dept["id"]},
                    {"name": f"{who} two", "level": 2, "department": dept["id"]},
                ],
            )
    return made


def names(page: Any) -> list[str]:
    return sorted(r["name"] for r in page.items)


def test_own_scope_lists_counts_and_fetches_only_owned_records(
    org: RecordService, people: dict[str, Any]
) -> None:
    with org.session(people["ann"]) as s:
        page = s.query("employee", order_by=[{"name": "ASC"}])
        assert names(page) == ["ann one", "ann two"]
        assert page.total_count == 2
        bobs = [r["id"] for r in people["bob_staff"]]
        assert s.fetch("employee", [*bobs, people["boss"]["id"]]) == {}
        assert s.get("employee", people["ann_staff"][0]["id"]) is not None
        # Filters cannot widen the scope, not even through or/not.
        widened = {"or": [{"name": {"eq": "bob one"}}, {"not": {"name": {"eq": "x"}}}]}
        assert names(s.query("employee", filter=widened)) == ["ann one", "ann two"]


def test_own_scope_aggregates_only_owned_rows(org: RecordService, people: dict[str, Any]) -> None:
    with org.session(people["bob"]) as s:
        [total] = s.aggregate("employee")
        assert total["count"] == 2
        assert total["sum"]["level"] == 3
        assert "salary" not in total["sum"]  # hidden: not aggregated at all
        grouped = s.aggregate("employee", group_by=["level"])
        assert sorted((g["group"]["level"], g["count"]) for g in grouped) == [(1, 1), (2, 1)]


def test_own_scope_follows_relations_only_to_owned_records(
    org: RecordService, people: dict[str, Any]
) -> None:
    dept = people["dept"]["id"]
    with org.session(people["ann"]) as s:
        pages = s.children("department", "employees", [dept], with_total=True)
        assert names(pages[dept]) == ["ann one", "ann two"]
        assert pages[dept].total_count == 2
        # A department matches "some employee is Boss" only if the actor can see Boss.
        boss_filter = {"employees": {"some": {"name": {"eq": "Boss"}}}}
        assert s.query("department", filter=boss_filter).items == []
        managed_by_boss = {"manager": {"name": {"eq": "Boss"}}}
        assert s.query("employee", filter=managed_by_boss).items == []


def test_a_reference_to_an_unreadable_record_reads_as_its_id_only(
    org: RecordService, people: dict[str, Any], admin: Actor
) -> None:
    anns = people["ann_staff"][0]["id"]
    with org.session(admin) as s:
        s.update("employee", anns, {"manager": people["boss"]["id"]})
        assert names(s.query("employee", filter={"manager": {"name": {"eq": "Boss"}}})) == [
            "ann one"
        ]
    with org.session(people["ann"]) as s:
        record = s.get("employee", anns)
        assert record is not None and record["manager"] == people["boss"]["id"]
        assert s.fetch("employee", [record["manager"]]) == {}
        # Ann may still change her own record, keeping the reference she cannot read.
        assert s.update("employee", anns, {"level": 3})["manager"] == people["boss"]["id"]


def test_own_scope_cannot_change_delete_or_reference_others_records(
    org: RecordService, people: dict[str, Any]
) -> None:
    bobs_id = people["bob_staff"][0]["id"]
    with org.session(people["ann"]) as s:
        # Not the ann's: it does not exist for her (no probing by id).
        with pytest.raises(NotFound):
            s.update("employee", bobs_id, {"name": "renamed"})
        with pytest.raises(NotFound):
            s.delete("employee", bobs_id)
        with pytest.raises(ValidationFailed) as refused:
            s.create("employee", {"name": "new", "manager": bobs_id})
        assert {f.field for f in refused.value.faults} == {"manager"}
        assert "no employee with id" in refused.value.faults[0].message
    with org.session(people["bob"]) as s:
        assert s.get("employee", bobs_id)["name"] == "bob one"  # unchanged


def test_own_scope_links_only_records_the_actor_may_update(
    org: RecordService, people: dict[str, Any], admin: Actor
) -> None:
    ann, ann_emp = people["ann"], people["ann_staff"][0]["id"]
    bob_emp = people["bob_staff"][0]["id"]
    with org.session(admin) as s:
        admins_project = s.create("project", {"title": "Admin's"})["id"]
    with org.session(ann) as s:
        own_project = s.create("project", {"title": "Ann's"})["id"]
        assert s.link("assignments", ann_emp, own_project, {"role": "owner", "hours": 2})
        with pytest.raises(ValidationFailed):  # not readable: as if missing
            s.link("assignments", bob_emp, own_project)
        with pytest.raises(ValidationFailed):
            s.link("assignments", ann_emp, admins_project)
    with org.session(admin) as s:
        assert s.link("assignments", bob_emp, own_project)
    with org.session(ann) as s:
        members = s.children("project", "members", [own_project], with_total=True)[own_project]
        assert names(members) == ["ann one"] and members.total_count == 1
        assert s.unlink("assignments", bob_emp, own_project) is False  # not hers to see
    with org.session(admin) as s:
        assert s.children("project", "members", [own_project])[own_project].items[1:]


def test_hidden_fields_read_as_hidden_and_cannot_be_probed(
    org: RecordService, people: dict[str, Any], db: Database
) -> None:
    carol = user(db, "carol@example.com", "auditor")
    boss = people["boss"]["id"]
    with org.session(carol) as s:
        record = s.get("employee", boss)
        assert record is not None
        assert record["salary"] is HIDDEN and record["phone"] is HIDDEN
        assert record["name"] == "Boss" and record["level"] == 9
        for probe in (
            lambda: s.query("employee", filter={"salary": {"gt": "5000"}}),
            lambda: s.query("employee", filter={"not": {"salary": {"isNull": True}}}),
            lambda: s.query("employee", order_by=[{"salary": "DESC"}]),
            lambda: s.aggregate("employee", group_by=["salary"]),
            lambda: s.query("department", filter={"employees": {"some": {"salary": {"gt": 1}}}}),
            lambda: s.children(
                "department", "employees", [people["dept"]["id"]], order_by=[{"phone": "ASC"}]
            ),
        ):
            with pytest.raises(Forbidden):
                probe()
        assert "salary" not in s.aggregate("employee")[0]["max"]


def test_history_leaves_out_hidden_fields(
    org: RecordService, people: dict[str, Any], db: Database, admin: Actor
) -> None:
    boss = people["boss"]["id"]
    with org.session(admin) as s:
        s.update("employee", boss, {"salary": "9500", "level": 8})
    carol = user(db, "carol@example.com", "auditor")
    with org.session(carol) as s:
        entries = s.history("employee", [boss])[boss]
    assert [e["action"] for e in entries] == ["create", "update"]
    assert all("salary" not in e["changes"] for e in entries)
    assert entries[1]["changes"]["level"] == [9, 8]


def test_read_only_and_hidden_fields_cannot_be_written(
    org: RecordService, people: dict[str, Any], db: Database, registry: Registry
) -> None:
    ann, own = people["ann"], people["ann_staff"][0]
    with org.session(ann) as s:
        for values in ({"name": "x", "badge": "EMP-9999"}, {"name": "x", "salary": "1"}):
            with pytest.raises(Forbidden):
                s.create("employee", values)
        with pytest.raises(Forbidden):
            s.update("employee", own["id"], {"salary": "1"})
        with pytest.raises(Forbidden):
            s.update("employee", own["id"], {"badge": "EMP-0001"})
        # Autonumbered on create all the same, and readable.
        assert own["badge"].startswith("EMP-")
        assert own["salary"] is HIDDEN
    table = registry.current().tables["employee"]
    with db.read() as conn:
        stored = conn.execute(sa.select(table.c.name).where(table.c.id == own["id"])).scalar()
    assert stored == "ann one"


def test_authorization_comes_before_validation(
    org: RecordService, people: dict[str, Any], db: Database
) -> None:
    viewer = user(db, "vic@example.com", "viewer")
    with org.session(viewer) as s:
        with pytest.raises(Forbidden):
            s.create("employee", {"level": "not a number"})  # invalid, but forbidden first
        with pytest.raises(Forbidden):
            s.create_many("department", [{"name": "x"}])


def test_a_viewer_reads_everything_and_writes_nothing(
    org: RecordService, people: dict[str, Any], db: Database, registry: Registry
) -> None:
    viewer = user(db, "vic@example.com", "viewer")
    some, dept = people["ann_staff"][0]["id"], people["dept"]["id"]
    with db.read() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(platform.audit)).scalar()
    with org.session(viewer) as s:
        assert s.query("employee").total_count == 5
        assert s.get("employee", people["boss"]["id"])["salary"] == Decimal("9000")
        attempts = [
            lambda: s.create("employee", {"name": "x"}),
            lambda: s.update("employee", some, {"name": "x"}),
            lambda: s.delete("employee", some),
            lambda: s.delete("department", dept),
        ]
        for attempt in attempts:
            with pytest.raises(Forbidden):
                attempt()
    with org.session(people["ann"]) as s:
        project = s.create("project", {"title": "p"})["id"]
    with org.session(viewer) as s:
        with pytest.raises(Forbidden):
            s.link("assignments", some, project)
        with pytest.raises(Forbidden):
            s.unlink("assignments", some, project)
    with db.read() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(platform.audit)).scalar()
    assert after == before + 1  # only ann's project


def test_a_type_the_role_does_not_grant_is_forbidden_everywhere(
    org: RecordService, people: dict[str, Any], db: Database, registry: Registry
) -> None:
    registry.apply([{"role": "clerk", "entities": {"department": {"read": "all"}}}])
    clerk = user(db, "cleo@example.com", "clerk")
    dept = people["dept"]["id"]
    with org.session(clerk) as s:
        assert s.query("department").total_count == 1
        for attempt in (
            lambda: s.query("employee"),
            lambda: s.aggregate("employee"),
            lambda: s.fetch("employee", [people["boss"]["id"]]),
            lambda: s.children("department", "employees", [dept]),
            lambda: s.query("department", filter={"employees": {"some": {}}}),
            lambda: s.history("employee", [people["boss"]["id"]]),
            lambda: s.delete("department", dept),
            lambda: s.update("department", dept, {"name": "x"}),
        ):
            with pytest.raises(Forbidden):
                attempt()


def test_several_roles_combine_to_the_most_permissive(
    org: RecordService, people: dict[str, Any], db: Database
) -> None:
    both = user(db, "dee@example.com", "rep", "auditor")
    with org.session(both) as s:
        assert s.query("employee").total_count == 5  # auditor reads all
        boss = s.get("employee", people["boss"]["id"])
        assert boss["salary"] is HIDDEN  # hidden in both roles
        assert boss["phone"] is None  # hidden only for auditor: rep shows it


def test_role_definitions_are_checked_against_the_catalog(registry: Registry) -> None:
    registry.apply(ORG)
    bad = {
        "role": "broken",
        "entities": {
            "employe": {"read": "all"},
            "employee": {"read": "everything", "fields": {"wage": "hidden"}},
        },
    }
    with pytest.raises(DefinitionError) as refused:
        registry.apply([bad])
    paths = {f.field for f in refused.value.faults}
    assert any("read" in p for p in paths), paths
    wrong_field = {"role": "broken", "entities": {"employee": {"fields": {"wage": "hidden"}}}}
    with pytest.raises(DefinitionError) as refused:
        registry.apply([wrong_field])
    assert [f.field for f in refused.value.faults] == ["entities.employee.fields.wage"]
    with pytest.raises(DefinitionError):
        registry.apply([{"role": "admin", "entities": {}}])
    assert "broken" not in registry.current().roles


def test_ownership_can_be_given_away_and_assigned_and_is_audited(
    org: RecordService, people: dict[str, Any], db: Database, admin: Actor
) -> None:
    ann, bob = people["ann"], people["bob"]
    anns = people["ann_staff"][0]["id"]
    with org.session(ann) as s:
        with pytest.raises(Forbidden):  # a rep may not create records for others
            s.create("employee", {"name": "for bob", "owner": bob.id})
        given = s.update("employee", anns, {"owner": bob.id})
        assert given["owner"] == bob.id
        assert s.get("employee", anns) is None  # no longer hers to see
    with org.session(bob) as s:
        assert s.get("employee", anns)["owner"] == bob.id
    with org.session(admin) as s:
        made = s.create("employee", {"name": "assigned", "owner": ann.id})
        assert made["owner"] == ann.id
        history = s.history("employee", [anns, made["id"]])
    assert history[anns][-1]["changes"] == {"owner": [ann.id, bob.id]}
    assert history[made["id"]][0]["changes"]["owner"] == [None, ann.id]
    with org.session(ann) as s:
        assert s.get("employee", made["id"])["name"] == "assigned"


def test_a_bad_owner_is_a_validation_fault_on_owner(
    org: RecordService, people: dict[str, Any], db: Database, admin: Actor
) -> None:
    gone = user(db, "gone@example.com", "rep")
    with db.write() as conn:
        conn.execute(
            platform.users.update().values(active=False).where(platform.users.c.id == gone.id)
        )
    boss = people["boss"]["id"]
    with org.session(admin) as s:
        for owner in ("not-an-id", "00000000-0000-0000-0000-000000000000", gone.id):
            with pytest.raises(ValidationFailed) as refused:
                s.create_many("employee", [{"name": "ok"}, {"name": "x", "owner": owner}])
            assert [f.field for f in refused.value.faults] == ["inputs.1.owner"]
        with pytest.raises(ValidationFailed) as refused:
            s.update("employee", boss, {"owner": None})
        assert [f.field for f in refused.value.faults] == ["owner"]
        assert s.get("employee", boss)["owner"] == admin.id
