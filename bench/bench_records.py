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

The floor orders ``name, id`` without ``NULLS LAST`` (name is required, so the
data hold no nulls) and seeks with a row value ``(name, id) > (?, ?)``: what a
careful hand-written query for the same page looks like. The query plans of
both are printed.

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
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from xrm.entities.catalog import definitions
from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import Actor, first_admin
from xrm.platform.ids import new_id
from xrm.platform.migrate import upgrade
from xrm.platform.settings import Settings

PARTNERS = 200
PAGE = 50
TIERS = ("standard", "gold", "vip")
INDUSTRIES = ("manufacturing", "retail", "finance", "healthcare", "technology", "logistics")
FILTER = {"tier": {"eq": "gold"}}
ORDER = [{"name": "ASC"}]


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


def customer_row(
    i: int, names: Names, partners: list[str], actor: str, now: dt.datetime
) -> dict[str, Any]:
    """The same customer as the row the service stores: normalised values, system columns."""
    return {
        "id": new_id(),
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "created_by": actor,
        "updated_by": actor,
        "owner_id": actor,
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


def median_seconds(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


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


def plan(db: Database, fn: Callable[[], Any]) -> str:
    """The query plan of the page query ``fn`` runs (the statement that has a LIMIT)."""
    with captured(db) as seen:
        fn()
    statement, params = next((s, p) for s, p in reversed(seen) if "LIMIT" in s.upper())
    with db.read() as conn:
        if db.is_sqlite:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
            return "; ".join(str(r[-1]) for r in rows)
        rows = conn.exec_driver_sql(f"EXPLAIN (COSTS OFF) {statement}", params).all()
        return " / ".join(" ".join(str(r[0]).split()) for r in rows)


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
            customer_row(count + i, names, partners, admin.id, dt.datetime.now(dt.UTC))
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
    expected = customer_row(0, names, partners, admin.id, dt.datetime.now(dt.UTC))
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
    folder = tempfile.mkdtemp(prefix="xrm-bench-")
    url = args.db or f"sqlite:///{folder}/bench.db"
    admin_engine = None
    if args.schema:
        admin_engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{args.schema}" CASCADE')
            conn.exec_driver_sql(f'CREATE SCHEMA "{args.schema}"')
    settings = Settings(database_url=url, database_schema=args.schema)
    db = Database(settings)

    def say(text: str = "") -> None:
        print(text, flush=True)

    try:
        upgrade(db)
        registry = Registry(db, settings)
        registry.apply(definitions())
        service = RecordService(db, registry, settings)
        with db.write() as conn:
            admin = first_admin(conn)
        with service.session(admin, channel="import") as s:
            partners = [
                p["id"]
                for p in s.create_many(
                    "partner", [{"name": f"Partner {i}"} for i in range(PARTNERS)]
                )
            ]
            table = s.catalog.tables["customer"]
        total = max(args.rows, 2 * args.bulk)
        names = Names(total)
        say(f"database: {db.dialect}")

        # 1. Bulk create.
        floor_s, service_s = bulk(db, service, admin, table, names, partners, args.bulk, args.chunk)
        say(
            f"bulk create: {args.bulk} customer records each way, {args.chunk} per call, "
            "one transaction per call"
        )
        say(f"{'case':<48}{'records/s':>12}{'ratio':>8}{'target':>8}")
        say(f"{'floor: executemany of prepared rows':<48}{args.bulk / floor_s:>12.0f}{1:>8.1f}")
        ratio = service_s / floor_s
        say(
            f"{'RecordSession.create_many (+ audit rows)':<48}"
            f"{args.bulk / service_s:>12.0f}{ratio:>8.1f}{'<= 5':>8}"
        )

        # 2. Page query on a large table.
        started = time.perf_counter()
        fill(db, table, names, partners, admin.id, 2 * args.bulk, total)
        with db.write() as conn:
            conn.exec_driver_sql("ANALYZE")
            count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            gold = conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.tier == "gold")
            ).scalar_one()
        say()
        say(
            f"page query: {count} customer rows ({gold} gold), filter tier = gold, "
            f"order by name; pages of {PAGE} (filled in {time.perf_counter() - started:.0f}s)"
        )
        columns = [c.name for c in table.columns]
        select_list = ", ".join(f'"{c}"' for c in columns)
        collate = ' COLLATE "C"' if db.dialect == "postgresql" else ""
        first_sql = sa.text(
            f"SELECT {select_list} FROM e_customer WHERE tier = :tier "
            f"ORDER BY name{collate}, id LIMIT {PAGE + 1}"
        ).columns(*table.columns)
        after_sql = sa.text(
            f"SELECT {select_list} FROM e_customer WHERE tier = :tier "
            f"AND (name{collate}, id) > (:name, :id) "
            f"ORDER BY name{collate}, id LIMIT {PAGE + 1}"
        ).columns(*table.columns)
        count_sql = sa.text("SELECT count(*) FROM e_customer WHERE tier = :tier")
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

        def floor_page(sql: Any, **params: Any) -> list[dict[str, Any]]:
            with db.read() as conn:
                rows = conn.execute(sql, {"tier": "gold", **params}).all()
            return [dict(zip(columns, r, strict=True)) for r in rows[:PAGE]]

        def floor_first() -> list[dict[str, Any]]:
            return floor_page(first_sql)

        def floor_deep() -> list[dict[str, Any]]:
            return floor_page(after_sql, name=deep.name, id=deep.id)

        def floor_total() -> tuple[list[dict[str, Any]], int]:
            page = floor_page(first_sql)
            with db.read() as conn:
                return page, conn.execute(count_sql, {"tier": "gold"}).scalar_one()

        def service_page(after: str | None = None, with_total: bool = False) -> Any:
            with service.session(admin, write=False) as s:
                return s.query(
                    "customer",
                    filter=FILTER,
                    order_by=ORDER,
                    first=PAGE,
                    after=after,
                    with_total=with_total,
                )

        cases: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
            ("first page", floor_first, service_page),
            (f"page after row {depth}", floor_deep, lambda: service_page(cursor)),
            ("first page + totalCount", floor_total, lambda: service_page(with_total=True)),
        ]
        # Same pages both ways.
        assert [r["id"] for r in floor_first()] == [r["id"] for r in service_page().items]
        assert [r["id"] for r in floor_deep()] == [r["id"] for r in service_page(cursor).items]
        assert floor_total()[1] == service_page(with_total=True).total_count == gold

        for phase in ("platform", "declared"):
            if phase == "platform":
                indexes = ", ".join(
                    f"{i.name} ({', '.join(c.name for c in i.columns)})"
                    for i in sorted(table.indexes, key=lambda i: str(i.name))
                )
                say(f"indexes: primary key (id), {indexes}: tier and name are NOT indexed")
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
            say(f"{'case':<48}{'median':>10}{'ratio':>8}{'target':>8}")
            for label, floor_fn, service_fn in cases:
                floor_m = median_seconds(floor_fn, args.runs)
                service_m = median_seconds(service_fn, args.runs)
                target = "" if "total" in label else "<= 2"
                say(f"{'floor: ' + label:<48}{floor_m * 1000:>8.2f}ms{1:>8.1f}")
                say(
                    f"{'RecordSession.query: ' + label:<48}{service_m * 1000:>8.2f}ms"
                    f"{service_m / floor_m:>8.1f}{target:>8}"
                )
            say(f"  plan, floor first page:   {plan(db, floor_first)}")
            say(f"  plan, service first page: {plan(db, service_page)}")
            say(f"  plan, floor deep page:    {plan(db, floor_deep)}")
            say(f"  plan, service deep page:  {plan(db, lambda: service_page(cursor))}")

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
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{args.schema}" CASCADE')
            admin_engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
