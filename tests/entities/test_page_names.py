"""A new type, relationship or workflow may not be named ``new`` (the admin UI's own pages).

``/admin/types/new``, ``/admin/workflows/new`` and ``.../relationships/new``
are pages; a definition named ``new`` could never be opened there. Every door
(the registry, GraphQL, the CLI) refuses a new one at its name's path; one
stored before the rule keeps loading and can still be changed.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.errors import DefinitionError
from xrm.platform.db import Database
from xrm.platform.identity import create_token, first_admin
from xrm.platform.settings import Settings
from xrm.schemas import naming

NEW_TYPE: dict[str, Any] = {
    "type": "object",
    "x-xrm": {"name": "new", "plural": "news"},
    "properties": {"title": {"type": "string"}},
}
NEW_RELATIONSHIP: dict[str, Any] = {
    "relationship": "new",
    "from": "customer",
    "to": "contact",
    "fromField": "new_contacts",
    "toField": "new_customers",
}
NEW_WORKFLOW: dict[str, Any] = {
    "name": "new",
    "entity": "grievance",
    "on": ["create"],
    "stage": "before",
    "actions": [{"type": "script", "code": "log('x')"}],
}
REFUSED = [(NEW_TYPE, "x-xrm.name"), (NEW_RELATIONSHIP, "relationship"), (NEW_WORKFLOW, "name")]


@pytest.fixture
def catalog_registry(registry: Registry) -> Registry:
    registry.apply(definitions())
    return registry


@pytest.mark.parametrize(("definition", "path"), REFUSED)
def test_a_new_definition_named_new_is_refused_at_its_name(
    catalog_registry: Registry, definition: dict[str, Any], path: str
) -> None:
    before = catalog_registry.current().version
    with pytest.raises(DefinitionError) as refused:
        catalog_registry.apply([definition])
    [fault] = refused.value.faults
    assert fault.field == path
    assert "'new' is reserved" in fault.message
    assert catalog_registry.current().version == before


def test_with_several_definitions_the_fault_names_the_definition(
    catalog_registry: Registry,
) -> None:
    other = copy.deepcopy(NEW_TYPE)
    other["x-xrm"] = {"name": "newsletter", "plural": "newsletters"}
    with pytest.raises(DefinitionError) as refused:
        catalog_registry.apply([other, NEW_TYPE])
    assert [f.field for f in refused.value.faults] == ["new.x-xrm.name"]
    assert "newsletter" not in catalog_registry.current().types


def test_names_that_only_contain_new_are_fine(catalog_registry: Registry) -> None:
    other = copy.deepcopy(NEW_TYPE)
    other["x-xrm"] = {"name": "new_lead", "plural": "new_leads"}
    catalog_registry.apply([other])
    assert "new_lead" in catalog_registry.current().types


def test_one_stored_before_the_rule_still_loads_and_changes(
    catalog_registry: Registry, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as before_the_rule:
        before_the_rule.setattr(naming, "PAGE_NAMES", frozenset())
        catalog_registry.apply([NEW_TYPE, NEW_RELATIONSHIP, NEW_WORKFLOW])
    fresh = Registry(db, settings).current()
    assert "new" in fresh.types and "new" in fresh.relationships and "new" in fresh.workflows
    changed = copy.deepcopy(NEW_TYPE)
    changed["properties"]["body"] = {"type": "string"}
    plan = catalog_registry.apply([changed])
    assert [s.action for s in plan.steps] == ["add_column"]
    assert "body" in catalog_registry.current().types["new"].properties


@pytest.fixture
def admin_api(settings: Settings, catalog_registry: Registry, db: Database) -> Iterator[Any]:
    with db.write() as conn:
        token = create_token(conn, first_admin(conn))
    with TestClient(create_app(settings)) as client:

        def call(mutation: str, definition: dict[str, Any]) -> dict[str, Any]:
            query = f"mutation($d: JSON!) {{ {mutation}(definition: $d) {{ name }} }}"
            response = client.post(
                "/graphql",
                json={"query": query, "variables": {"d": definition}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        yield call


@pytest.mark.parametrize(
    ("mutation", "definition", "path"),
    [
        ("defineEntityType", NEW_TYPE, "x-xrm.name"),
        ("defineRelationship", NEW_RELATIONSHIP, "relationship"),
        ("defineWorkflow", NEW_WORKFLOW, "name"),
    ],
)
def test_graphql_refuses_a_new_definition_named_new(
    admin_api: Any, mutation: str, definition: dict[str, Any], path: str
) -> None:
    body = admin_api(mutation, definition)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_DEFINITION"
    [fault] = error["extensions"]["errors"]
    assert fault["field"] == path
    assert "reserved" in fault["message"]


def test_the_cli_refuses_a_type_named_new(test_database: Any, tmp_path: Path) -> None:
    from test_cli import run_xrm, write_definition

    path = write_definition(tmp_path / "defs", json.loads(json.dumps(NEW_TYPE)))
    result = run_xrm(test_database, "apply", str(path))
    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert "x-xrm.name" in result.err and "'new' is reserved" in result.err
