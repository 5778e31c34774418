"""Merging two records: references and links move to the kept record, the removed one is
deleted, both histories stay readable; one transaction, with update and delete rights."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.records import RecordService
from xrm.errors import Forbidden, NotFound, ValidationFailed
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_token, create_user, first_admin
from xrm.platform.settings import Settings

NO_DELETE_ROLE = {
    "role": "no_delete",
    "title": "Edits customers, deletes nothing",
    "entities": {"customer": {"read": "all", "create": "all", "update": "all"}},
}


def make(service: RecordService, actor: Actor, entity: str, **values: Any) -> dict[str, Any]:
    with service.session(actor) as session:
        return session.create(entity, values)


def test_merge_moves_references_and_links_and_keeps_both_histories(
    catalog_service: RecordService, admin: Actor
) -> None:
    service = catalog_service
    keep = make(service, admin, "customer", name="Hanbit Co.", phone="010-1234-5678")
    gone = make(service, admin, "customer", name="Hanbit Company", email="info@hanbit.example")
    other = make(service, admin, "customer", name="Supplier")
    contact = make(service, admin, "contact", full_name="Kim", customer=gone["id"])
    contract = make(service, admin, "contract", title="Support", customer=gone["id"])
    with service.session(admin) as session:
        session.link("customer_relations", keep["id"], other["id"], {"note": "kept"})
        session.link(
            "customer_relations",
            gone["id"],
            other["id"],
            {"note": "lost", "relation_kind": "supplier"},
        )
        session.link("customer_relations", gone["id"], keep["id"], {"note": "between"})
        merged = session.merge("customer", keep["id"], gone["id"], {"email": "info@hanbit.example"})
    assert (merged["name"], merged["email"], merged["phone"]) == (
        "Hanbit Co.",
        "info@hanbit.example",
        "+821012345678",
    )
    with service.session(admin, write=False) as session:
        assert session.get("customer", gone["id"]) is None
        assert session.get("contact", contact["id"])["customer"] == keep["id"]
        moved = session.get("contract", contract["id"])
        assert (moved["customer"], moved["version"]) == (keep["id"], 2)
        links = session.children("customer", "related_customers", [keep["id"]])
        history = session.history("customer", [keep["id"], gone["id"]])
        contract_history = session.history("contract", [contract["id"]])[contract["id"]]
    (page,) = links.values()
    assert [r["id"] for r in page.items] == [other["id"]]
    # The kept link's attributes win; the removed one fills its gaps.
    assert page.attributes[0] == {"note": "kept", "relation_kind": "supplier"}
    actions = [e["action"] for e in history[keep["id"]]]
    assert actions == ["create", "merge", "update"]
    (merge,) = [e for e in history[keep["id"]] if e["action"] == "merge"]
    assert merge["changes"] == {"mergedFrom": {"id": gone["id"], "name": "Hanbit Company"}}
    assert [e["action"] for e in history[gone["id"]]] == ["create", "delete"]
    assert contract_history[-1]["changes"] == {"customer": [gone["id"], keep["id"]]}


def test_merge_needs_update_on_keep_and_delete_on_remove(
    catalog_service: RecordService, admin: Actor, db: Database
) -> None:
    catalog_service.registry.apply([NO_DELETE_ROLE])
    with db.write() as conn:
        editor = create_user(conn, "editor@example.com", ("no_delete",))
    keep = make(catalog_service, admin, "customer", name="Keep")
    gone = make(catalog_service, admin, "customer", name="Gone")
    contact = make(catalog_service, admin, "contact", full_name="Lee", customer=gone["id"])
    with pytest.raises(Forbidden), catalog_service.session(editor) as session:
        session.merge("customer", keep["id"], gone["id"])
    with catalog_service.session(admin, write=False) as session:
        assert session.get("customer", gone["id"]) is not None
        assert session.get("contact", contact["id"])["customer"] == gone["id"]


def test_a_bad_value_or_pair_changes_nothing(catalog_service: RecordService, admin: Actor) -> None:
    keep = make(catalog_service, admin, "customer", name="Keep")
    gone = make(catalog_service, admin, "customer", name="Gone")
    contact = make(catalog_service, admin, "contact", full_name="Park", customer=gone["id"])
    with pytest.raises(ValidationFailed) as refused, catalog_service.session(admin) as session:
        session.merge("customer", keep["id"], gone["id"], {"phone": "not a phone"})
    assert [f.field for f in refused.value.faults] == ["values.phone"]
    with pytest.raises(ValidationFailed, match="itself"), catalog_service.session(admin) as s:
        s.merge("customer", keep["id"], keep["id"].upper())
    with pytest.raises(ValidationFailed, match="no field"), catalog_service.session(admin) as s:
        s.merge("customer", keep["id"], gone["id"], {"nope": 1})
    with pytest.raises(NotFound), catalog_service.session(admin) as s:
        s.merge("customer", keep["id"], "not-an-id")
    with catalog_service.session(admin, write=False) as session:
        assert session.get("contact", contact["id"])["customer"] == gone["id"]
        assert session.get("customer", gone["id"]) is not None


@pytest.fixture
def api(settings: Settings, catalog_service: RecordService, db: Database) -> Iterator[TestClient]:
    with db.write() as conn:
        token = create_token(conn, first_admin(conn), name="tests")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings), headers=headers) as client:
        yield client


def test_merge_records_over_graphql(
    api: TestClient, catalog_service: RecordService, admin: Actor
) -> None:
    partner = make(catalog_service, admin, "partner", name="Partner")
    keep = make(catalog_service, admin, "customer", name="Keep")
    gone = make(catalog_service, admin, "customer", name="Gone", partner=partner["id"])
    mutation = """mutation($k: ID!, $r: ID!, $v: JSON) {
      mergeRecords(entity: "customer", keep: $k, remove: $r, values: $v) }"""

    def send(values: Any) -> dict[str, Any]:
        variables = {"k": keep["id"], "r": gone["id"], "v": values}
        body: dict[str, Any] = api.post(
            "/graphql", json={"query": mutation, "variables": variables}
        ).json()
        return body

    bad = send({"email": "nope"})
    assert bad["errors"][0]["extensions"]["code"] == "VALIDATION_FAILED"
    assert [e["field"] for e in bad["errors"][0]["extensions"]["errors"]] == ["values.email"]
    assert send({"partnerId": partner["id"]}) == {"data": {"mergeRecords": keep["id"]}}
    with catalog_service.session(admin, write=False) as session:
        assert session.get("customer", keep["id"])["partner"] == partner["id"]
        assert session.get("customer", gone["id"]) is None


KINDS = st.sampled_from([None, "subsidiary", "supplier"])
GRAPHS = st.fixed_dictionaries(
    {
        "customers": st.integers(min_value=2, max_value=4),
        "contacts": st.lists(st.integers(min_value=0, max_value=3), max_size=4),
        "links": st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), KINDS), max_size=6),
    }
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(graph=GRAPHS)
def test_after_a_merge_nothing_points_at_the_removed_record(
    catalog_service: RecordService, admin: Actor, graph: dict[str, Any]
) -> None:
    """Model: the links are the union of both records' links (a link between the two
    disappears), every reference to the removed record names the kept one, and every audited
    record still has its history."""
    service = catalog_service
    n = graph["customers"]
    with service.session(admin) as session:
        customers = [session.create("customer", {"name": f"C{i}"})["id"] for i in range(n)]
        contacts = [
            session.create("contact", {"full_name": f"P{i}", "customer": customers[c % n]})["id"]
            for i, c in enumerate(graph["contacts"])
        ]
        pairs: dict[tuple[str, str], str | None] = {}
        for a, b, kind in graph["links"]:
            a_id, b_id = customers[a % n], customers[b % n]
            if a_id != b_id:
                session.link("customer_relations", a_id, b_id, {"relation_kind": kind})
                pairs[(a_id, b_id)] = kind
    keep, gone = customers[0], customers[1]

    def moved(x: str) -> str:
        return keep if x == gone else x

    expected = {(moved(a), moved(b)) for a, b in pairs if moved(a) != moved(b)}
    with service.session(admin) as session:
        session.merge("customer", keep, gone)
    with service.session(admin, write=False) as session:
        table = session.catalog.link_tables["customer_relations"]
        stored = {(str(r.from_id), str(r.to_id)) for r in session.conn.execute(table.select())}
        refs = [session.get("contact", c)["customer"] for c in contacts]
        histories = session.history("customer", customers)
        contact_histories = session.history("contact", contacts)
        versions = {c: session.get("contact", c)["version"] for c in contacts}
    assert stored == expected
    assert gone not in refs
    assert refs == [moved(customers[c % n]) for c in graph["contacts"]]
    assert histories[gone][0]["action"] == "create" and histories[gone][-1]["action"] == "delete"
    assert any(e["action"] == "merge" for e in histories[keep])
    for contact in contacts:
        kept = [e for e in contact_histories[contact] if e["action"] in ("create", "update")]
        assert len(kept) == versions[contact]
    with service.session(admin) as session:  # the next example starts from an empty graph
        for c in contacts:
            session.delete("contact", c)
        for c in customers:
            if c != gone:
                session.delete("customer", c)
