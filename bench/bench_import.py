"""``xrm import`` of a generated customer CSV against its floor, a plain ``executemany``.

The file (``--rows`` customers, 50,000 by default) is written the way real
spreadsheets are: e-mails with stray capitals and spaces, Korean phone numbers
in three spellings, tiers by their Korean label, revenues with thousands
separators, dates as ``2024. 3. 5.``. Two timings:

1. floor: the same rows, already normalised, inserted with one ``executemany``
   per 1,000 rows in one transaction (ids and system columns included);
2. import: reading the file, mapping its Korean headers, converting and
   validating every value, normalising phones and e-mails, audit rows, batches
   of ``XRM_IMPORT_BATCH_SIZE`` with their progress, through the record service
   (no key), and again with ``--key email`` over the stored records (every row
   matched, nothing changed);
3. the duplicate check: with two rules on customers (``same phone``, exact; and
   ``similar name``, the name at least 90% alike and the same phone), a tenth
   of the file's phones already stored (under other e-mails), the import again
   with ``--duplicates flag`` (every row written, a tenth flagged), ``skip`` (a
   tenth rejected) and ``merge`` (a tenth merged into the stored records).

Prints seconds, rows per second and the ratio to the floor (issue 13's target:
at most 8x).

    python bench/bench_import.py [--db URL] [--schema NAME] [--rows 50000]
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime as dt
import io
import time

import sqlalchemy as sa
from bench_graphql import bench_database, catalog_platform, drop_bench_database

from xrm.entities.catalog import definitions
from xrm.entities.imports.run import Importer, Options
from xrm.platform.ids import new_id
from xrm.platform.settings import Settings

HEADERS = ["고객명", "이메일", "전화번호", "등급", "연 매출", "거래 시작일"]
TIERS = [("일반", "standard"), ("골드", "gold"), ("VIP", "vip")]
RULES = [
    {"name": "same phone", "match": [{"field": "phone"}], "action": "warn"},
    {
        "name": "similar name",
        "match": [{"field": "phone"}, {"field": "name", "fuzzy": 0.9}],
        "action": "warn",
    },
]


def generated(rows: int) -> tuple[bytes, list[dict[str, object]]]:
    """The CSV as people write it, and the same rows as the database stores them."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    stored = []
    for n in range(rows):
        local = f"{2000 + n % 3000:04d}{n // 3000:04d}"  # 010-2000 to 010-4999: all valid
        phone = [f"010-{local[:4]}-{local[4:]}", f"+82 10 {local[:4]} {local[4:]}", f"010{local}"][
            n % 3
        ]
        label, tier = TIERS[n % 3]
        since = dt.date(2020 + n % 5, 1 + n % 12, 1 + n % 28)
        writer.writerow(
            [
                f"Customer {n}",
                f"  Lead{n}@Example.COM ",
                phone,
                label,
                f"{n * 1000:,}.50",
                f"{since.year}. {since.month}. {since.day}.",
            ]
        )
        stored.append(
            {
                "name": f"Customer {n}",
                "email": f"lead{n}@example.com",
                "phone": f"+8210{local}",
                "tier": tier,
                "revenue": f"{n * 1000}.50",
                "since": since,
                "country": "KR",
            }
        )
    return out.getvalue().encode("utf-8-sig"), stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--schema", help="PostgreSQL schema to create, use and drop")
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    folder, url, admin_engine = bench_database(args.db, args.schema)
    settings = Settings(database_url=url, database_schema=args.schema)
    try:
        db, _registry, service, admin = catalog_platform(settings)
        data, stored = generated(args.rows)
        table = service.registry.current().tables["customer"]
        now = dt.datetime.now(dt.UTC)
        system = {
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "created_by": admin.id,
            "updated_by": admin.id,
            "owner_id": admin.id,
        }
        started = time.perf_counter()
        with db.write() as conn:
            for start in range(0, len(stored), 1000):
                conn.execute(
                    table.insert(),
                    [{"id": new_id(), **system, **r} for r in stored[start : start + 1000]],
                )
        floor = time.perf_counter() - started
        with db.write() as conn:
            conn.execute(table.delete())

        importer = Importer(service, admin)
        started = time.perf_counter()
        outcome = importer.run(importer.prepare("bench.csv", data, Options("customer")))
        took = time.perf_counter() - started
        assert (outcome.created, outcome.rejected) == (args.rows, 0), outcome.rejects[:3]

        started = time.perf_counter()
        again = importer.run(importer.prepare("bench.csv", data, Options("customer", key="email")))
        keyed = time.perf_counter() - started
        assert again.unchanged == args.rows, (again.created, again.updated, again.rejects[:3])
        with db.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == (
                args.rows
            )

        found = copy.deepcopy(definitions())
        customer = next(d for d in found if d["x-xrm"]["name"] == "customer")
        customer["x-xrm"]["duplicates"] = RULES
        _registry.apply(found)
        table = service.registry.current().tables["customer"]
        tenth = [
            {"id": new_id(), **system, **r, "email": f"old{n}@example.com"}
            for n, r in enumerate(stored[: args.rows // 10])
        ]
        checked: dict[str, float] = {}
        for mode in ("flag", "skip", "merge"):
            with db.write() as conn:
                conn.execute(table.delete())
                for start in range(0, len(tenth), 1000):
                    conn.execute(table.insert(), tenth[start : start + 1000])
            started = time.perf_counter()
            done = importer.run(
                importer.prepare("bench.csv", data, Options("customer", **{"duplicates": mode}))
            )
            checked[mode] = time.perf_counter() - started
            expected = {
                "flag": (args.rows, 0, len(tenth)),
                "skip": (args.rows - len(tenth), len(tenth), 0),
                "merge": (args.rows - len(tenth), 0, len(tenth)),
            }[mode]
            assert (done.created, done.rejected, len(done.flags)) == expected, (
                mode,
                done.created,
                done.rejected,
                len(done.flags),
                done.rejects[:3],
            )

        print(f"rows: {args.rows} customers, database {db.engine.dialect.name}")
        print(f"floor (executemany)     {floor:8.2f} s  {args.rows / floor:9.0f} rows/s")
        print(
            f"xrm import              {took:8.2f} s  {args.rows / took:9.0f} rows/s  "
            f"{took / floor:5.1f}x the floor (target at most 8x)"
        )
        print(
            f"xrm import --key email  {keyed:8.2f} s  {args.rows / keyed:9.0f} rows/s  "
            f"{keyed / floor:5.1f}x the floor (every row matched, nothing changed)"
        )
        for mode, spent in checked.items():
            print(
                f"--duplicates {mode:<10} {spent:8.2f} s  {args.rows / spent:9.0f} rows/s  "
                f"{spent / floor:5.1f}x the floor (2 rules, a tenth of the rows duplicates)"
            )
    finally:
        drop_bench_database(folder, admin_engine, args.schema)


if __name__ == "__main__":
    main()
