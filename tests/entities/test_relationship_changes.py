"""Changing and removing a many-to-many relationship through the registry.

Labels and attributes change through ``apply`` like a type's fields (a removed
attribute is retired with its values, defining it again brings them back);
``remove_relationship`` drops the link table with every link, only when the
loss is confirmed, never while a workflow uses the relationship, audited.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import sqlalchemy as sa

from xrm.entities.catalog import definitions, demo_workflows
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.errors import ConfirmationRequired, Conflict, DefinitionError, NotFound
from xrm.platform import tables as platform
from xrm.platform.db import Database
from xrm.platform.identity import Actor
from xrm.platform.settings import Settings


@pytest.fixture
def catalog(registry: Registry) -> Registry:
    registry.apply(definitions())
    return registry


def contacts_of(registry: Registry) -> dict[str, Any]:
    return copy.deepcopy(dict(registry.current().relationships["contract_contacts"].definition))


def linked(service: RecordService, admin: Actor, links: int) -> tuple[str, list[str]]:
    """A contract linked to ``links`` contacts with the role 'billing'."""
    with service.session(admin, "api") as records:
        customer = records.create("customer", {"name": "Acme"})["id"]
        contract = records.create("contract", {"title": "Support", "customer": customer})["id"]
        contacts = []
        for n in range(links):
            contact = records.create("contact", {"full_name": f"P{n}", "customer": customer})["id"]
            records.link("contract_contacts", contract, contact, {"role": "billing"})
            contacts.append(contact)
    return contract, contacts


def tables(db: Database) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_labels_and_a_new_attribute_change_in_place_keeping_the_links(
    catalog: Registry, service: RecordService, admin: Actor
) -> None:
    linked(service, admin, 2)
    changed = contacts_of(catalog)
    changed["label"] = {"en": "People on the contract", "ko": "계약 담당자"}
    changed["properties"]["since"] = {"type": "string", "format": "date"}
    plan = catalog.apply([changed], expected_version=1)
    assert [s.action for s in plan.steps] == ["add_column"]
    rel = catalog.current().relationships["contract_contacts"]
    assert rel.version == 2 and rel.definition["label"]["en"] == "People on the contract"
    assert rel.definition["fromLabel"]["en"] == "Contacts"  # kept
    with pytest.raises(Conflict):
        catalog.apply([changed], expected_version=1)


def test_a_retired_attribute_keeps_its_values_and_comes_back_with_them(
    catalog: Registry, service: RecordService, admin: Actor, db: Database
) -> None:
    linked(service, admin, 2)
    without = contacts_of(catalog)
    role = without["properties"].pop("role")
    plan = catalog.apply([without])
    assert [s.action for s in plan.steps] == ["retire_column"]
    rel = catalog.current().relationships["contract_contacts"]
    assert "role" not in rel.properties and "role" in rel.retired
    back = copy.deepcopy(without)
    back["properties"]["role"] = role
    plan = catalog.apply([back])
    assert [s.action for s in plan.steps] == ["restore_column"]
    with db.read() as conn:
        roles = conn.execute(sa.text("SELECT role FROM r_contract_contacts")).scalars().all()
    assert roles == ["billing", "billing"]


def test_removing_needs_confirmation_that_says_how_many_links_go(
    catalog: Registry, service: RecordService, admin: Actor, db: Database
) -> None:
    linked(service, admin, 3)
    version = catalog.current().version
    with pytest.raises(ConfirmationRequired) as asked:
        catalog.remove_relationship("contract_contacts", actor=admin)
    assert asked.value.extensions["links"] == 3
    assert "3 links" in asked.value.message
    assert "r_contract_contacts" in tables(db)
    assert catalog.current().version == version
    with pytest.raises(ConfirmationRequired) as changed:  # the admin was shown another count
        catalog.remove_relationship("contract_contacts", confirm_data_loss=True, expected_links=2)
    assert changed.value.extensions["links"] == 3
    assert "r_contract_contacts" in tables(db)


def test_removing_drops_the_link_table_and_the_definition_audited(
    catalog: Registry, service: RecordService, admin: Actor, db: Database, settings: Settings
) -> None:
    contract, _contacts = linked(service, admin, 3)
    rel_version = catalog.current().relationships["contract_contacts"].version
    dropped = catalog.remove_relationship(
        "contract_contacts",
        actor=admin,
        channel="admin",
        confirm_data_loss=True,
        expected_version=rel_version,
        expected_links=3,
    )
    assert dropped == 3
    assert "r_contract_contacts" not in tables(db)
    fresh = Registry(db, settings).current()  # another process sees it gone
    assert "contract_contacts" not in fresh.relationships
    with db.read() as conn:
        row = conn.execute(
            sa.select(platform.audit.c.action, platform.audit.c.channel, platform.audit.c.changes)
            .where(platform.audit.c.entity == "contract_contacts")
            .order_by(platform.audit.c.at.desc())
        ).first()
    assert row is not None and row.action == "purge" and row.channel == "admin"
    assert row.changes["links"] == 3
    with service.session(admin, "api") as records:  # the records themselves stay
        assert records.get("contract", contract)["title"] == "Support"
    # The name is free again: defining it anew makes an empty link table.
    catalog.apply([d for d in definitions() if d.get("relationship") == "contract_contacts"])
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM r_contract_contacts")).scalar() == 0


def test_a_relationship_a_workflow_uses_is_not_removed_naming_the_workflow(
    catalog: Registry, db: Database
) -> None:
    catalog.apply(demo_workflows())  # vip_asset_service_level: a link trigger on contract_assets
    with pytest.raises(DefinitionError) as refused:
        catalog.remove_relationship("contract_assets", confirm_data_loss=True)
    [fault] = refused.value.faults
    assert fault.field == "relationship" and "'vip_asset_service_level'" in fault.message
    assert "r_contract_assets" in tables(db)
    assert "contract_assets" in catalog.current().relationships


def test_unknown_and_stale_removals_change_nothing(catalog: Registry, db: Database) -> None:
    for name in ("no_such", "contract", "contract_contacts\x00", ""):
        with pytest.raises(NotFound):
            catalog.remove_relationship(name, confirm_data_loss=True)
    with pytest.raises(Conflict):
        catalog.remove_relationship("contract_contacts", confirm_data_loss=True, expected_version=7)
    assert "r_contract_contacts" in tables(db)
