"""A plain query is one statement that builds the JSON: the same answers, on both databases.

Every query here runs three ways over the demo data plus records made to
probe the edges of each value's spelling (unicode, nulls, tiny and long
decimals, big integers, floats, dates, date-times with and without
microseconds, JSON objects, link attributes): as one statement (the
default, asked three times: the third is answered by the remembered plan,
xrm/api/express.py), through the per-level fast path, and through standard
execution. The responses must be identical, key order included; for the queries
the one statement supports the test also checks that it answered, with one
statement for all the data, and for the others that it stood aside.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from plain_queries import SHARED_PLAIN, post
from starlette.testclient import TestClient

from xrm.api import express, json_plan
from xrm.api import schema as schema_module
from xrm.app import create_app
from xrm.entities.catalog import definitions
from xrm.entities.demo import load_demo
from xrm.entities.json_query import Unsupported
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token, create_user, first_admin
from xrm.platform.settings import Settings
from xrm.schemas.naming import camel

GADGET: dict[str, Any] = {
    "type": "object",
    "title": "Gadget",
    "x-xrm": {"name": "gadget", "plural": "gadgets"},
    "properties": {
        "label": {"type": "string"},
        "count": {"type": "integer"},
        "big": {"type": "integer", "format": "int64"},
        "ratio": {"type": "number"},
        "price": {"type": "string", "format": "decimal"},
        "made_on": {"type": "string", "format": "date"},
        "seen_at": {"type": "string", "format": "date-time"},
        "ok": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": "object"},
        "customer": {
            "type": "string",
            "x-xrm-ref": {"entity": "customer", "inverse": "gadgets", "onDelete": "cascade"},
        },
        "holder": {"type": "string", "x-xrm-ref": {"entity": "user", "onDelete": "set_null"}},
    },
    "required": ["label"],
}

GADGET_LINKS: dict[str, Any] = {
    "relationship": "gadget_links",
    "from": "gadget",
    "to": "customer",
    "fromField": "fans",
    "toField": "favourites",
    "properties": {
        "weight": {"type": "number"},
        "amount": {"type": "string", "format": "decimal"},
        "big": {"type": "integer", "format": "int64"},
        "at": {"type": "string", "format": "date-time"},
        "on": {"type": "string", "format": "date"},
        "meta": {"type": "object"},
        "note": {"type": "string"},
    },
}

ROLE = {
    "role": "limited",
    "entities": {
        "customer": {"read": "own", "fields": {"revenue": "hidden"}},
        "contact": {"read": "all"},
        "gadget": {"read": "own"},
        "task": {"read": "all"},
    },
}

# (label, count, big, ratio, price, made_on, seen_at, ok, tags, extra)
GADGETS: list[tuple[Any, ...]] = [
    (
        'Ünïcødé ☃ "quoted" \\ back',
        1,
        9007199254740993,
        3.0,
        "0.00000001",
        "0999-01-02",
        "2024-03-01T10:20:30.123400+00:00",
        True,
        ["a", "ü", ""],
        {"k": [1, 2.5, None, "x"]},
    ),
    (
        "tiny negative",
        -2147483648,
        -5,
        -0.0,
        "-0.0000001234500",
        "2024-02-29",
        "2024-03-01T10:20:30+09:00",
        False,
        [],
        {},
    ),
    ("zero with scale", 0, 0, 1e16, "0E-8", None, None, None, None, None),
    (
        "plain",
        None,
        None,
        0.1,
        "1.50",
        "2024-12-31",
        "1999-12-31T23:59:59.000001Z",
        True,
        ["x"],
        {"nested": {"a": "b"}, "n": 1.0},
    ),
    (
        "long",
        42,
        -9223372036854775808,
        1.2345678901234567e-05,
        "123456789012345678901234.5678",
        None,
        "2024-06-01T00:00:00.5Z",
        None,
        None,
        None,
    ),
    ("small exact", 7, 9223372036854775807, 123456.75, "0.000001", None, None, None, None, None),
    ("zero small scale", 8, None, None, "0.000000", None, None, None, None, None),
    ("negative", 9, None, -2.5e-300, "-42.000", None, None, None, None, None),
    ("없음", None, None, None, None, None, None, None, None, None),
]

GADGET_FIELDS = """label count big ratio price madeOn seenAt ok tags extra customerId holderId
                   holder { email name } customer { name } version createdAt updatedAt id"""

PLAIN: list[tuple[str, dict[str, Any]]] = [
    (
        """{ customers(orderBy: [{name: ASC}]) { nodes { id name
             contacts { nodes { fullName tasks { nodes { title } } } } } } }""",
        {},
    ),
    (
        """query($first: Int) {
          customers(first: $first, orderBy: [{tier: DESC}, {name: ASC}]) {
            __typename totalCount pageInfo { hasNextPage __typename }
            nodes { __typename id name email phone tier revenue since tags employeeCount website
                    createdAt updatedAt version partnerId partner { name commissionRate since }
                    owner { id email name __typename } createdBy { email } updatedBy { email }
                    contacts(first: 2, orderBy: [{fullName: ASC}]) { totalCount
                      pageInfo { hasNextPage } nodes { fullName isPrimary phone } } } } }""",
        {"first": 7},
    ),
    (
        """{ contracts(first: 6, orderBy: [{number: ASC}]) { edges {
             node { number title value startDate autoRenew customer { name tier }
               contacts { totalCount edges { attributes node { fullName email } } }
               assets(first: 1) { pageInfo { hasNextPage } edges { __typename attributes
                 node { name value purchaseDate } } } } } } }""",
        {},
    ),
    (
        """{ customers(filter: {contacts: {some: {isPrimary: {eq: true}}},
                               tier: {ne: "gold"}, not: {email: {isNull: true}}},
                       orderBy: [{revenue: DESC}, {since: ASC}], first: 20) {
             totalCount nodes { name revenue since
               contacts(filter: {fullName: {contains: "a"}}, first: 1) {
                 totalCount pageInfo { hasNextPage } nodes { fullName } } } } }""",
        {},
    ),
    (
        """{ customers(filter: {partner: {kind: {in: ["reseller", "distributor"]}}}) {
             totalCount nodes { name partner { name kind } } }
             none: contacts(first: 0) { totalCount pageInfo { hasNextPage } nodes { id } }
             one: contacts(first: 1, orderBy: [{email: DESC}]) {
               pageInfo { hasNextPage } nodes { email } } }""",
        {},
    ),
    (
        "{ gadgets(orderBy: [{label: ASC}], first: 50) { totalCount nodes { "
        + GADGET_FIELDS
        + " fans { edges { attributes node { name } } } } } }",
        {},
    ),
    (
        """{ gadgets(orderBy: [{price: DESC}]) { nodes { label price } }
             byRatio: gadgets(orderBy: [{ratio: ASC}], filter: {ratio: {isNull: false}}) {
               nodes { label ratio } }
             big: gadgets(filter: {big: {gt: "0"}}, orderBy: [{big: DESC}]) {
               nodes { big label } } }""",
        {},
    ),
    (
        """{ customers(filter: {name: {startsWith: "Ü"}}) { nodes { name
               favourites { totalCount edges { attributes node { label } }
                            nodes { label __typename } } } } }""",
        {},
    ),
]
PLAIN += SHARED_PLAIN

PLAIN += [
    (
        """{ customers(first: 2) { edges { attributes node { name
               contacts(first: 1) { edges { attributes __typename node { fullName } } } } } } }""",
        {},
    ),
    (
        """{ customers(filter: {contacts: {none: {isPrimary: {eq: true}}}},
                       orderBy: [{since: DESC}, {employeeCount: ASC}]) {
             nodes { name since employeeCount } } }""",
        {},
    ),
    (
        """{ contacts(filter: {or: [{email: {contains: "_"}}, {fullName: {contains: "%"}},
                                   {not: {phone: {isNull: false}}}]}, orderBy: [{email: DESC}]) {
             totalCount nodes { email fullName phone } } }""",
        {},
    ),
    (
        """{ assets(first: 5, orderBy: [{value: DESC}]) { nodes { name value
               contracts(orderBy: [{title: DESC}], first: 1, filter: {status: {ne: "draft"}}) {
                 totalCount pageInfo { hasNextPage } edges { attributes node { title } } } } } }""",
        {},
    ),
    (
        """query($since: DateTime, $low: Decimal!) {
             grievances(filter: {raisedAt: {gte: $since}}, first: 5) { nodes { number raisedAt } }
             gadgets(filter: {price: {between: [$low, "100"]}}) { nodes { label price } } }""",
        {"since": "2024-01-01T00:00:00+09:00", "low": "0.0000001"},
    ),
    ("{ customers(first: 2) { pageInfo { hasNextPage } } }", {}),
    ("{ customers { totalCount } contacts(first: 1) { totalCount pageInfo { hasNextPage } } }", {}),
    # Past json_build_object's 100 arguments: the object is built in parts, keys in order.
    (
        "{ customers(first: 3, orderBy: [{name: ASC}]) { nodes { "
        + " ".join(f"f{i}: {('name', 'id', 'since', 'tags')[i % 4]}" for i in range(95))
        + " } } }",
        {},
    ),
]

FALLBACK: list[tuple[str, dict[str, Any]]] = [
    ("{ customers(first: 2) { pageInfo { endCursor } nodes { name } } }", {}),
    ("{ customers(first: 2) { edges { cursor node { name } } } }", {}),
    ("{ customers(first: 3) { nodes { name history { action actor version } } } }", {}),
    ('{ customers(first: 1, after: "forged") { totalCount } }', {}),
    ("{ customers(first: -1) { totalCount } }", {}),
    ('{ customers(filter: {since: {gt: "not a date"}}) { totalCount } }', {}),
    ('{ customersAggregate(groupBy: ["tier"]) { group count } }', {}),
]


@pytest.fixture
def setup(
    settings: Settings, registry: Registry, service: RecordService, db: Database
) -> Iterator[tuple[TestClient, dict[str, str], dict[str, Any]]]:
    registry.apply([*definitions(), GADGET, GADGET_LINKS, ROLE])
    with db.write() as conn:
        admin = first_admin(conn)
        limited = create_user(conn, "lim@example.com", ("limited",), name="Lim Ïted")
        tokens = {"admin": create_token(conn, admin), "limited": create_token(conn, limited)}
    load_demo(service, admin)
    made: dict[str, Any] = {}
    with service.session(admin) as s:
        mine = s.create(
            "customer", {"name": "Ünïcode Ltd", "revenue": "0.0000001", "owner": limited.id}
        )
        other = s.create("customer", {"name": "Ünseen Corp", "revenue": "10.50"})
        s.create("contact", {"full_name": "Owned Person", "customer": mine["id"]})
        s.create("contact", {"full_name": "Unowned Person", "customer": other["id"]})
        fields = ("label", "count", "big", "ratio", "price", "made_on", "seen_at", "ok", "tags")
        gadgets = []
        for index, row in enumerate(GADGETS):
            values = {k: v for k, v in zip((*fields, "extra"), row, strict=True) if v is not None}
            values["customer"] = (mine, other)[index % 2]["id"]
            if index % 3 == 0:
                values["holder"] = limited.id
            if index % 2 == 0:
                values["owner"] = limited.id
            gadgets.append(s.create("gadget", values))
        s.link(
            "gadget_links",
            gadgets[0]["id"],
            mine["id"],
            {
                "weight": 2.0,
                "amount": "0.00000050",
                "big": 9007199254740993,
                "at": "2024-01-01T00:00:00.000100Z",
                "on": "2024-01-01",
                "meta": {"a": [1]},
                "note": "ü",
            },
        )
        s.link("gadget_links", gadgets[1]["id"], mine["id"], {})
        s.link("gadget_links", gadgets[2]["id"], other["id"], {"amount": "-1E-9", "weight": 1e-7})
        made.update(mine=mine["id"], other=other["id"], gadget=gadgets[0]["id"])
    with TestClient(create_app(settings)) as client:
        yield client, tokens, made


class Answers:
    """Runs a query one statement, per level (fast path), and by standard execution."""

    def __init__(self, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.client = client
        self.monkeypatch = monkeypatch
        self.answered = 0
        self.statements: list[str] = []
        self.real = json_plan.answer
        self.express_run = express.run
        self.express_on = True
        self.by_plan = 0
        monkeypatch.setattr(express, "run", self._express_counting)

    def _counting(self, *args: Any, **kwargs: Any) -> Any:
        data = self.real(*args, **kwargs)
        self.answered += 1
        return data

    def _express_counting(self, *args: Any) -> Any:
        if not self.express_on:
            return None
        found = self.express_run(*args)
        self.answered += found is not None
        self.by_plan += found is not None
        return found

    def _refusing(self, *args: Any, **kwargs: Any) -> Any:
        raise Unsupported("off for the test")

    def _record(self, *args: Any) -> None:
        self.statements.append(args[2])

    def all_three(self, token: str, query: str, variables: dict[str, Any]) -> Any:
        schema = self.client.app.state.graphql.schemas  # type: ignore[attr-defined]
        engine = self.client.app.state.db.engine  # type: ignore[attr-defined]
        self.answered = 0
        self.statements = []
        self.monkeypatch.setattr(json_plan, "answer", self._counting)
        sa.event.listen(engine, "before_cursor_execute", self._record)
        try:
            one = post(self.client, token, query, variables)
        finally:
            sa.event.remove(engine, "before_cursor_execute", self._record)
        # The same request twice more: planned the second time, answered by the plan the third.
        answered, planned = self.answered, self.by_plan
        for _ in range(2):
            again = post(self.client, token, query, variables)
            assert json.dumps(again, ensure_ascii=False) == json.dumps(one, ensure_ascii=False)
        assert self.answered == 3 * answered, query
        assert self.by_plan - planned >= answered, query
        self.answered = answered
        self.express_on = False
        self.monkeypatch.setattr(json_plan, "answer", self._refusing)
        per_level = post(self.client, token, query, variables)
        self.monkeypatch.setattr(json_plan, "answer", self.real)
        schema._schema.fast_path = False
        try:
            standard = post(self.client, token, query, variables)
        finally:
            schema._schema.fast_path = True
            self.express_on = True
        dumped = json.dumps(one, ensure_ascii=False)
        assert dumped == json.dumps(per_level, ensure_ascii=False), query
        assert dumped == json.dumps(standard, ensure_ascii=False), query
        return one

    def data_statements(self) -> list[str]:
        """The statements that read records (entity and link tables)."""
        return [s for s in self.statements if re.search(r"\b[er]_[a-z_]+\b", s)]


@pytest.fixture
def answers(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> Answers:
    return Answers(setup[0], monkeypatch)


@pytest.mark.parametrize("who", ["admin", "limited"])
def test_one_statement_answers_the_same(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]], answers: Answers, who: str
) -> None:
    # Every query in turn over one set of data: making the data costs more than all of them.
    for query, variables in PLAIN:
        body = answers.all_three(setup[1][who], query, variables)
        if who == "limited" and "errors" in body:
            # Hidden fields and unreadable types: standard execution reports FORBIDDEN.
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", query
            assert answers.answered == 0, query
            continue
        assert "errors" not in body, (query, body)
        assert answers.answered == 1, f"one statement did not answer:\n{query}"
        statements = answers.data_statements()
        assert len(statements) == 1, (query, statements)
        assert re.search(r"json_(build_)?object", statements[0]), query


def test_values_are_spelled_exactly(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]], answers: Answers
) -> None:
    query = "{ gadgets(orderBy: [{label: ASC}]) { nodes { label big ratio price seenAt } } }"
    body = answers.all_three(setup[1]["admin"], query, {})
    assert answers.answered == 1
    rows = {n["label"]: n for n in body["data"]["gadgets"]["nodes"]}
    # Plain notation as written, never an exponent (0.0000000001, not 1E-10).
    assert rows["tiny negative"]["price"] == "-0.0000001234500"
    assert rows["zero with scale"]["price"] == "0.00000000"
    assert rows["zero small scale"]["price"] == "0.000000"
    assert rows["small exact"]["price"] == "0.000001"
    assert rows["negative"]["price"] == "-42.000"
    assert rows["long"]["big"] == "-9223372036854775808"
    assert rows["plain"]["seenAt"] == "1999-12-31T23:59:59.000001+00:00"
    assert rows["tiny negative"]["seenAt"] == "2024-03-01T01:20:30+00:00"
    assert rows["zero with scale"]["ratio"] == 1e16
    assert isinstance(rows[GADGETS[0][0]]["ratio"], float)


@pytest.mark.parametrize("who", ["admin", "limited"])
def test_get_by_id(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]], answers: Answers, who: str
) -> None:
    _client, tokens, made = setup
    query = """query($a: ID!, $b: ID!, $c: ID!, $d: ID!, $e: ID!) {
        a: customer(id: $a) { name contacts { nodes { fullName } } gadgets { totalCount } }
        b: customer(id: $b) { name }
        c: gadget(id: $c) { label fans { edges { attributes node { name } } } }
        d: customer(id: $d) { name }
        e: customer(id: $e) { name } }"""
    variables = {
        "a": made["mine"],
        "b": made["other"],
        "c": made["gadget"],
        "d": "not-an-id",
        "e": made["mine"].upper(),  # any spelling of a UUID finds the record
    }
    body = answers.all_three(tokens[who], query, variables)
    assert answers.answered == 1
    assert body["data"]["a"]["name"] == "Ünïcode Ltd"
    assert (body["data"]["b"] is None) == (who == "limited")
    assert body["data"]["d"] is None
    assert body["data"]["e"] == {"name": "Ünïcode Ltd"}


def test_scopes_apply_at_every_level(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]], answers: Answers
) -> None:
    query = """{ contacts(orderBy: [{fullName: ASC}], first: 500) { totalCount nodes { fullName
                   customer { name gadgets { totalCount nodes { label holder { email } } }
                              favourites { edges { attributes node { label } } } } } } }"""
    body = answers.all_three(setup[1]["limited"], query, {})
    assert answers.answered == 1
    nodes = body["data"]["contacts"]["nodes"]
    owned = [n for n in nodes if n["customer"] is not None]
    assert [n["fullName"] for n in owned] == ["Owned Person"]
    gadgets = owned[0]["customer"]["gadgets"]
    assert gadgets["totalCount"] == len(gadgets["nodes"]) > 0


def test_everything_else_stands_aside(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]], answers: Answers
) -> None:
    for query, variables in FALLBACK:
        answers.all_three(setup[1]["admin"], query, variables)
        assert answers.answered == 0, query


def test_hidden_fields_stand_aside(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]], answers: Answers
) -> None:
    limited = setup[1]["limited"]
    for query in (
        "{ customers { nodes { name revenue } } }",
        "{ contacts(first: 5) { nodes { fullName customer { name revenue } } } }",
        "{ customers(orderBy: [{revenue: ASC}]) { nodes { name } } }",
        "{ customers(filter: {revenue: {gt: 1}}) { nodes { name } } }",
    ):
        body = answers.all_three(limited, query, {})
        assert answers.answered == 0, query
        # FORBIDDEN wherever a hidden value would show (none where no such record is read).
        assert {e["extensions"]["code"] for e in body.get("errors", ())} <= {"FORBIDDEN"}


def test_a_null_in_a_required_field_stands_aside(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]], answers: Answers, db: Database
) -> None:
    with db.write() as conn:  # a row from before the field was required
        conn.execute(sa.text("UPDATE e_gadget SET label = NULL WHERE label = 'plain'"))
    query = "{ gadgets(first: 30, orderBy: [{count: ASC}]) { nodes { count label } } }"
    body = answers.all_three(setup[1]["admin"], query, {})
    assert body["errors"]
    assert answers.answered == 0
    # Unless the null is not selected.
    answers.all_three(setup[1]["admin"], "{ gadgets { nodes { count } } }", {})
    assert answers.answered == 1


def test_a_null_in_a_required_field_of_any_kind_stands_aside(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]],
    answers: Answers,
    db: Database,
    registry: Registry,
) -> None:
    # Text columns are guarded by coalesce, every other kind by a CASE: both must flag.
    with db.write() as conn:
        conn.execute(
            sa.text(
                "UPDATE e_gadget SET count = coalesce(count, 0), "
                "made_on = coalesce(made_on, '2000-01-01'), "
                "tags = CASE WHEN coalesce(CAST(tags AS TEXT), 'null') = 'null' "
                "THEN '[]' ELSE tags END"
            )
        )
    registry.apply([{**GADGET, "required": ["label", "count", "made_on", "tags"]}])
    for column, kind, good in (
        ("count", "integer", "0"),
        ("made_on", "date", "'2000-01-01'"),
        ("tags", "JSON", "'[]'"),
    ):
        with db.write() as conn:
            conn.execute(sa.text(f"UPDATE e_gadget SET {column} = NULL WHERE label = 'plain'"))
        query = "{ gadgets(first: 30) { nodes { label count madeOn tags } } }"
        body = answers.all_three(setup[1]["admin"], query, {})
        assert [e["path"][-1] for e in body["errors"]] == [camel(column)], kind
        assert answers.answered == 0, kind
        with db.write() as conn:
            conn.execute(sa.text(f"UPDATE e_gadget SET {column} = {good} WHERE label = 'plain'"))


def store(db: Database, column: str, value: Any) -> None:
    """Write a value into the 'plain' gadget as is, past the record service's checks."""
    with db.write() as conn:
        conn.execute(
            sa.text(f"UPDATE e_gadget SET {column} = :value WHERE label = 'plain'"),
            {"value": value},
        )


