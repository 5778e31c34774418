"""Queries: every comparison, code-point ordering, keyset pages, relation filters, aggregates.

The same assertions run on SQLite and PostgreSQL, so the two must agree.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from org import ORG

from xrm.entities.records import RecordService, RecordSession
from xrm.entities.registry import Registry
from xrm.errors import ValidationFailed
from xrm.platform.db import Database
from xrm.platform.identity import Actor

NAMES = ["b", "B", "a", "가", "Z", "é", "É", "aa", "a_b", "a%b", "中文", "Émile", "zeta"]


@pytest.fixture
def org(registry: Registry, service: RecordService, admin: Actor) -> dict[str, Any]:
    """Departments and employees with varied values (some null) for every comparison."""
    registry.apply(ORG)
    rng = random.Random(3)
    with service.session(admin) as s:
        depts = s.create_many(
            "department",
            [
                {"name": "Sales", "code": "SAL", "budget": "1000.50"},
                {"name": "영업2팀", "code": "KOR", "budget": "999.9"},
                {"name": "R&D", "code": "RND", "budget": None},
            ],
        )
        rows = []
        for i, name in enumerate(NAMES):
            rows.append(
                {
                    "name": name,
                    "level": [None, 1, 2, 3][i % 4],
                    "salary": [None, "10.5", "9.75", "100", "10.50"][i % 5],
                    "score": rng.choice([None, 0.5, 1.5, -2.0]),
                    "hired": [None, "2024-01-31", "2024-02-01", "2023-12-31"][i % 4],
                    "seen_at": [None, "2024-03-04T23:30:00Z", "2024-03-10T00:00:00+09:00"][i % 3],
                    "active": i % 2 == 0,
                    "status": ["new", "busy", "away"][i % 3],
                    "email": None if i % 5 == 0 else f"user{i}@example.org",
                    "department": depts[i % 3]["id"],
                }
            )
        emps = s.create_many("employee", rows)
        projects = s.create_many("project", [{"title": "Alpha"}, {"title": "Beta"}])
        s.link("assignments", emps[0]["id"], projects[0]["id"], {"role": "owner"})
        s.link("assignments", emps[1]["id"], projects[0]["id"], {"role": "member"})
        s.link("assignments", emps[1]["id"], projects[1]["id"], {"role": "member"})
    return {"service": service, "admin": admin, "depts": depts, "emps": emps, "projects": projects}


@contextmanager
def reading(org: dict[str, Any]) -> Iterator[RecordSession]:
    with org["service"].session(org["admin"], write=False) as s:
        yield s


def names(org: dict[str, Any], filter: dict[str, Any], **kw: Any) -> list[str]:
    with reading(org) as s:
        page = s.query("employee", filter=filter, first=500, **kw)
    return [r["name"] for r in page.items]


def expected(org: dict[str, Any], keep: Any) -> list[str]:
    return [e["name"] for e in sorted(org["emps"], key=lambda e: e["id"]) if keep(e)]


@pytest.mark.parametrize(
    ("filter", "keep"),
    [
        ({"level": {"eq": 2}}, lambda e: e["level"] == 2),
        ({"level": {"ne": 2}}, lambda e: e["level"] != 2),  # nulls included
        ({"level": {"in": [1, 3]}}, lambda e: e["level"] in (1, 3)),
        ({"level": {"notIn": [1, 3]}}, lambda e: e["level"] not in (1, 3)),
        ({"level": {"lt": 2}}, lambda e: e["level"] is not None and e["level"] < 2),
        ({"level": {"lte": 2}}, lambda e: e["level"] is not None and e["level"] <= 2),
        ({"level": {"gt": 2}}, lambda e: e["level"] is not None and e["level"] > 2),
        ({"level": {"gte": 2, "lt": 3}}, lambda e: e["level"] == 2),
        ({"level": {"between": [2, 3]}}, lambda e: e["level"] in (2, 3)),
        ({"level": {"isNull": True}}, lambda e: e["level"] is None),
        ({"level": {"isNull": False}}, lambda e: e["level"] is not None),
        ({"salary": {"gt": "10"}}, lambda e: e["salary"] is not None and e["salary"] > 10),
        ({"salary": {"eq": 10.5}}, lambda e: e["salary"] is not None and e["salary"] == 10.5),
        ({"salary": {"lt": 99.99}}, lambda e: e["salary"] is not None and e["salary"] < 99.99),
        ({"score": {"lt": 1}}, lambda e: e["score"] is not None and e["score"] < 1),
        (
            {"hired": {"gte": "2024-01-31"}},
            lambda e: e["hired"] and e["hired"].isoformat() >= "2024-01-31",
        ),
        (
            {"seen_at": {"lt": "2024-03-05T00:00:00+00:00"}},
            lambda e: (
                e["seen_at"] is not None and e["seen_at"] < dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
            ),
        ),
        ({"active": {"eq": False}}, lambda e: e["active"] is False),
        ({"status": {"in": ["busy", "away"]}}, lambda e: e["status"] in ("busy", "away")),
        ({"email": {"eq": " USER1@Example.org "}}, lambda e: e["email"] == "user1@example.org"),
        ({"name": {"contains": "A"}}, lambda e: "a" in e["name"].lower()),
        ({"name": {"startsWith": "é"}}, lambda e: e["name"].startswith("é")),  # no folding of É
        ({"name": {"contains": "%"}}, lambda e: "%" in e["name"]),
        ({"name": {"contains": "_"}}, lambda e: "_" in e["name"]),
        ({"name": {"startsWith": "가"}}, lambda e: e["name"].startswith("가")),
        (
            {"or": [{"level": {"eq": 1}}, {"not": {"status": {"ne": "away"}}}]},
            lambda e: e["level"] == 1 or e["status"] == "away",
        ),
        (
            {"and": [{"active": {"eq": True}}, {"level": {"gte": 2}}]},
            lambda e: e["active"] and e["level"] is not None and e["level"] >= 2,
        ),
    ],
)
def test_every_comparison_gives_the_python_answer(
    org: dict[str, Any], filter: dict[str, Any], keep: Any
) -> None:
    assert names(org, filter, order_by=[{"id": "ASC"}]) == expected(org, keep)


def test_contains_ignores_ascii_case_only(org: dict[str, Any]) -> None:
    assert sorted(names(org, {"name": {"contains": "A"}})) == ["a", "a%b", "a_b", "aa", "zeta"]
    assert names(org, {"name": {"eq": "b"}}) == ["b"]  # eq is exact
    assert sorted(names(org, {"name": {"startsWith": "É"}})) == ["É", "Émile"]


def test_text_orders_by_code_point_with_nulls_last(org: dict[str, Any]) -> None:
    ordered = names(org, {}, order_by=[{"name": "ASC"}])
    assert ordered == sorted(NAMES)
    assert names(org, {}, order_by=[{"name": "DESC"}]) == sorted(NAMES, reverse=True)
    by_level = names(org, {}, order_by=[{"level": "ASC"}, {"name": "DESC"}])
    levels = {e["name"]: e["level"] for e in org["emps"]}
    key = [(levels[n] is None, levels[n] or 0) for n in by_level]
    assert key == sorted(key)  # nulls last ascending
    desc = names(org, {}, order_by=[{"level": "DESC"}])
    assert levels[desc[0]] is None  # nulls first descending


def test_decimals_order_numerically(org: dict[str, Any]) -> None:
    with reading(org) as s:
        page = s.query(
            "employee", order_by=[{"salary": "ASC"}], filter={"salary": {"isNull": False}}
        )
    values = [r["salary"] for r in page.items]
    assert values == sorted(values)
    assert str(values[-1]) == "100"


@pytest.mark.parametrize(
    "order",
    [
        [{"name": "ASC"}],
        [{"level": "ASC"}, {"salary": "DESC"}],
        [{"hired": "DESC"}, {"status": "ASC"}],
        [{"seen_at": "ASC"}, {"active": "DESC"}, {"score": "ASC"}],
        # One field and the id: a row-value range, then the nulls (ascending).
        [{"salary": "ASC"}],
        [{"salary": "DESC"}],
        [{"hired": "ASC"}],
        [{"name": "DESC"}],
    ],
)
@pytest.mark.parametrize("size", [1, 3])
def test_keyset_pages_walk_every_record_once(
    org: dict[str, Any], order: list[Any], size: int
) -> None:
    with reading(org) as s:
        whole = [r["id"] for r in s.query("employee", order_by=order, first=500).items]
        walked: list[str] = []
        after = None
        while True:
            page = s.query("employee", order_by=order, first=size, after=after)
            assert page.total_count == len(NAMES)
            walked.extend(r["id"] for r in page.items)
            if not page.has_next_page:
                break
            after = page.end_cursor
    assert walked == whole
    assert len(set(walked)) == len(NAMES)


def test_a_foreign_or_forged_cursor_is_refused(org: dict[str, Any]) -> None:
    with reading(org) as s:
        page = s.query("employee", order_by=[{"name": "ASC"}], first=2)
        with pytest.raises(ValidationFailed) as caught:
            s.query("employee", order_by=[{"level": "ASC"}], after=page.end_cursor)
        assert caught.value.faults[0].field == "after"
        for forged in ("!!!", "eyJ4IjoxfQ", "W10"):
            with pytest.raises(ValidationFailed):
                s.query("employee", order_by=[{"name": "ASC"}], after=forged)


def test_relation_filters_to_one_some_and_none(org: dict[str, Any]) -> None:
    depts, emps, projects = org["depts"], org["emps"], org["projects"]
    in_sales = names(org, {"department": {"name": {"eq": "Sales"}}}, order_by=[{"id": "ASC"}])
    assert in_sales == expected(org, lambda e: e["department"] == depts[0]["id"])
    with reading(org) as s:
        with_a = s.query("department", filter={"employees": {"some": {"name": {"eq": "a"}}}})
        without = s.query("department", filter={"employees": {"none": {"level": {"eq": 1}}}})
        on_alpha = s.query("employee", filter={"projects": {"some": {"title": {"eq": "Alpha"}}}})
        members = s.query("project", filter={"members": {"some": {"name": {"eq": "B"}}}})
        nobody = s.query("project", filter={"members": {"none": {}}})
    owner_of_a = next(e for e in emps if e["name"] == "a")["department"]
    assert [d["id"] for d in with_a.items] == [owner_of_a]
    level_one_depts = {e["department"] for e in emps if e["level"] == 1}
    assert {d["id"] for d in without.items} == {d["id"] for d in depts} - level_one_depts
    assert sorted(e["name"] for e in on_alpha.items) == sorted([emps[0]["name"], emps[1]["name"]])
    assert {p["title"] for p in members.items} == {"Alpha", "Beta"}
    assert nobody.total_count == 0 and projects


INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE e_employee; --",
    '" OR ""="',
    "\\'; SELECT 1; --",
    "%' OR name LIKE '%",
    "1) OR (1=1",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_through_every_operator_finds_nothing_and_breaks_nothing(
    org: dict[str, Any], payload: str, db: Database, registry: Registry
) -> None:
    for op, value in [
        ("eq", payload),
        ("ne", payload),
        ("in", [payload]),
        ("notIn", [payload]),
        ("lt", payload),
        ("gte", payload),
        ("between", [payload, payload]),
        ("contains", payload),
        ("startsWith", payload),
    ]:
        found = names(org, {"name": {op: value}})
        python = {
            "eq": lambda n: n == payload,
            "ne": lambda n: n != payload,
            "in": lambda n: n == payload,
            "notIn": lambda n: n != payload,
            "lt": lambda n: n < payload,
            "gte": lambda n: n >= payload,
            "between": lambda n: n == payload,
            "contains": lambda n: payload.lower() in n.lower(),
            "startsWith": lambda n: n.lower().startswith(payload.lower()),
        }[op]
        assert sorted(found) == sorted(n for n in NAMES if python(n)), op
    for bad in ({payload: {"eq": 1}}, {"level": {payload: 1}}, {"level": {"eq": payload}}):
        with pytest.raises(ValidationFailed), reading(org) as s:
            s.query("employee", filter=bad)
    with pytest.raises(ValidationFailed), reading(org) as s:
        s.query("employee", order_by=[{payload: "ASC"}])
    with pytest.raises(ValidationFailed), reading(org) as s:
        s.query("employee", order_by=[{"name": payload}])
    table = registry.current().tables["employee"]
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == len(
            NAMES
        )


def test_bad_filters_name_the_field_and_the_problem(org: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as caught, reading(org) as s:
        s.query(
            "employee",
            filter={
                "nope": {"eq": 1},
                "level": {"eq": "x"},
                "active": {"lt": True},
                "tags": {"eq": "a"},
            },
        )
    assert {f.field for f in caught.value.faults} == {
        "filter.nope",
        "filter.level.eq",
        "filter.active.lt",
        "filter.tags.eq",
    }
    with pytest.raises(ValidationFailed) as caught, reading(org) as s:
        s.query("employee", first=501)
    assert caught.value.faults[0].field == "first"


def test_aggregates_with_groups_and_date_buckets(org: dict[str, Any]) -> None:
    emps = org["emps"]
    with reading(org) as s:
        overall = s.aggregate("employee")
        by_status = s.aggregate(
            "employee", group_by=["status"], filter={"level": {"isNull": False}}
        )
        by_month = s.aggregate("employee", group_by=["hired:month"])
        by_week = s.aggregate("employee", group_by=["seen_at:week"])
        by_year = s.aggregate("employee", group_by=["hired:year", "active"])
        by_day = s.aggregate("employee", group_by=["seen_at:day"])
    assert overall[0]["count"] == len(NAMES)
    salaries = [e["salary"] for e in emps if e["salary"] is not None]
    assert overall[0]["sum"]["salary"] == pytest.approx(float(sum(salaries)))
    assert overall[0]["max"]["salary"] == 100 and overall[0]["min"]["salary"] == 9.75
    levels = [e["level"] for e in emps if e["level"] is not None]
    assert overall[0]["avg"]["level"] == pytest.approx(sum(levels) / len(levels))
    assert overall[0]["sum"]["points"] is None  # no values
    statuses = {g["group"]["status"]: g["count"] for g in by_status}
    for status in ("new", "busy", "away"):
        assert statuses.get(status, 0) == sum(
            1 for e in emps if e["status"] == status and e["level"] is not None
        )
    months = {g["group"]["hired:month"]: g["count"] for g in by_month}
    assert months == {
        "2024-01-01": sum(1 for e in emps if e["hired"] == dt.date(2024, 1, 31)),
        "2024-02-01": sum(1 for e in emps if e["hired"] == dt.date(2024, 2, 1)),
        "2023-12-01": sum(1 for e in emps if e["hired"] == dt.date(2023, 12, 31)),
        None: sum(1 for e in emps if e["hired"] is None),
    }
    weeks = {g["group"]["seen_at:week"] for g in by_week}
    assert weeks == {"2024-03-04", None}  # Monday 4 March to Saturday 9 March: one week
    days = {g["group"]["seen_at:day"] for g in by_day}
    assert days == {"2024-03-04", "2024-03-09", None}  # +09:00 midnight is the 9th in UTC
    assert sum(g["count"] for g in by_year) == len(NAMES)
    with pytest.raises(ValidationFailed), reading(org) as s:
        s.aggregate("employee", group_by=["name:month"])
    with pytest.raises(ValidationFailed) as refused, reading(org) as s:
        s.aggregate("employee", group_by=["status", "status"])  # groups are keyed by name
    assert [f.field for f in refused.value.faults] == ["groupBy.1"]


def test_related_records_load_with_one_query_per_level(org: dict[str, Any], db: Database) -> None:
    statements: list[str] = []

    def count_statement(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(db.engine, "before_cursor_execute", count_statement)
    try:
        for size in (2, 13):
            statements.clear()
            with reading(org) as s:
                page = s.query("employee", first=size, with_total=False)
                depts = s.fetch("department", [e["department"] for e in page.items])
                s.children("department", "employees", list(depts), first=2, with_total=True)
                s.children("employee", "projects", [e["id"] for e in page.items])
            queries = [q for q in statements if q.lstrip().upper().startswith("SELECT")]
            # schema version, page, references, children + their totals, links
            assert len(queries) == 6, (size, queries)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count_statement)


def test_children_pages_are_cut_per_parent(org: dict[str, Any]) -> None:
    depts = org["depts"]
    with reading(org) as s:
        pages = s.children(
            "department",
            "employees",
            [d["id"] for d in depts],
            first=2,
            order_by=[{"name": "ASC"}],
            with_total=True,
        )
    for dept in depts:
        mine = sorted(e["name"] for e in org["emps"] if e["department"] == dept["id"])
        page = pages[dept["id"]]
        assert [e["name"] for e in page.items] == mine[:2]
        assert page.total_count == len(mine) and page.has_next_page is (len(mine) > 2)


def test_code_point_order_holds_whatever_the_database_collation(
    org: dict[str, Any], db: Database, engine_kind: str
) -> None:
    """A PostgreSQL database created with a linguistic collation must not change the order."""
    if engine_kind == "postgresql":
        with db.write() as conn:
            conn.exec_driver_sql(
                'ALTER TABLE e_employee ALTER COLUMN name TYPE text COLLATE "und-x-icu"'
            )
    assert names(org, {}, order_by=[{"name": "ASC"}]) == sorted(NAMES)
    assert names(org, {"name": {"gt": "Z"}}, order_by=[{"name": "ASC"}]) == sorted(
        n for n in NAMES if n > "Z"
    )
