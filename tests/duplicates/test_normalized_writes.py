"""Normalisation holds on every door (issue 13, point 2): the GraphQL API, the admin forms and
workflow scripts all store ``  LEAD7@Example.COM `` as ``lead7@example.com`` and both Korean
spellings of a mobile number as one E.164 key, and unique sets compare those stored forms."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.errors import Duplicate, ValidationFailed
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_token, create_user, first_admin
from xrm.platform.settings import SandboxSettings, Settings
from xrm.workflows.engine import WorkflowEngine
from xrm.workflows.pool import SandboxPool

RAW_EMAIL = "  LEAD7@Example.COM "
EMAIL = "lead7@example.com"
E164 = "+821012345678"
PASSWORD = "correct horse battery"


def stored(service: RecordService, admin: Actor) -> list[tuple[str, str]]:
    with service.session(admin, write=False) as session:
        return sorted((c["email"], c["phone"]) for c in session.query("customer").items)


@pytest.fixture
def app(settings: Settings, registry: Registry, db: Database) -> Iterator[TestClient]:
    registry.apply(definitions())
    with db.write() as conn:
        create_user(conn, "ann@example.com", ("admin",), password=PASSWORD)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def test_the_graphql_api_stores_normalised_values_and_refuses_the_second_spelling(
    app: TestClient, db: Database, catalog_service: RecordService, admin: Actor
) -> None:
    with db.write() as conn:
        token = create_token(conn, first_admin(conn), name="tests")
    headers = {"Authorization": f"Bearer {token}"}
    query = """mutation($input: CustomerInput!) {
      createCustomer(input: $input) { email phone } }"""

    def create(**values: Any) -> dict[str, Any]:
        answer = app.post(
            "/graphql", json={"query": query, "variables": {"input": values}}, headers=headers
        )
        body: dict[str, Any] = answer.json()
        return body

    made = create(name="Lead", email=RAW_EMAIL, phone="010-1234-5678")
    assert made["data"]["createCustomer"] == {"email": EMAIL, "phone": E164}
    again = create(name="Lead again", email="lead7@EXAMPLE.com", phone="+82 10 1234 5678")
    assert again["errors"][0]["extensions"]["code"] == "DUPLICATE"
    bad = create(name="Bad", phone="010-12")
    (error,) = bad["errors"]
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert [e["field"] for e in error["extensions"]["errors"]] == ["phone"]
    assert stored(catalog_service, admin) == [(EMAIL, E164)]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_the_admin_form_stores_normalised_values(
    app: TestClient, catalog_service: RecordService, admin: Actor
) -> None:
    page = app.get("/admin/login")
    form = {"email": "ann@example.com", "password": PASSWORD, "csrf": csrf_of(page.text)}
    assert app.post("/admin/login", data=form).status_code == 303
    new = app.get("/admin/records/customer/new")
    values = {"name": "Lead", "email": RAW_EMAIL, "phone": "+82 10 1234 5678"}
    saved = app.post("/admin/records/customer/new", data={"csrf": csrf_of(new.text), **values})
    assert saved.status_code == 303
    assert stored(catalog_service, admin) == [(EMAIL, E164)]
    bad = app.post(
        "/admin/records/customer/new",
        data={"csrf": csrf_of(new.text), "name": "Bad", "phone": "not a number"},
    )
    assert bad.status_code == 400
    phone_field = re.search(r"data-field=\"phone\">(.*?)<\/div>", bad.text, re.S)
    assert phone_field and "is not a valid phone number" in phone_field.group(1)
    assert stored(catalog_service, admin) == [(EMAIL, E164)]


@pytest.fixture
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(SandboxSettings(workers=1)) as one:
        yield one


def test_a_workflow_script_stores_normalised_values(
    catalog_service: RecordService, admin: Actor, pool: SandboxPool
) -> None:
    WorkflowEngine(catalog_service, pool)
    code = (
        "create('customer', {'name': 'From ' + record['name'], "
        f"'email': {RAW_EMAIL!r}, 'phone': '010-1234-5678'}})"
    )
    catalog_service.registry.apply(
        [
            {
                "name": "customer_from_partner",
                "entity": "partner",
                "on": ["create"],
                "stage": "after",
                "actions": [{"type": "script", "code": code}],
            }
        ]
    )
    with catalog_service.session(admin, "api") as session:
        session.create("partner", {"name": "Acme"})
    assert stored(catalog_service, admin) == [(EMAIL, E164)]


def test_unique_sets_compare_normalised_values(
    catalog_service: RecordService, admin: Actor
) -> None:
    with catalog_service.session(admin) as session:
        session.create("customer", {"name": "Lead", "email": EMAIL})
    for spelling in (RAW_EMAIL, "Lead7@example.com", "lead7@EXAMPLE.COM\t"):
        with pytest.raises(Duplicate), catalog_service.session(admin) as session:
            session.create("customer", {"name": "Again", "email": spelling})
    with pytest.raises(ValidationFailed) as refused, catalog_service.session(admin) as session:
        session.create("customer", {"name": "Bad", "phone": "12345"})
    assert [f.field for f in refused.value.faults] == ["phone"]


def test_the_default_region_is_a_setting(
    registry: Registry,
    db: Database,
    settings: Settings,
    admin: Actor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry.apply(definitions())
    us = dataclasses.replace(settings, phone_region="US")
    service = RecordService(db, Registry(db, us), us)
    with service.session(admin) as session:
        made = session.create("customer", {"name": "Us", "phone": "(201) 555-0123"})
    assert made["phone"] == "+12015550123"
    monkeypatch.setenv("XRM_PHONE_REGION", "gb")
    assert Settings.from_env().phone_region == "GB"
    monkeypatch.setenv("XRM_PHONE_REGION", "Korea")
    with pytest.raises(ValueError, match="XRM_PHONE_REGION"):
        Settings.from_env()
