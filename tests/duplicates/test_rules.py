"""Duplicate rules (``x-xrm.duplicates``): checked when defined, applied on every create and
update through the record service, reported to the API as a warning or refused as DUPLICATE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rules import LEAD_ROLE, SAME_EMAIL, SIMILAR_NAME, lead
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.errors import DefinitionError, Duplicate
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_token, create_user, first_admin
from xrm.platform.settings import Settings


@pytest.fixture
def leads(service: RecordService, registry: Registry) -> RecordService:
    registry.apply([lead(SAME_EMAIL, SIMILAR_NAME), LEAD_ROLE])
    return service


def create(service: RecordService, actor: Actor, **values: Any) -> tuple[dict[str, Any], list]:
    with service.session(actor) as session:
        made = session.create("lead", values)
        return made, session.duplicate_warnings


@pytest.mark.parametrize(
    ("rule", "path", "words"),
    [
        (
            {"name": "r", "match": [{"field": "mail"}], "action": "block"},
            ".match.0.field",
            "not a property",
        ),
        ({"name": "r", "match": [{"field": "tags"}], "action": "block"}, ".match.0.field", "array"),
        (
            {"name": "r", "match": [{"field": "visits", "fuzzy": 0.9}], "action": "warn"},
            ".match.0.fuzzy",
            "not text",
        ),
        (
            {"name": "r", "match": [{"field": "email", "prefix": 2}], "action": "warn"},
            ".match.0.prefix",
            "fuzzy",
        ),
        (
            {"name": "r", "match": [{"field": "email"}, {"field": "email"}], "action": "warn"},
            ".match.1.field",
            "twice",
        ),
        ({"name": "r", "match": [{"field": "email"}], "action": "merge"}, ".action", ""),
        (
            {"name": "r", "match": [{"field": "name", "fuzzy": 1.5}], "action": "warn"},
            ".match.0.fuzzy",
            "",
        ),
        ({"name": "r", "match": [], "action": "warn"}, ".match", ""),
    ],
)
def test_a_bad_rule_is_refused_naming_its_field(
    registry: Registry, rule: dict[str, Any], path: str, words: str
) -> None:
    with pytest.raises(DefinitionError) as refused:
        registry.apply([lead(rule)])
    fields = [f.field for f in refused.value.faults]
    assert f"x-xrm.duplicates.0{path}" in fields, fields
    assert words in str(refused.value)


def test_two_rules_may_not_share_a_name(registry: Registry) -> None:
    with pytest.raises(DefinitionError, match="another rule is named"):
        registry.apply([lead(SAME_EMAIL, {**SIMILAR_NAME, "name": "same email"})])


def test_block_refuses_a_normalised_equal_value_naming_rule_and_record(
    leads: RecordService, admin: Actor
) -> None:
    first, _ = create(leads, admin, name="Kim Minsu", email="lead7@example.com")
    with pytest.raises(Duplicate) as refused:
        create(leads, admin, name="Someone else", email="  LEAD7@Example.COM ")
    error = refused.value
    assert error.extensions["rule"] == "same email"
    assert error.extensions["record"] == first["id"]
    assert "Kim Minsu" in error.message
    assert [e["field"] for e in error.extensions["errors"]] == ["email"]
    with leads.session(admin, write=False) as session:
        assert session.query("lead").total_count == 1


def test_block_names_no_record_the_actor_may_not_read(
    leads: RecordService, admin: Actor, db: Database
) -> None:
    create(leads, admin, name="Secret lead", email="hidden@example.com")
    with db.write() as conn:
        rep = create_user(conn, "rep@example.com", ("lead_rep",))
    with pytest.raises(Duplicate) as refused:
        create(leads, rep, name="Mine", email="hidden@example.com")
    assert "record" not in refused.value.extensions
    assert "Secret lead" not in refused.value.message


def test_warn_lets_the_write_through_and_reports_the_match(
    leads: RecordService, admin: Actor
) -> None:
    first, warnings = create(leads, admin, name="김민수", phone="010-1234-5678")
    assert warnings == []
    _, warnings = create(leads, admin, name="김민수 ", phone="+82 10 1234 5678")
    assert [(w["rule"], w["record"], w["name"], w["score"]) for w in warnings] == [
        ("similar name", first["id"], "김민수", 1.0)
    ]
    # Similar but not alike enough, or another phone: no match.
    _, far = create(leads, admin, name="박지훈", phone="010-1234-5678")
    _, other_phone = create(leads, admin, name="김민수", phone="010-9999-8888")
    assert far == [] and other_phone == []


def test_a_batch_is_compared_with_itself(leads: RecordService, admin: Actor) -> None:
    rows = [
        {"name": "A", "email": "twin@example.com"},
        {"name": "B", "email": "TWIN@example.com"},
    ]
    with pytest.raises(Duplicate) as refused, leads.session(admin) as session:
        session.create_many("lead", rows)
    assert refused.value.extensions["errors"][0]["field"] == "inputs.1.email"
    with leads.session(admin, write=False) as session:
        assert session.query("lead").total_count == 0


def test_an_update_is_checked_but_never_against_itself(leads: RecordService, admin: Actor) -> None:
    first, _ = create(leads, admin, name="First", email="first@example.com")
    second, _ = create(leads, admin, name="Second", email="second@example.com")
    with leads.session(admin) as session:
        session.update("lead", first["id"], {"email": "FIRST@example.com", "visits": 2})
    with pytest.raises(Duplicate), leads.session(admin) as session:
        session.update("lead", second["id"], {"email": "first@example.com"})


def test_find_duplicates_normalises_raw_values_and_writes_nothing(
    leads: RecordService, admin: Actor
) -> None:
    first, _ = create(leads, admin, name="Lee Jiwoo", email="jiwoo@example.com", phone="0212345678")
    with leads.session(admin) as session:
        found = session.find_duplicates(
            "lead", {"name": "Lee  Jiwoo", "email": " JIWOO@example.com", "phone": "02-1234-5678"}
        )
        assert [(m.rule, m.action, m.record) for m in found] == [
            ("same email", "block", first["id"]),
            ("similar name", "warn", first["id"]),
        ]
        assert session.find_duplicates("lead", {"name": "Nobody", "phone": "not a phone"}) == []
        assert session.duplicate_warnings == []


def test_a_fuzzy_only_rule_blocks_on_a_prefix(
    registry: Registry, service: RecordService, admin: Actor
) -> None:
    registry.apply(
        [
            lead(
                {
                    "name": "name",
                    "match": [{"field": "name", "fuzzy": 0.8, "prefix": 3}],
                    "action": "warn",
                }
            )
        ]
    )
    first, _ = create(service, admin, name="Samsung Electronics")
    _, warned = create(service, admin, name="Samsung Electronic")
    _, other_prefix = create(service, admin, name="SAMsung Electronics")
    assert [w["record"] for w in warned] == [first["id"]]
    assert other_prefix == []  # the prefix is compared as stored: blocking is exact


@pytest.fixture
def api(settings: Settings, leads: RecordService, db: Database) -> Iterator[TestClient]:
    with db.write() as conn:
        token = create_token(conn, first_admin(conn), name="tests")
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_graphql_returns_warnings_as_an_extension_and_block_as_duplicate(api: TestClient) -> None:
    mutation = "mutation($i: LeadInput!) { createLead(input: $i) { id name } }"

    def send(**values: Any) -> dict[str, Any]:
        body: dict[str, Any] = api.post(
            "/graphql", json={"query": mutation, "variables": {"i": values}}
        ).json()
        return body

    first = send(name="Choi Yuna", phone="010-2222-3333", email="yuna@example.com")
    assert "extensions" not in first or "warnings" not in first["extensions"]
    second = send(name="Choi Yuna", phone="01022223333")
    assert second["data"]["createLead"]["name"] == "Choi Yuna"
    (warning,) = second["extensions"]["warnings"]
    assert warning["code"] == "DUPLICATE" and warning["rule"] == "similar name"
    assert warning["record"] == first["data"]["createLead"]["id"]
    third = send(name="Other", email="YUNA@example.com")
    assert third["data"] is None
    (error,) = third["errors"]
    assert error["extensions"]["code"] == "DUPLICATE"
    assert error["extensions"]["rule"] == "same email"
    assert "Choi Yuna" in error["message"]


EMAILS = st.sampled_from(
    ["a@example.com", " A@Example.com", "b@example.com", "B@EXAMPLE.COM ", None]
)
NAMES = st.sampled_from(["Kim", "Kim ", "Kimm", "Park", "박서준", "박서준!"])
PHONES = st.sampled_from(["010-1234-5678", "+82 10 1234 5678", "02-123-4567", None])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.fixed_dictionaries({"name": NAMES, "email": EMAILS, "phone": PHONES}), max_size=6
    )
)
def test_stored_records_never_break_a_block_rule(
    leads: RecordService, admin: Actor, rows: list[dict[str, Any]]
) -> None:
    """Model: a write is refused exactly when its normalised e-mail is already stored; the
    stored records never share one; find_duplicates agrees with the model."""
    with leads.session(admin) as session:
        session.conn.execute(leads.registry.current(session.conn).tables["lead"].delete())
    model: set[str] = set()
    for row in rows:
        values = {k: v for k, v in row.items() if v is not None}
        key = values["email"].strip().lower() if "email" in values else None
        with leads.session(admin, write=False) as session:
            blocks = [m for m in session.find_duplicates("lead", values) if m.action == "block"]
        assert bool(blocks) == (key in model)
        try:
            create(leads, admin, **values)
        except Duplicate:
            assert key in model
        else:
            assert key is None or key not in model
            if key is not None:
                model.add(key)
    with leads.session(admin, write=False) as session:
        emails = [r["email"] for r in session.query("lead", first=100).items if r["email"]]
    assert sorted(emails) == sorted(model)
