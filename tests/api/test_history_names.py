"""``history`` speaks the API's names, and says where each change came from (issue 10, point 27).

CONTRACT section 4: ``AuditEntry { at actor action changes version channel requestId }``,
``changes`` keyed by API field names (``serialNo``, not ``serial_no``; a
reference as ``partnerId``, the owner as ``ownerId``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from xrm.app import create_app
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import Actor, create_token, create_user, first_admin
from xrm.platform.settings import Settings

SUPPLIER = {
    "type": "object",
    "title": "Supplier",
    "x-xrm": {"name": "supplier", "plural": "suppliers"},
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
}
MACHINE = {
    "type": "object",
    "title": "Machine",
    "x-xrm": {"name": "machine", "plural": "machines"},
    "properties": {
        "serial_no": {"type": "string"},
        "last_service_date": {"type": "string", "format": "date"},
        "made_by": {"type": "string", "x-xrm-ref": {"entity": "supplier", "inverse": "machines"}},
    },
}
HISTORY = """query($id: ID!) { machine(id: $id) {
  history { action actor version changes channel requestId } } }"""


@pytest.fixture
def client(settings: Settings, registry: Registry) -> Iterator[TestClient]:
    registry.apply([SUPPLIER, MACHINE])
    with TestClient(create_app(settings)) as c:
        yield c


def gql(client: TestClient, token: str, query: str, variables: dict[str, Any], rid: str) -> Any:
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": rid},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def test_history_names_fields_as_the_api_does_and_carries_channel_and_request(
    client: TestClient, db: Database, service: RecordService
) -> None:
    with db.write() as conn:
        admin = first_admin(conn)
        token = create_token(conn, admin)
        other = create_user(conn, "kim@example.com", ("editor",))
    with service.session(admin, channel="import") as s:
        acme = s.create("supplier", {"name": "Acme"})["id"]
    made = gql(
        client,
        token,
        """mutation($s: ID!) { createMachine(input: {serialNo: "SN-1", madeById: $s,
             lastServiceDate: "2025-01-02"}) { id } }""",
        {"s": acme},
        "req-create-1",
    )
    machine = made["createMachine"]["id"]
    gql(
        client,
        token,
        """mutation($id: ID!, $o: ID!) { updateMachine(id: $id,
             input: {serialNo: "SN-2", ownerId: $o}) { version } }""",
        {"id": machine, "o": other.id},
        "req-update-2",
    )
    history = gql(client, token, HISTORY, {"id": machine}, "req-read")["machine"]["history"]
    assert history == [
        {
            "action": "create",
            "actor": "admin@localhost",
            "version": 1,
            "changes": {
                "serialNo": [None, "SN-1"],
                "madeById": [None, acme],
                "lastServiceDate": [None, "2025-01-02"],
            },
            "channel": "api",
            "requestId": "req-create-1",
        },
        {
            "action": "update",
            "actor": "admin@localhost",
            "version": 2,
            "changes": {"serialNo": ["SN-1", "SN-2"], "ownerId": [admin.id, other.id]},
            "channel": "api",
            "requestId": "req-update-2",
        },
    ]


def test_other_channels_and_an_erasure_are_named_the_same_way(
    client: TestClient, db: Database, service: RecordService, admin: Actor
) -> None:
    with db.write() as conn:
        token = create_token(conn, admin)
    with service.session(admin, channel="admin", request_id=None) as s:
        machine = s.create("machine", {"serial_no": "SN-9"})["id"]
    [entry] = gql(client, token, HISTORY, {"id": machine}, "r")["machine"]["history"]
    assert (entry["channel"], entry["requestId"], entry["changes"]) == (
        "admin",
        None,
        {"serialNo": [None, "SN-9"]},
    )
    with service.session(admin, channel="api") as s:
        s.erase("machine", machine)
        erased = s.history("machine", [machine])[machine]
    from xrm.api.names import history_entry

    shown = history_entry(service.registry.current(), "machine", erased[-1])
    assert shown["action"] == "erase" and shown["changes"]["fields"] == ["serialNo"]