def test_stored_json_is_answered_as_the_ordinary_path_reads_it(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]], answers: Answers, db: Database
) -> None:
    # What was stored, as stored: a key twice, an integer past 64 bits, odd spacing.
    store(db, "extra", '{"a": 1, "a":   2, "big": 123456789012345678901234567890}')
    query = "{ gadgets(first: 30, orderBy: [{label: ASC}]) { nodes { label extra } } }"
    body = answers.all_three(setup[1]["admin"], query, {})
    extra = next(n["extra"] for n in body["data"]["gadgets"]["nodes"] if n["label"] == "plain")
    assert extra == {"a": 2, "big": 123456789012345678901234567890}  # every digit kept


def test_floats_far_from_one_keep_every_digit(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]], answers: Answers, db: Database
) -> None:
    # SQLite's printf rounds some of these wrong: the one statement must stand aside for them.
    values = {"plain": 1.7976931348623157e308, "negative": -1.1545580616824966e232}
    with db.write() as conn:
        for label, value in values.items():
            conn.execute(
                sa.text("UPDATE e_gadget SET ratio = :value WHERE label = :label"),
                {"value": value, "label": label},
            )
    query = "{ gadgets(first: 30, orderBy: [{label: ASC}]) { nodes { label ratio } } }"
    body = answers.all_three(setup[1]["admin"], query, {})
    got = {n["label"]: n["ratio"] for n in body["data"]["gadgets"]["nodes"]}
    assert {label: got[label] for label in values} == values


