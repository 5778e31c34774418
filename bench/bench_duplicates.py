"""Duplicate detection against its floor, on a table of 100 000 customers.

The built-in customer type gets three rules (an exact e-mail, a fuzzy name
blocked on its first two characters, a fuzzy name with an exact phone); the
table is filled through plain inserts with Korean company-style names, one
row in 20 being a respelling of an earlier one (a changed character, the same
phone). Then:

1. the check one create pays (``find_duplicates`` for one new record, all
   three rules) against its floor: one indexed ``SELECT`` by e-mail, the least
   a duplicate check can cost;
2. the scan of the whole table (``find_pairs`` plus storing the pairs: what
   ``xrm duplicates scan`` does) against its floor: reading the rules'
   columns of every row once (target: under 30 s on this machine).

    python bench/bench_duplicates.py [--db URL] [--schema NAME] [--rows 100000] [--runs 25]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from typing import Any

import sqlalchemy as sa
from bench_graphql import bench_database, catalog_platform, drop_bench_database, median_seconds
from bench_records import system_columns

from xrm.entities.catalog import definitions
from xrm.entities.duplicate_scan import find_pairs, scan
from xrm.platform.settings import Settings

RULES = [
    {"name": "same email", "match": [{"field": "email"}], "action": "warn"},
    {"name": "similar name", "match": [{"field": "name", "fuzzy": 0.92}], "action": "warn"},
    {
        "name": "similar name, same phone",
        "match": [{"field": "name", "fuzzy": 0.8}, {"field": "phone"}],
        "action": "warn",
    },
]
FIRST = "한국대성동서남북신세계현대삼성금호두산효성코오롱동아태평양일진대림"
SECOND = "전자물산상사건설화학제약식품기계산업정보통신에너지"
KINDS = ("주식회사", "(주)", "유한회사", "")


def with_rules() -> list[dict[str, Any]]:
    """The built-in catalog, its customer type carrying ``RULES``."""
    out = []
    for definition in definitions():
        if definition.get("x-xrm", {}).get("name") == "customer":
            definition = {**definition, "x-xrm": {**definition["x-xrm"], "duplicates": RULES}}
        out.append(definition)
    return out


def name(rng: random.Random) -> str:
    word = "".join(rng.choice(FIRST) for _ in range(rng.randint(2, 3)))
    trade = "".join(rng.choice(SECOND) for _ in range(2))
    return f"{word}{trade} {rng.choice(KINDS)}".strip()


def respelled(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text))
    return text[:i] + rng.choice(FIRST) + text[i + 1 :]


def rows(n: int, actor: str) -> list[dict[str, Any]]:
    rng = random.Random(13)
    now = dt.datetime.now(dt.UTC)
    out: list[dict[str, Any]] = []
    for i in range(n):
        if i % 20 == 19:
            original = out[rng.randrange(len(out))]
            values = {"name": respelled(original["name"], rng), "phone": original["phone"]}
        else:
            values = {"name": name(rng), "phone": f"+8210{2000_0000 + i:08d}"}
        out.append(
            {
                **system_columns(actor, now),
                **values,
                "email": f"customer{i}@example.com",
                "tier": "standard",
                "country": "KR",
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--schema", help="PostgreSQL schema to create, use and drop")
    parser.add_argument("--rows", type=int, default=100_000, help="customers in the table")
    parser.add_argument("--runs", type=int, default=25, help="runs per latency median")
    args = parser.parse_args()
    folder, url, admin_engine = bench_database(args.db, args.schema)
    settings = Settings(database_url=url, database_schema=args.schema)
    try:
        db, registry, service, admin = catalog_platform(settings)
        registry.apply(with_rules())
        table = registry.current().tables["customer"]
        made = rows(args.rows, admin.id)
        for low in range(0, len(made), 20_000):
            with db.write() as conn:
                conn.execute(table.insert(), made[low : low + 20_000])
        probe = {"name": respelled(made[777]["name"], random.Random(1)), "phone": "010-2000-0777"}
        probe["email"] = " CUSTOMER777@example.com"

        def check() -> None:
            with service.session(admin, write=False) as session:
                assert session.find_duplicates("customer", probe)

        def check_floor() -> None:
            with db.read() as conn:
                conn.execute(
                    sa.select(table.c.id).where(table.c.email == "customer777@example.com")
                ).all()

        def read_floor() -> None:
            with db.read() as conn:
                conn.execute(
                    sa.select(table.c.id, table.c.name, table.c.email, table.c.phone)
                ).all()

        one, one_floor = median_seconds(check, args.runs), median_seconds(check_floor, args.runs)
        floor = median_seconds(read_floor, 3)
        started = time.perf_counter()
        with service.session(admin, "cli") as session:
            found = scan(session, "customer")
        took = time.perf_counter() - started
        with service.session(admin, write=False) as session:
            started = time.perf_counter()
            find_pairs(session, "customer")
            matching = time.perf_counter() - started
        print(f"customers: {args.rows:,} ({db.engine.dialect.name}); rules: {len(RULES)}")
        print(f"{'check one create (3 rules)':<34}{one * 1000:8.2f} ms")
        ratio = one / one_floor
        print(f"{'  floor: one indexed select':<34}{one_floor * 1000:8.2f} ms  {ratio:5.1f}x")
        print(f"{'scan (find + store pairs)':<34}{took:8.2f} s   pairs: {found:,}")
        print(f"{'  of which finding':<34}{matching:8.2f} s")
        print(f"{'  floor: read the columns once':<34}{floor:8.2f} s   {took / floor:5.1f}x")
    finally:
        drop_bench_database(folder, admin_engine, args.schema)


if __name__ == "__main__":
    main()
