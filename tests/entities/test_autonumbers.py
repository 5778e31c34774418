"""Auto-numbers are their sequence's alone; an import that keeps old numbers says so.

A number set by hand (``GRV-000404`` while the sequence stands at 403) once
made every later create fail for good: the next number collided, the create
rolled back, and with it the sequence. Now the record service refuses a
value for an auto-number on every path, ``keep_numbers=True`` keeps given
numbers and moves the sequence past them, and a database that already holds
such a number skips it rather than stalling.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from xrm.entities.records import RecordService, autonumber_pattern, autonumber_text
from xrm.entities.registry import Registry
from xrm.errors import ValidationFailed
from xrm.platform.identity import Actor

TICKET: dict[str, Any] = {
    "type": "object",
    "title": "Ticket",
    "x-xrm": {"name": "ticket", "plural": "tickets", "unique": [["number"]]},
    "properties": {
        "number": {"type": "string", "x-xrm-autonumber": "T-{seq:4}/{seq}"},
        "title": {"type": "string"},
    },
}


@pytest.fixture
def tickets(registry: Registry, service: RecordService) -> RecordService:
    registry.apply([TICKET])
    return service


def numbers(service: RecordService, admin: Actor) -> list[str]:
    with service.session(admin, write=False) as s:
        page = s.query("ticket", order_by=[{"created_at": "ASC"}, {"number": "ASC"}])
        return [r["number"] for r in page.items]


def test_the_pattern_reads_back_what_the_template_writes() -> None:
    pattern = autonumber_pattern("T-{seq:4}/{seq}")
    for n in (1, 42, 9999, 123456):
        match = pattern.match(autonumber_text("T-{seq:4}/{seq}", n))
        assert match is not None and int(match.group(1)) == n
    assert pattern.match("T-0001") is None and pattern.match("X-0001/1") is None


def test_a_number_given_on_create_or_update_is_refused(
    tickets: RecordService, admin: Actor
) -> None:
    with pytest.raises(ValidationFailed) as caught, tickets.session(admin) as s:
        s.create_many("ticket", [{"title": "a"}, {"title": "b", "number": "T-0002/2"}])
    assert [f.field for f in caught.value.faults] == ["inputs.1.number"]
    with tickets.session(admin) as s:
        made = s.create("ticket", {"title": "a", "number": None})  # null: the same as absent
        assert s.create("ticket", {"title": "b", "number": " "})["number"] == "T-0002/2"
    assert made["number"] == "T-0001/1"
    with pytest.raises(ValidationFailed) as caught, tickets.session(admin) as s:
        s.update("ticket", made["id"], {"number": "T-0009/9"})
    assert [f.field for f in caught.value.faults] == ["number"]
    assert numbers(tickets, admin) == ["T-0001/1", "T-0002/2"]


def test_kept_numbers_move_the_sequence_past_them(tickets: RecordService, admin: Actor) -> None:
    with tickets.session(admin) as s:
        s.create("ticket", {"title": "first"})
    with tickets.session(admin) as s:
        kept = s.create_many(
            "ticket",
            [
                {"title": "old", "number": "T-0404/404"},
                {"title": "older", "number": "T-0017/17"},
                {"title": "foreign", "number": "LEGACY-9"},  # not the template's: kept as is
                {"title": "new"},  # numbered past every number kept
            ],
            keep_numbers=True,
        )
    assert [r["number"] for r in kept] == ["T-0404/404", "T-0017/17", "LEGACY-9", "T-0405/405"]
    with tickets.session(admin) as s:
        assert s.create("ticket", {"title": "next"})["number"] == "T-0406/406"
    with tickets.session(admin) as s:
        s.create("ticket", {"title": "lower", "number": "T-0002/2"}, keep_numbers=True)
        assert s.create("ticket", {"title": "still"})["number"] == "T-0407/407"


def test_a_number_set_by_hand_before_is_passed_over(tickets: RecordService, admin: Actor) -> None:
    with tickets.session(admin) as s:
        made = s.create("ticket", {"title": "first"})
        table = s.catalog.tables["ticket"]
        # What a client could do before: take the sequence's next two numbers.
        for n in (2, 3):
            s.conn.execute(
                table.insert().values(
                    {k: made[k] for k in ("version", "created_at", "updated_at")}
                    | {"id": f"00000000-0000-7000-8000-00000000000{n}", "number": f"T-000{n}/{n}"}
                )
            )
    with tickets.session(admin) as s:
        assert [r["number"] for r in s.create_many("ticket", [{}, {}])] == ["T-0004/4", "T-0005/5"]
    with tickets.session(admin) as s:
        count = s.conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
    assert count == 5