def test_a_statement_the_database_refuses_leaves_the_per_level_path_to_answer(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]],
    answers: Answers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Relations nested this deep exceed what SQLite's parser accepts in one statement.
    query = """{ customers(first: 2, orderBy: [{name: ASC}]) { nodes { name
                 contacts(first: 2) { nodes { fullName customer { name
                   contacts(first: 2) { nodes { fullName customer { name
                     contacts(first: 2) { nodes { fullName } } } } } } } } } } }"""
    standard: list[Any] = []
    counted = schema_module.execute_sync

    def counting(*args: Any, **kwargs: Any) -> Any:
        standard.append(args)
        return counted(*args, **kwargs)

    monkeypatch.setattr(schema_module, "execute_sync", counting)
    for _ in range(2):
        standard.clear()
        body = answers.all_three(setup[1]["admin"], query, {})
        assert "errors" not in body
        assert len(standard) == 1  # only the deliberate standard run: the fast path answered


def test_stored_text_that_spells_the_sentinel_is_answered_right(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]], answers: Answers, db: Database
) -> None:
    store(db, "label", "\x01xrm:unsupported")
    body = answers.all_three(setup[1]["admin"], "{ gadgets(first: 30) { nodes { label } } }", {})
    assert "\x01xrm:unsupported" in [n["label"] for n in body["data"]["gadgets"]["nodes"]]
    assert answers.answered == 0  # the ordinary way answered: slower, never wrong


def test_statements_are_reused_only_for_the_same_request_and_caller(
    setup: tuple[TestClient, dict[str, str], dict[str, Any]],
    answers: Answers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _client, tokens, _made = setup
    built: list[Any] = []
    real = json_plan._shape

    def counting(*args: Any) -> Any:
        built.append(args)
        return real(*args)

    monkeypatch.setattr(json_plan, "_shape", counting)
    query = """query($n: Int) { customers(first: $n, orderBy: [{name: DESC}]) {
                 nodes { name gadgets { nodes { label } } } } }"""
    seen = {}
    for _ in range(2):
        for who in ("admin", "limited"):
            for n in (1, 3):
                body = answers.all_three(tokens[who], query, {"n": n})
                assert answers.answered == 1
                seen.setdefault((who, n), body)
                assert seen[(who, n)] == body
    assert len(built) == 4  # one per caller and variables, then reused
    assert seen[("admin", 3)] != seen[("limited", 3)]
    assert len(seen[("admin", 1)]["data"]["customers"]["nodes"]) == 1
