"""Values through the GraphQL API: every input gets a clear answer, never an internal error.

A value is either stored exactly and read back equal, or refused with
``VALIDATION_FAILED`` naming the field (or the filter path): date-times whose
UTC time falls outside years 1 to 9999, decimals beyond 28 digits or spelled
NaN/Infinity, NUL characters in text, lists and JSON, phone numbers no region
allocates. Database text never reaches the client. Aggregates of decimals
are exact and spelled as decimals; auto-numbers are the sequence's alone;
linking again without attributes keeps them. On SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from test_graphql import Api

from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, create_user, first_admin
from xrm.platform.settings import Settings

PROBE: dict[str, Any] = {
    "type": "object",
    "title": "Value probe",
    "x-xrm": {"name": "vprobe", "plural": "vprobes", "unique": [["code"], ["number"]]},
    "properties": {
        "code": {"type": "string"},
        "label": {"type": "string"},
        "phone": {"type": "string", "format": "phone"},
        "amount": {"type": "string", "format": "decimal"},
        "big": {"type": "integer", "format": "int64"},
        "qty": {"type": "integer"},
        "ratio": {"type": "number"},
        "at": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": "object"},
        "number": {"type": "string", "x-xrm-autonumber": "VP-{seq:4}"},
        "parent": {"type": "string", "x-xrm-ref": {"entity": "vprobe", "inverse": "children"}},
    },
}
LINKS: dict[str, Any] = {
    "relationship": "vprobe_links",
    "from": "vprobe",
    "to": "vprobe",
    "fromField": "linked",
    "toField": "linked_from",
    "properties": {"weight": {"type": "integer"}, "note": {"type": "string"}},
}
OWN: dict[str, Any] = {
    "role": "own_prober",
    "entities": {"vprobe": {"read": "own", "create": "all", "update": "own"}},
}

CREATE = "mutation($input: VprobeInput!) { createVprobe(input: $input) { id } }"
EARLY = "0001-01-01T00:00:00+14:00"  # before year 1 in UTC
LATE = "9999-12-31T23:59:59-12:00"  # after year 9999 in UTC


@pytest.fixture
def client(settings: Settings, registry: Registry) -> Iterator[TestClient]:
    registry.apply([*definitions(), PROBE, LINKS, OWN])
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient, db: Database) -> Api:
    with db.write() as conn:
        return Api(client, create_token(conn, first_admin(conn)))


def refused(api: Api, query: str, variables: dict[str, Any] | None = None) -> list[str]:
    """The fields a ``VALIDATION_FAILED`` answer names (and that it is one)."""
    error = api.error(query, variables)
    assert error["extensions"]["code"] == "VALIDATION_FAILED", error
    return [e["field"] for e in error["extensions"]["errors"]]


# --- 1. date-times outside what can be stored --------------------------------------------------


def test_a_date_time_outside_the_utc_range_is_refused_on_every_path(api: Api) -> None:
    for instant in (EARLY, LATE):
        _refused_everywhere(api, instant)


def _refused_everywhere(api: Api, instant: str) -> None:
    parent = api(CREATE, {"input": {"code": f"p{instant}"}})["createVprobe"]["id"]
    api(CREATE, {"input": {"code": f"c{instant}", "parentId": parent}})
    assert refused(api, CREATE, {"input": {"code": "x", "at": instant}}) == ["at"]
    update = "mutation($id: ID!, $at: DateTime) { updateVprobe(id: $id, input: {at: $at}) { id } }"
    assert refused(api, update, {"id": parent, "at": instant}) == ["at"]
    in_filter = "query($t: DateTime) { vprobes(filter: {at: {gt: $t}}) { totalCount } }"
    assert refused(api, in_filter, {"t": instant}) == ["filter.at.gt"]
    system = "query($t: DateTime) { vprobes(filter: {createdAt: {lt: $t}}) { nodes { id } } }"
    assert refused(api, system, {"t": instant}) == ["filter.createdAt.lt"]
    nested = """query($t: DateTime!) { vprobes { nodes { code
                  children(filter: {createdAt: {between: [$t, $t]}}) { totalCount } } } }"""
    assert refused(api, nested, {"t": instant}) == ["filter.createdAt.between"]
    aggregate = "query($t: DateTime) { vprobesAggregate(filter: {at: {lte: $t}}) { count } }"
    assert refused(api, aggregate, {"t": instant}) == ["filter.at.lte"]
    inline = f'{{ vprobes(filter: {{or: [{{at: {{eq: "{instant}"}}}}]}}) {{ totalCount }} }}'
    assert refused(api, inline) == ["filter.or.0.at.eq"]


def test_date_times_at_the_ends_of_the_range_are_kept(api: Api) -> None:
    query = "query($id: ID!) { vprobe(id: $id) { at } }"
    for sent, stored in [
        ("0001-01-01T00:00:00-14:00", "0001-01-01T14:00:00+00:00"),
        ("9999-12-31T23:59:59+12:00", "9999-12-31T11:59:59+00:00"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00"),
    ]:
        made = api(CREATE, {"input": {"code": sent, "at": sent}})["createVprobe"]["id"]
        assert api(query, {"id": made})["vprobe"]["at"] == stored
        found = api(
            "query($t: DateTime) { vprobes(filter: {at: {eq: $t}}) { totalCount } }", {"t": sent}
        )
        assert found["vprobes"]["totalCount"] == 1


# --- 2. empty batches, and database text ---------------------------------------------------------


def test_an_empty_batch_creates_nothing_and_answers_an_empty_list(api: Api) -> None:
    data = api("mutation { createVprobes(inputs: []) { id } createPartners(inputs: []) { id } }")
    assert data == {"createVprobes": [], "createPartners": []}
    assert api("{ vprobes { totalCount } partners { totalCount } }") == {
        "vprobes": {"totalCount": 0},
        "partners": {"totalCount": 0},
    }


SECRET = "refused by a trigger xrm never saw"


def _refuse_inserts(db: Database, table: str) -> None:
    """A constraint xrm does not know of: the database refuses every insert into ``table``."""
    with db.write() as conn:
        if db.dialect == "sqlite":
            conn.exec_driver_sql(
                f"CREATE TRIGGER refuse BEFORE INSERT ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{SECRET}'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{SECRET}' USING ERRCODE = 'check_violation'; END $$"
            )
            conn.exec_driver_sql(
                f"CREATE TRIGGER refuse BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )


def test_a_constraint_nobody_foresaw_is_logged_with_the_request_id_and_answered_with_a_code(
    api: Api, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    _refuse_inserts(db, "e_vprobe")
    with caplog.at_level(logging.ERROR):
        body = api.raw(CREATE, {"input": {"code": "a"}})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert SECRET not in str(body) and "constraint" not in str(body).lower()
    request_id = error["extensions"]["requestId"]
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)
    assert SECRET in caplog.text  # the database's words stay in the log


def test_a_unique_value_taken_by_a_concurrent_writer_is_duplicate_without_database_text(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xrm.entities.records import RecordSession

    api(CREATE, {"input": {"code": "same"}})
    # The writer that wins the race commits between our check and our insert: skip the check.
    monkeypatch.setattr(RecordSession, "_check_unique", lambda *args, **kwargs: None)
    error = api.error(CREATE, {"input": {"code": "same"}})
    assert error["extensions"]["code"] == "DUPLICATE"
    text = str(error).lower()
    assert "constraint" not in text and "e_vprobe" not in text and "uq_" not in text, error
    assert api("{ vprobes { totalCount } }")["vprobes"]["totalCount"] == 1


# --- 3 and 17. decimals: 28 digits, exact aggregates ------------------------------------------


REFUSED_AMOUNTS: list[Any] = [
    "1e309",
    "1E+28",
    "12345678901234567890.123456789",
    "0.00000000000000000000000000001",
    *("NaN", "-nan", "sNaN", "Infinity", "-Infinity", "inf"),
    1e300,
]


def test_a_decimal_beyond_28_digits_or_not_finite_is_refused(api: Api) -> None:
    in_filter = "query($a: Decimal) { vprobesAggregate(filter: {amount: {gt: $a}}) { count } }"
    for amount in REFUSED_AMOUNTS:
        assert refused(api, CREATE, {"input": {"code": "x", "amount": amount}}) == ["amount"]
        assert refused(api, in_filter, {"a": amount}) == ["filter.amount.gt"]
    assert api("{ vprobes { totalCount } }")["vprobes"]["totalCount"] == 0
    most = "9999999999999999999999999999"  # 28 digits: the most a decimal holds
    api(CREATE, {"input": {"code": "y", "amount": most}})
    [group] = api("{ vprobesAggregate { sum max } }")["vprobesAggregate"]
    assert group["sum"]["amount"] == group["max"]["amount"] == most


def _amounts(api: Api, *amounts: str) -> list[dict[str, Any]]:
    inputs = [{"code": f"c{i}", "amount": a} for i, a in enumerate(amounts)]
    api("mutation($i: [VprobeInput!]!) { createVprobes(inputs: $i) { id } }", {"i": inputs})
    found: list[dict[str, Any]] = api("{ vprobesAggregate { count sum avg min max } }")[
        "vprobesAggregate"
    ]
    return found


def test_aggregates_survive_a_huge_decimal_stored_before_the_limit(api: Api, db: Database) -> None:
    """ "1e309" used to be accepted; from then on every aggregate of the type failed."""
    _amounts(api, "0.5")
    with db.write() as conn:  # as an older xrm stored it: SQLite text, PostgreSQL NUMERIC
        conn.exec_driver_sql(
            "INSERT INTO e_vprobe (id, version, created_at, updated_at, code, amount) VALUES "
            "('00000000-0000-7000-8000-000000000001', 1, '2024-01-01', '2024-01-01', 'old', "
            + ("'1E+309')" if db.dialect == "sqlite" else "1e309)")
        )
    [group] = api("{ vprobesAggregate { count sum avg max } }")["vprobesAggregate"]
    assert group["count"] == 2 and group["max"]["amount"] == "1" + "0" * 309
    assert group["sum"]["amount"] == "1" + "0" * 309 + ".5"
    assert group["avg"]["amount"] == "5" + "0" * 308 + ".25"


def test_decimal_aggregates_are_exact_and_spelled_as_decimals(api: Api) -> None:
    [group] = _amounts(api, "0.1", "0.2")
    assert (group["sum"]["amount"], group["avg"]["amount"]) == ("0.3", "0.15")
    assert (group["min"]["amount"], group["max"]["amount"]) == ("0.1", "0.2")


def test_decimal_extremes_keep_every_digit(api: Api) -> None:
    [group] = _amounts(api, "12345678901234567890.123456", "-0.0000000001", "1.50", "1.5")
    assert group["max"]["amount"] == "12345678901234567890.123456"
    assert group["min"]["amount"] == "-0.0000000001"
    assert group["sum"]["amount"] == "12345678901234567893.1234559999"
    # The exact quotient, rounded half to even at 28 places (CONTRACT §4).
    assert group["avg"]["amount"] == "3086419725308641973.280863999975"


def test_a_decimal_reads_back_in_plain_notation_as_written(api: Api) -> None:
    for i, (sent, shown) in enumerate(
        [
            ("0.0000000001", "0.0000000001"),
            ("1E-10", "0.0000000001"),
            ("1.50", "1.50"),
            ("1E+2", "100"),
            ("-0.00", "0.00"),
            ("0E-8", "0.00000000"),
            (1e-7, "0.0000001"),
        ]
    ):
        made = api(CREATE, {"input": {"code": str(i), "amount": sent}})["createVprobe"]["id"]
        query = """query($id: ID!) { vprobe(id: $id) { amount }
                     vprobes(filter: {id: {eq: $id}}) { nodes { amount } } }"""
        data = api(query, {"id": made})
        assert data["vprobe"]["amount"] == shown, sent
        assert data["vprobes"]["nodes"] == [{"amount": shown}], sent


def test_int64_aggregates_are_exact_past_64_bits(api: Api) -> None:
    create = "mutation($i: [VprobeInput!]!) { createVprobes(inputs: $i) { id } }"
    top, bottom = 2**63 - 1, -(2**63)
    api(create, {"i": [{"code": "a", "big": str(top)}, {"code": "b", "big": str(bottom)}]})
    [both] = api("{ vprobesAggregate { sum avg min max } }")["vprobesAggregate"]
    assert (both["sum"]["big"], both["avg"]["big"]) == (-1, -0.5)
    assert (both["min"]["big"], both["max"]["big"]) == (bottom, top)
    api(create, {"i": [{"code": "c", "big": str(top)}, {"code": "d", "big": top}]})
    [four] = api("{ vprobesAggregate { sum avg } }")["vprobesAggregate"]
    assert four["sum"]["big"] == 2 * top - 1 == 2**64 - 3  # past 64 bits, in any order
    assert four["avg"]["big"] == (2**64 - 3) / 4


def test_float_sums_past_the_largest_float_answer_without_error(api: Api) -> None:
    create = "mutation($i: [VprobeInput!]!) { createVprobes(inputs: $i) { id } }"
    api(create, {"i": [{"code": "a", "ratio": 1.5}, {"code": "b", "ratio": -0.5}]})
    [small] = api("{ vprobesAggregate { sum avg } }")["vprobesAggregate"]
    assert (small["sum"]["ratio"], small["avg"]["ratio"]) == (1.0, 0.5)
    api(create, {"i": [{"code": c, "ratio": 1.7e308} for c in "cd"]})
    [group] = api("{ vprobesAggregate { count sum max } }")["vprobesAggregate"]
    # PostgreSQL's float8 sum used to fail here; past the largest float JSON has no number.
    assert group["count"] == 4 and group["max"]["ratio"] == 1.7e308
    assert group["sum"]["ratio"] is None


# --- 12. a duplicate names only a record the caller may read -----------------------------------


def test_a_duplicate_names_the_holder_only_to_whom_may_read_it(
    client: TestClient, db: Database, api: Api
) -> None:
    with db.write() as conn:
        ann = Api(client, create_token(conn, create_user(conn, "ann@example.com", ("own_prober",))))
        bob = Api(client, create_token(conn, create_user(conn, "bob@example.com", ("own_prober",))))
    held = ann(CREATE, {"input": {"code": "A-1"}})["createVprobe"]["id"]
    error = bob.error(CREATE, {"input": {"code": "A-1"}})
    assert error["extensions"]["code"] == "DUPLICATE"
    assert held not in str(error) and "record" not in error["extensions"]
    assert "already taken" in error["message"]
    assert [e["field"] for e in error["extensions"]["errors"]] == ["code"]
    for reader in (ann, api):  # the holder's owner, and an admin, may read it
        seen = reader.error(CREATE, {"input": {"code": "A-1"}})
        assert held in seen["message"] and seen["extensions"]["record"] == held


# --- 14. NUL characters --------------------------------------------------------------------------


def test_nul_is_refused_in_text_lists_json_and_filters(api: Api) -> None:
    api(CREATE, {"input": {"code": "plain", "label": "a"}})
    for field, value in [
        ("label", "a\u0000b"),
        ("label", "\u0000"),
        ("code", " \u0000 "),
        ("tags", ["ok", "no\u0000"]),
        ("extra", {"k\u0000": 1}),
        ("extra", {"k": ["x", {"deep": "\u0000"}]}),
        ("amount", "1\u00002"),
        ("phone", "010\u00001234\u00005678"),
    ]:
        assert refused(api, CREATE, {"input": {"code": "n", field: value}}) == [field], value
    for op in ("contains", "startsWith", "eq", "ne", "gt"):
        query = f"query($v: String) {{ vprobes(filter: {{label: {{{op}: $v}}}}) {{ totalCount }} }}"
        assert refused(api, query, {"v": "\u0000"}) == [f"filter.label.{op}"]
    query = "query($v: [String!]) { vprobes(filter: {label: {in: $v}}) { totalCount } }"
    assert refused(api, query, {"v": ["a", "b\u0000"]}) == ["filter.label.in"]
    assert api("{ vprobes { totalCount } }")["vprobes"]["totalCount"] == 1


def test_deep_or_not_finite_json_is_refused(api: Api) -> None:
    deep: Any = "bottom"
    for _ in range(200):
        deep = {"d": deep}
    assert refused(api, CREATE, {"input": {"code": "j", "extra": deep}}) == ["extra"]
    # Python's JSON parser reads NaN and Infinity, which no JSON column stores.
    for token in ("NaN", "Infinity", "-Infinity"):
        body = '{"query": "mutation($e: JSON, $a: Decimal) { createVprobe(input: {code: \\"n\\", '
        body += 'extra: $e, amount: $a}) { id } }", "variables": {"e": {"x": [%s]}, "a": %s}}'
        response = api.client.post(
            "/graphql",
            content=body % (token, token),
            headers={**api.headers, "Content-Type": "application/json"},
        )
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "VALIDATION_FAILED", error
        assert {e["field"] for e in error["extensions"]["errors"]} == {"extra", "amount"}
    fine = {"a": [1, 2.5, None, True, "x"], "b": {"c": {}}, "big": 10**30}
    made = api(
        'mutation($e: JSON) { createVprobe(input: {code: "k", extra: $e}) { extra } }', {"e": fine}
    )
    assert made["createVprobe"]["extra"] == fine


# --- 20. auto-numbers are the sequence's alone ---------------------------------------------------


def test_auto_numbers_cannot_be_set_through_any_input(api: Api) -> None:
    fields = api(
        """{ i: __type(name: "VprobeInput") { inputFields { name } }
             p: __type(name: "VprobePatch") { inputFields { name } }
             g: __type(name: "GrievanceInput") { inputFields { name } } }"""
    )
    for kind in ("i", "p", "g"):
        assert "number" not in {f["name"] for f in fields[kind]["inputFields"]}, kind
    error = api.error('mutation { createVprobe(input: {code: "a", number: "VP-0002"}) { id } }')
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    made = [api(CREATE, {"input": {"code": c}})["createVprobe"]["id"] for c in "xy"]
    numbers = api("{ vprobes(orderBy: [{number: ASC}]) { nodes { id number } } }")["vprobes"]
    assert numbers["nodes"] == [
        {"id": made[0], "number": "VP-0001"},
        {"id": made[1], "number": "VP-0002"},
    ]


# --- 22. phone numbers ---------------------------------------------------------------------------


def test_a_phone_number_no_region_allocates_is_refused(api: Api) -> None:
    for phone in ("12345", "+82 12345", "010-5970-1234", "+1 555 555 5555"):
        assert refused(api, CREATE, {"input": {"code": "p", "phone": phone}}) == ["phone"], phone
    made = api('mutation { createVprobe(input: {code: "q", phone: "02-555-1234"}) { phone } }')
    assert made["createVprobe"]["phone"] == "+8225551234"


# --- 23. linking again ---------------------------------------------------------------------------


def test_linking_again_keeps_attributes_unless_new_ones_are_given(api: Api) -> None:
    a, b = (api(CREATE, {"input": {"code": c}})["createVprobe"]["id"] for c in "ab")
    link = """mutation($f: ID!, $t: ID!, $a: JSON) {
                link(relationship: "vprobe_links", fromId: $f, toId: $t, attributes: $a) }"""
    read = """query($id: ID!) { vprobe(id: $id) { linked { edges { node { id } attributes } } } }"""

    def attributes() -> Any:
        edges = api(read, {"id": a})["vprobe"]["linked"]["edges"]
        assert [e["node"]["id"] for e in edges] == [b]
        return edges[0]["attributes"]

    assert api(link, {"f": a, "t": b, "a": {"weight": 3, "note": "first"}})["link"] is True
    assert attributes() == {"weight": 3, "note": "first"}
    assert api(link, {"f": a, "t": b})["link"] is True  # again, without attributes
    assert attributes() == {"weight": 3, "note": "first"}
    api(link, {"f": a, "t": b, "a": {"weight": 5}})  # given: they replace the old ones
    assert attributes() == {"weight": 5, "note": None}
    api(link, {"f": a, "t": b, "a": {}})
    assert attributes() == {"weight": None, "note": None}
