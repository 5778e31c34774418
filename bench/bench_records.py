"""The record service against its floor: bulk create, and one page of a large table.

1. Bulk create: ``--bulk`` customer records (name, email under a unique index,
   phone, tier, decimal revenue, date, tags, a reference to a partner, ...)
   through ``RecordSession.create_many`` in chunks of ``--chunk``, one session
   (transaction) per chunk, against the floor: a plain SQLAlchemy executemany
   (``conn.execute(table.insert(), rows)``) of the same values, already
   normalised and with their system columns, one transaction per chunk, into
   the same table. Floor and service chunks alternate so both see the same
   table size. Target: the service at most 5x slower.
2. Page query: the table is filled to ``--rows`` rows through the floor path,
   then one page of 50 gold customers ordered by name (the first page, and a
   deep page after a cursor) is read through ``RecordSession.query`` and
   through hand-written SQL with ``LIMIT 51`` (the floor), each in its own
   read transaction; the median latency and the ratio (target: at most 2x).
   Both run twice on the same tables: with the indexes every customer table
   has (none covers tier or name), then with ``x-xrm.indexes: [["tier",
   "name"]]`` declared in the definition (an index on (tier, name, id); text
   columns are ``COLLATE "C"`` on PostgreSQL, the order the service sorts by).
3. Page query with its relations: each page case again, "+ relations", also
   loading for the 50 customers their partner and their contacts (the inverse
   of contact.customer) in the same read transaction, as the GraphQL API does:
   ``RecordSession.fetch("partner", ids)`` and ``RecordSession.children(
   "customer", "contacts", ids)`` (each customer's first 50 contacts by id,
   cut with a window function). The floor adds ``SELECT ... FROM e_partner
   WHERE id IN (...)`` and ``SELECT ... FROM e_contact WHERE customer_id IN
   (...) ORDER BY customer_id, id``: every customer has 0 to 4 contacts (2 on
   average, filled through the floor path after the customers), so all of
   them are its first page. Rows become dicts both ways. Target: at most 2x.

The floor orders ``name, id`` without ``NULLS LAST`` (name is required, so the
data hold no nulls) and seeks with a row value ``(name, id) > (?, ?)``: what a
careful hand-written query for the same page looks like. The query plans of
both are printed, and those of the contacts query. Both ways are checked to
return the same customers, totals, partners and contacts before any timing.

    python bench/bench_records.py [--db URL] [--schema NAME] [--rows 1000000]
        [--bulk 100000] [--chunk 5000] [--runs 15] [--profile]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import datetime as dt
import io
import math
import pstats
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import partial
from typing import Any

import sqlalchemy as sa
from bench_graphql import bench_database, catalog_platform, drop_bench_database, median_seconds

from xrm.entities.catalog import definitions
from xrm.entities.records import RecordService
from xrm.platform.db import Database
from xrm.platform.identity import Actor
from xrm.platform.ids import new_id
from xrm.platform.settings import Settings

PARTNERS = 200
PAGE = 50
TIERS = ("standard", "gold", "vip")
INDUSTRIES = ("manufacturing", "retail", "finance", "healthcare", "technology", "logistics")
FILTER = {"tier": {"eq": "gold"}}
ORDER = [{"name": "ASC"}]
WIDTH = 56  # of the case column


class Names:
    """Row ``i`` of ``n`` gets a unique name whose order has nothing to do with ``i``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.step = next(s for s in range(7919, n + 7920) if math.gcd(s, n) == 1)

    def __call__(self, i: int) -> str:
        return f"Customer {(i * self.step + 12345) % self.n:08d}"


def tier(i: int) -> str:
    """About 10% gold, 5% vip, the rest standard."""
    return "gold" if i % 10 == 3 else "vip" if i % 20 == 7 else "standard"


def customer_input(i: int, names: Names, partners: list[str]) -> dict[str, Any]:
    """Customer ``i`` as an import hands it to the service: JSON values."""
    return {
        "name": names(i),
        "email": f"customer{i}@example.com",
        "phone": f"+8210{2000_0000 + i % 7000_0000:08d}",
        "tier": tier(i),
        "revenue": f"{i % 100_000}.50",
        "since": f"20{10 + i % 15:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "tags": ["bench", f"t{i % 7}"],
        "partner": partners[i % len(partners)],
        "industry": INDUSTRIES[i % len(INDUSTRIES)],
        "website": f"https://c{i}.example.com",
        "country": "KR",
        "employee_count": i % 5000,
    }


