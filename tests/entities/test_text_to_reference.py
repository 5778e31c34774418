"""A text field holding record ids becomes a reference (issue 12: "an existing column that cannot
become a relation", directus/next#419).

The change is a conversion like any other: allowed when every stored value is
the id of a record of the referenced type, refused otherwise with the records
whose value points at none, and nothing moves until it is allowed.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from test_lossless_changes import kind, refused

from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.errors import DefinitionError
from xrm.platform.identity import Actor

PARTNER = kind("partner", {"name": {"type": "string"}})
TEXT = {"name": {"type": "string"}, "partner": {"type": "string"}}
REFERENCE = {
    "name": {"type": "string"},
    "partner": {"type": "string", "x-xrm-ref": {"entity": "partner", "inverse": "vendors"}},
}


def _setup(registry: Registry, service: RecordService, admin: Actor, values: list[Any]) -> Any:
    registry.apply([PARTNER, kind("vendor", TEXT)])
    with service.session(admin) as records:
        acme = records.create("partner", {"name": "Acme"})["id"]
        ids = [
            records.create("vendor", {"name": f"v{i}", "partner": v(acme) if callable(v) else v})[
                "id"
            ]
            for i, v in enumerate(values)
        ]
    return acme, ids


def test_text_holding_ids_becomes_a_reference_to_those_records(
    registry: Registry, service: RecordService, admin: Actor
) -> None:
    acme, (plain, shouted, empty) = _setup(
        registry, service, admin, [lambda a: a, lambda a: a.upper(), None]
    )
    planned = registry.define(kind("vendor", REFERENCE), dry_run=True)
    assert [s.action for s in planned.steps] == ["convert_column"] and not planned.blocked
    registry.define(kind("vendor", REFERENCE))
    with service.session(admin) as records:
        assert records.get("vendor", plain)["partner"] == acme
        assert records.get("vendor", shouted)["partner"] == acme  # ids are lowercase
        assert records.get("vendor", empty)["partner"] is None
        # A real reference now: vendors are found through their partner's own fields.
        linked = records.query("vendor", filter={"partner": {"name": {"eq": "Acme"}}})
        assert {r["id"] for r in linked.items} == {plain, shouted}


def test_a_value_that_points_at_no_record_blocks_the_change_naming_its_record(
    registry: Registry, service: RecordService, admin: Actor
) -> None:
    _acme, (fine, nowhere, not_an_id) = _setup(
        registry, service, admin, [lambda a: a, str(uuid.uuid4()), "Acme Ltd"]
    )
    error = refused(registry, kind("vendor", REFERENCE))
    (fault,) = error.faults
    assert fault.field == "properties.partner" and fault.rule == "ref"
    assert set(fault.records) == {nowhere, not_an_id} and fault.count == 2
    planned = registry.define(kind("vendor", REFERENCE), dry_run=True)
    assert planned.blocked and set(planned.blocking_records(0)) == {nowhere, not_an_id}
    with service.session(admin) as records:
        assert records.get("vendor", not_an_id)["partner"] == "Acme Ltd"  # nothing moved
        assert fine in {r["id"] for r in records.query("vendor").items}


def test_a_reference_still_does_not_become_text(
    registry: Registry, service: RecordService, admin: Actor
) -> None:
    registry.apply([PARTNER, kind("vendor", REFERENCE)])
    with pytest.raises(DefinitionError, match="reference cannot become a plain property"):
        registry.define(kind("vendor", TEXT))