def system_columns(actor: str, now: dt.datetime) -> dict[str, Any]:
    """The columns the service sets on every new row."""
    return {
        "id": new_id(),
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "created_by": actor,
        "updated_by": actor,
        "owner_id": actor,
    }


def customer_row(
    i: int, names: Names, partners: list[str], actor: str, now: dt.datetime
) -> dict[str, Any]:
    """The same customer as the row the service stores: normalised values, system columns."""
    return {
        **system_columns(actor, now),
        "name": names(i),
        "email": f"customer{i}@example.com",
        "phone": f"+8210{2000_0000 + i % 7000_0000:08d}",
        "tier": tier(i),
        "revenue": Decimal(f"{i % 100_000}.50"),
        "since": dt.date(2010 + i % 15, 1 + i % 12, 1 + i % 28),
        "tags": ["bench", f"t{i % 7}"],
        "partner_id": partners[i % len(partners)],
        "industry": INDUSTRIES[i % len(INDUSTRIES)],
        "website": f"https://c{i}.example.com",
        "country": "KR",
        "address": None,
        "employee_count": i % 5000,
        "notes": None,
    }


@contextmanager
def captured(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """The statements (and parameters) that reach the driver inside the block."""
    seen: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    sa.event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before)


def plan(db: Database, fn: Callable[[], Any], marker: str = "LIMIT") -> str:
    """The query plan of the last statement ``fn`` runs that holds ``marker`` (the page query)."""
    with captured(db) as seen:
        fn()
    statement, params = next((s, p) for s, p in reversed(seen) if marker in s)
    with db.read() as conn:
        if db.is_sqlite:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
            return "; ".join(str(r[-1]) for r in rows)
        rows = conn.exec_driver_sql(f"EXPLAIN (COSTS OFF) {statement}", params).all()
        text = " / ".join(" ".join(str(r[0]).split()) for r in rows)
        return re.sub(r"'\{[^}]*\}'", "'{...}'", text)  # the ids of an IN list


def bulk(
    db: Database,
    service: RecordService,
    admin: Actor,
    table: sa.Table,
    names: Names,
    partners: list[str],
    count: int,
    chunk: int,
) -> tuple[float, float]:
    """Seconds for ``count`` rows through the floor and through create_many."""
    floor_s = service_s = 0.0
    first_record: dict[str, Any] | None = None
    for start in range(0, count, chunk):
        stop = min(start + chunk, count)
        # The floor takes rows [count, 2 * count), the service rows [0, count).
        rows = [
            customer_row(count + i, names, partners, str(admin.id), dt.datetime.now(dt.UTC))
            for i in range(start, stop)
        ]
        started = time.perf_counter()
        with db.write() as conn:
            conn.execute(table.insert(), rows)
        floor_s += time.perf_counter() - started

        inputs = [customer_input(i, names, partners) for i in range(start, stop)]
        started = time.perf_counter()
        with service.session(admin, channel="import") as s:
            records = s.create_many("customer", inputs)
        service_s += time.perf_counter() - started
        first_record = first_record or records[0]
    # The floor stores exactly what the service does.
    assert first_record is not None
    expected = customer_row(0, names, partners, str(admin.id), dt.datetime.now(dt.UTC))
    for key, value in first_record.items():
        column = "partner_id" if key == "partner" else key
        if column in expected and column not in (
            "id",
            "created_at",
            "updated_at",
        ):
            assert expected[column] == value, (key, expected[column], value)
    return floor_s, service_s


def fill(
    db: Database,
    table: sa.Table,
    names: Names,
    partners: list[str],
    actor: str,
    start: int,
    stop: int,
) -> None:
    """Rows [start, stop) through the floor path, 20 000 per transaction."""
    now = dt.datetime.now(dt.UTC)
    for low in range(start, stop, 20_000):
        rows = [
            customer_row(i, names, partners, actor, now)
            for i in range(low, min(low + 20_000, stop))
        ]
        with db.write() as conn:
            conn.execute(table.insert(), rows)


def contact_row(k: int, n: int, customer: str, actor: str, now: dt.datetime) -> dict[str, Any]:
    """Contact ``n`` of the ``k``-th customer, as the row the service stores."""
    return {
        **system_columns(actor, now),
        "full_name": f"Contact {k}-{n}",
        "first_name": None,
        "last_name": None,
        "email": f"contact{k}.{n}@example.com",
        "phone": f"+8210{3000_0000 + k % 6000_0000:08d}",
        "mobile": None,
        "job_title": "Buyer",
        "department": None,
        "customer_id": customer,
        "is_primary": n == 0,
        "language": "ko",
        "notes": None,
    }


def fill_contacts(db: Database, customers: sa.Table, contacts: sa.Table, actor: str) -> int:
    """``k % 5`` contacts (2 on average) for the ``k``-th customer by id, through the floor path."""
    now = dt.datetime.now(dt.UTC)
    k = count = 0
    last: str | None = None
    while True:
        with db.write() as conn:
            query = sa.select(customers.c.id).order_by(customers.c.id).limit(8_000)
            if last is not None:
                query = query.where(customers.c.id > last)
            ids = conn.execute(query).scalars().all()
            if not ids:
                return count
            rows = [
                contact_row(k + j, n, customer, actor, now)
                for j, customer in enumerate(ids)
                for n in range((k + j) % 5)
            ]
            conn.execute(contacts.insert(), rows)
        k, count, last = k + len(ids), count + len(rows), ids[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--schema", help="PostgreSQL schema to create, use and drop")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for the page query")
    parser.add_argument("--bulk", type=int, default=100_000, help="records to create each way")
    parser.add_argument("--chunk", type=int, default=5_000, help="records per create_many call")
    parser.add_argument("--runs", type=int, default=15, help="runs per latency median")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one extra create_many call at the end"
    )
    args = parser.parse_args()
    folder, url, admin_engine = bench_database(args.db, args.schema)
    settings = Settings(database_url=url, database_schema=args.schema)
    db = Database(settings)

    def say(text: str = "") -> None:
        print(text, flush=True)

    try:
        db, registry, service, admin = catalog_platform(settings, db)
        with service.session(admin, channel="import") as s:
            partners = [
                p["id"]
                for p in s.create_many(
                    "partner", [{"name": f"Partner {i}"} for i in range(PARTNERS)]
                )
            ]
            table = s.catalog.tables["customer"]
            contact_table = s.catalog.tables["contact"]
            partner_table = s.catalog.tables["partner"]
        total = max(args.rows, 2 * args.bulk)
        names = Names(total)
        say(f"database: {db.dialect}")

        # 1. Bulk create.
        floor_s, service_s = bulk(db, service, admin, table, names, partners, args.bulk, args.chunk)
        say(
            f"bulk create: {args.bulk} customer records each way, {args.chunk} per call, "
            "one transaction per call"
        )
        say(f"{'case':<{WIDTH}}{'records/s':>12}{'ratio':>8}{'target':>8}")
        say(
            f"{'floor: executemany of prepared rows':<{WIDTH}}{args.bulk / floor_s:>12.0f}{1:>8.1f}"
        )
        ratio = service_s / floor_s
        say(
            f"{'RecordSession.create_many (+ audit rows)':<{WIDTH}}"
            f"{args.bulk / service_s:>12.0f}{ratio:>8.1f}{'<= 5':>8}"
        )

        # 2. Page query on a large table.
        started = time.perf_counter()
        fill(db, table, names, partners, str(admin.id), 2 * args.bulk, total)
        filled = time.perf_counter()
        contacts = fill_contacts(db, table, contact_table, str(admin.id))
        filled = time.perf_counter() - filled
        with db.write() as conn:
            conn.exec_driver_sql("ANALYZE")
            count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            gold = conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.tier == "gold")
            ).scalar_one()
        say()
        say(
            f"page query: {count} customer rows ({gold} gold), filter tier = gold, "
            f"order by name; pages of {PAGE}; {contacts} contacts (0 to 4 for every customer) "
            f"(filled in {time.perf_counter() - started:.0f}s, the contacts in {filled:.0f}s)"
        )
        collate = ' COLLATE "C"' if db.dialect == "postgresql" else ""

        def select_sql(sql: str, of: sa.Table) -> Any:
            """``sql`` after ``SELECT <every column of of>``, typed as ``of``'s columns."""
            select_list = ", ".join(f'"{c.name}"' for c in of.columns)
            text = sa.text(f"SELECT {select_list} {sql}")
            if ":ids" in sql:
                text = text.bindparams(sa.bindparam("ids", expanding=True, type_=of.c.id.type))
            return text.columns(*of.columns)

        first_sql = select_sql(
            f"FROM e_customer WHERE tier = :tier ORDER BY name{collate}, id LIMIT {PAGE + 1}", table
        )
        after_sql = select_sql(
            f"FROM e_customer WHERE tier = :tier AND (name{collate}, id) > (:name, :id) "
            f"ORDER BY name{collate}, id LIMIT {PAGE + 1}",
            table,
        )
        count_sql = sa.text("SELECT count(*) FROM e_customer WHERE tier = :tier")
        # Each customer has at most 4 contacts: all of them are its first page (of 50, by id).
        partner_sql = select_sql("FROM e_partner WHERE id IN :ids", partner_table)
        contact_sql = select_sql(
            "FROM e_contact WHERE customer_id IN :ids ORDER BY customer_id, id", contact_table
        )
        depth = min(gold // 2, 50_000)
        with db.read() as conn:
            deep = conn.execute(
                sa.text(
                    f"SELECT name, id FROM e_customer WHERE tier = 'gold' "
                    f"ORDER BY name{collate}, id LIMIT 1 OFFSET {depth - 1}"
                )
            ).one()
        with service.session(admin, write=False) as s:
            cursor = s.query(
                "customer",
                filter={"tier": {"eq": "gold"}, "name": {"eq": deep.name}},
                order_by=ORDER,
                first=1,
                with_total=False,
            ).cursor(0)

        def rows_of(result: Any, of: sa.Table) -> list[dict[str, Any]]:
            keys = [c.name for c in of.columns]
            return [dict(zip(keys, r, strict=True)) for r in result]

        def floor_page(deep_page: bool, with_total: bool, relations: bool) -> tuple[Any, ...]:
            """The page, its total, partners by id, contacts by customer: one transaction."""
            sql, seek = (
                (after_sql, {"name": deep.name, "id": deep.id}) if deep_page else (first_sql, {})
            )
            total = None
            partners: dict[str, dict[str, Any]] = {}
            contacts: dict[str, list[dict[str, Any]]] = defaultdict(list)
            with db.read() as conn:
                page = rows_of(conn.execute(sql, {"tier": "gold", **seek}).all()[:PAGE], table)
                if with_total:
                    total = conn.execute(count_sql, {"tier": "gold"}).scalar_one()
                if relations:
                    ids = sorted({r["partner_id"] for r in page if r["partner_id"]})
                    for r in rows_of(conn.execute(partner_sql, {"ids": ids}), partner_table):
                        partners[r["id"]] = r
                    ids = [r["id"] for r in page]
                    for r in rows_of(conn.execute(contact_sql, {"ids": ids}), contact_table):
                        contacts[r["customer_id"]].append(r)
            return page, total, partners, contacts

        def service_page(deep_page: bool, with_total: bool, relations: bool) -> tuple[Any, ...]:
            """The same through the record service, as the API loads it: one read session."""
            with service.session(admin, write=False) as s:
                page = s.query(
                    "customer",
                    filter=FILTER,
                    order_by=ORDER,
                    first=PAGE,
                    after=cursor if deep_page else None,
                    with_total=with_total,
                )
                if not relations:
                    return page, {}, {}
                partners = s.fetch("partner", [r["partner"] for r in page.items])
                contacts = s.children("customer", "contacts", [r["id"] for r in page.items])
            return page, partners, contacts

        kinds = [
            ("first page", False, False),
            (f"page after row {depth}", True, False),
            ("first page + totalCount", False, True),
        ]
        cases = [
            (label + (" + relations" if relations else ""), (deep_page, with_total, relations))
            for label, deep_page, with_total in kinds
            for relations in (False, True)
        ]
        # Same pages both ways: customers, total, partners, contacts of each customer.
        for label, flags in cases:
            page, total, partners_found, contacts_found = floor_page(*flags)
            records, partner_records, contact_pages = service_page(*flags)
            ids = [r["id"] for r in page]
            assert ids == [r["id"] for r in records.items], label
            assert total == records.total_count == (gold if flags[1] else None), label
            assert sorted(partners_found) == sorted(partner_records), label
            if flags[2]:
                assert [[r["id"] for r in contacts_found[i]] for i in ids] == [
                    [r["id"] for r in contact_pages[i].items] for i in ids
                ], label
                assert not any(contact_pages[i].has_next_page for i in ids), label
                say(
                    f"{label}: {len(ids)} customers, {len(partners_found)} partners, "
                    f"{sum(len(c) for c in contacts_found.values())} contacts"
                )

        for phase in ("platform", "declared"):
            if phase == "platform":
                for of in (table, partner_table, contact_table):
                    indexes = ", ".join(
                        f"{i.name} ({', '.join(c.name for c in i.columns)})"
                        for i in sorted(of.indexes, key=lambda i: str(i.name))
                    )
                    say(f"indexes on {of.name}: primary key (id), {indexes}")
                say("tier and name are NOT indexed; e_contact.customer_id is")
            else:
                # The index an admin would declare for this list: x-xrm.indexes.
                customer = next(
                    d for d in definitions() if d.get("x-xrm", {}).get("name") == "customer"
                )
                indexed = copy.deepcopy(customer)
                indexed["x-xrm"]["indexes"] = [["tier", "name"]]
                built = time.perf_counter()
                registry.apply([indexed])
                with db.write() as conn:
                    conn.exec_driver_sql("ANALYZE")
                say(
                    'with x-xrm.indexes [["tier", "name"]] declared (index (tier, name, id), '
                    f"built by registry.apply in {time.perf_counter() - built:.1f}s)"
                )
            say(f"{'case':<{WIDTH}}{'median':>10}{'ratio':>8}{'target':>8}")
            for label, flags in cases:
                floor_m = median_seconds(partial(floor_page, *flags), args.runs)
                service_m = median_seconds(partial(service_page, *flags), args.runs)
                target = "" if "total" in label else "<= 2"
                say(f"{'floor: ' + label:<{WIDTH}}{floor_m * 1000:>8.2f}ms{1:>8.1f}")
                say(
                    f"{'RecordSession: ' + label:<{WIDTH}}{service_m * 1000:>8.2f}ms"
                    f"{service_m / floor_m:>8.1f}{target:>8}"
                )
            first, deep_page = (False, False, False), (True, False, False)
            say(f"  plan, floor first page:   {plan(db, partial(floor_page, *first))}")
            say(f"  plan, service first page: {plan(db, partial(service_page, *first))}")
            say(f"  plan, floor deep page:    {plan(db, partial(floor_page, *deep_page))}")
            say(f"  plan, service deep page:  {plan(db, partial(service_page, *deep_page))}")
            if phase == "platform":
                related = (False, False, True)
                floor_contacts = plan(db, partial(floor_page, *related), "e_contact")
                say(f"  plan, floor contacts:     {floor_contacts}")
                service_contacts = plan(db, partial(service_page, *related), "e_contact")
                say(f"  plan, service contacts:   {service_contacts}")

        if args.profile:
            # One more chunk, outside every measurement (the profiler slows what it watches).
            inputs = [customer_input(i, names, partners) for i in range(total, total + args.chunk)]
            profiler = cProfile.Profile()
            profiler.enable()
            with service.session(admin, channel="import") as s:
                s.create_many("customer", inputs)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(25)
            say()
            say(f"cProfile of one create_many call of {args.chunk} records:")
            say(out.getvalue())
    finally:
        db.dispose()
        drop_bench_database(folder, admin_engine, args.schema)


if __name__ == "__main__":
    main()
